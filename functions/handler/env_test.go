package handler_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"crypto/rand"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/functions/handler"
	"github.com/orderflow/orderflow/internal/testkit"
	"github.com/orderflow/orderflow/shared/bus/rabbitmq"
	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/shared/store/storetest"
	"github.com/orderflow/orderflow/shared/topology"
)

// Seed products (migration 0002).
const (
	beans  = "a0000000-0000-4000-8000-000000000001"
	mug    = "a0000000-0000-4000-8000-000000000002"
	filter = "a0000000-0000-4000-8000-000000000003"
)

func rabbitURL() string {
	if u := os.Getenv("TEST_RABBITMQ_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// env is one handler wired to its own schema and its own broker names, with
// TCP proxies in front of PostgreSQL and RabbitMQ.
type env struct {
	t       testing.TB
	ctx     context.Context
	store   *store.Store
	srv     *httptest.Server
	top     topology.Topology
	pgProxy *tcpProxy
	mqProxy *tcpProxy
	mq      *amqp.Channel
	logs    *testkit.Buffer // the handler's log, shown when a test fails
}

func newEnv(t testing.TB, configure ...func(*handler.Config)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, logs: &testkit.Buffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("handler log:\n%s", e.logs)
		}
	})

	cfg := storetest.Config(t)
	u, err := url.Parse(cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	e.pgProxy = startProxy(t, u.Host)
	u.Host = e.pgProxy.Addr()
	cfg.URL = u.String()
	e.store, err = store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(e.store.Close)

	e.top = topology.Default()
	id := strings.ToLower(rand.Text()[:10])
	e.top.Topic = "test." + id + ".orders"
	e.top.DeadLetterExchange = "test." + id + ".orders.dlx"
	subs := append([]topology.Subscription(nil), e.top.Subscriptions...)
	for i := range subs {
		subs[i].Name = "test." + id + "." + subs[i].Name
	}
	e.top.Subscriptions = subs
	mu, err := url.Parse(rabbitURL())
	if err != nil {
		t.Fatal(err)
	}
	e.mqProxy = startProxy(t, mu.Host)
	mu.Host = e.mqProxy.Addr()
	pub := rabbitmq.New(rabbitmq.Config{URL: mu.String(), Topology: &e.top, DialTimeout: time.Second})
	t.Cleanup(func() { _ = pub.Close(context.Background()) })

	// The test's own consumer connection bypasses the proxy.
	conn, err := amqp.Dial(rabbitURL())
	if err != nil {
		t.Fatalf("dialing rabbitmq: %v", err)
	}
	e.mq, err = conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := rabbitmq.Declare(e.mq, e.top); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range e.top.Subscriptions {
			_, _ = e.mq.QueueDelete(s.Name, false, false, false)
			_, _ = e.mq.QueueDelete(s.DeadLetterQueue(), false, false, false)
		}
		_ = e.mq.ExchangeDelete(e.top.Topic, false, false)
		_ = e.mq.ExchangeDelete(e.top.DeadLetterExchange, false, false)
		_ = conn.Close()
	})

	cfg2 := handler.Config{
		Store: e.store, Publisher: pub, Broker: "rabbitmq", Topology: &e.top,
		RequestTimeout: 2 * time.Second, PublishTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	}
	for _, c := range configure {
		c(&cfg2)
	}
	h, err := handler.New(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// sub returns the env bound to subtest t, so helpers fail the right test.
func (e *env) sub(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// do sends a request to the handler.
func (e *env) do(method, path, contentType, body string, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	res, b, err := e.try(method, path, contentType, body, header...)
	if err != nil {
		e.t.Fatal(err)
	}
	return res, b
}

// try is do for goroutines: it returns the error instead of failing.
func (e *env) try(method, path, contentType, body string, header ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(e.ctx, method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

// counts returns the row counts of the tables an order writes.
func (e *env) counts() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, table := range []string{"orders", "order_items", "outbox"} {
		var n int
		if err := e.store.Pool().QueryRow(e.ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			e.t.Fatalf("counting %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

// receive polls subscription sub until a message arrives or the deadline.
func (e *env) receive(sub string, within time.Duration) (amqp.Delivery, bool) {
	e.t.Helper()
	var d amqp.Delivery
	ok := testkit.Poll(within, func() bool {
		var got bool
		var err error
		d, got, err = e.mq.Get(sub, true)
		if err != nil {
			e.t.Fatalf("get from %s: %v", sub, err)
		}
		return got
	})
	return d, ok
}

// placeOrder posts a valid order and returns its decoded response.
// idOf returns the "id" of a decoded order or product, failing the test
// when it is missing or not a string.
func (e *env) idOf(v map[string]any) string {
	e.t.Helper()
	id, ok := v["id"].(string)
	if !ok {
		e.t.Fatalf("no string id in %v", v)
	}
	return id
}

func (e *env) placeOrder(body string) map[string]any {
	e.t.Helper()
	res, b := e.do(http.MethodPost, "/api/orders", "application/json", body)
	if res.StatusCode != http.StatusCreated {
		e.t.Fatalf("POST /api/orders: %d %s", res.StatusCode, b)
	}
	var o map[string]any
	if err := json.Unmarshal(b, &o); err != nil {
		e.t.Fatal(err)
	}
	return o
}

func orderBody(items ...string) string {
	return `{"customerName":"Ana Lima","customerEmail":"ana@example.com","items":[` + strings.Join(items, ",") + `]}`
}

func item(productID string, qty int) string {
	b, _ := json.Marshal(map[string]any{"productId": productID, "quantity": qty})
	return string(b)
}
