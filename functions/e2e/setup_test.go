package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/emulator/funchost"
	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/shared/deadletter"
	"github.com/orderflow/orderflow/shared/email/emailtest"
	"github.com/orderflow/orderflow/shared/topology"
)

const (
	postgresURL = "postgres://postgres@127.0.0.1:5432/%s?sslmode=disable"
	rabbitAdmin = "amqp://guest:guest@127.0.0.1:5672/"
)

// bins holds the binaries built once for the whole test binary.
var bins struct {
	handler string // the real custom handler
	flaky   string // testdata/flaky: fault-injecting wrapper around it
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "e2e-bin")
	if err != nil {
		panic(err)
	}
	bins.handler = filepath.Join(dir, "handler")
	bins.flaky = filepath.Join(dir, "flaky")
	for out, pkg := range map[string]string{bins.handler: "../cmd/handler", bins.flaky: "./testdata/flaky"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// brokerKind selects the broker a test runs against; the suite runs every
// case on both.
type brokerKind string

const (
	serviceBus brokerKind = "servicebus"
	rabbitMQ   brokerKind = "rabbitmq"
)

var brokers = []brokerKind{serviceBus, rabbitMQ}

// options shape one test's app.
type options struct {
	instances int
	// flaky wraps the handler with testdata/flaky and these settings
	// (FLAKY_FUNCTIONS, FLAKY_FAIL_FIRST, FLAKY_KILL_ONCE).
	flaky map[string]string
	// consumersOff disables the queue-triggered functions.
	consumersOff bool
}

// bundle is everything one test works with: its own database, broker
// namespace (emulator instance or RabbitMQ vhost), SMTP server and host.
type bundle struct {
	kind     brokerKind
	ctx      context.Context
	db       *pgxpool.Pool
	smtp     *emailtest.Server
	settings map[string]string
	appDir   string
	host     *funchost.Host
	url      string
	out      *syncBuffer
	dlq      deadletter.Queue
	flakyLog string
	// publishRaw puts a message with the given id and body on the topic or
	// exchange, as a foreign publisher would.
	publishRaw func(t *testing.T, id string, body []byte)
}

// setup builds a private world for one test and starts the local Functions
// host on it with the real handler.
func setup(t *testing.T, kind brokerKind, opt options) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	b := &bundle{kind: kind, ctx: ctx, out: &syncBuffer{}}
	id := strings.ReplaceAll(uuid.NewString()[:13], "-", "")

	dbName := "orderflow_e2e_" + id
	t.Cleanup(func() { dropDatabase(t, dbName) })
	b.smtp = emailtest.Start(t, false)
	b.settings = map[string]string{
		"DATABASE_URL": fmt.Sprintf(postgresURL, dbName),
		"BROKER":       string(kind),
		"SMTP_HOST":    b.smtp.Host,
		"SMTP_PORT":    fmt.Sprint(b.smtp.Port),
		"SMTP_FROM":    "orders@e2e.test",
	}
	switch kind {
	case serviceBus:
		b.startEmulator(t)
	case rabbitMQ:
		b.makeVhost(t, "e2e-"+id)
	}
	for _, fn := range []string{"ProcessOrder", "SendEmail"} {
		b.settings["AzureWebJobs."+fn+".Disabled"] = fmt.Sprint(kind != serviceBus || opt.consumersOff)
		b.settings["AzureWebJobs."+fn+"RabbitMQ.Disabled"] = fmt.Sprint(kind != rabbitMQ || opt.consumersOff)
	}
	b.appDir = stageApp(t, opt.flaky != nil)
	if opt.flaky != nil {
		b.flakyLog = filepath.Join(t.TempDir(), "flaky.log")
		b.settings["FLAKY_HANDLER"] = bins.handler
		b.settings["FLAKY_LOG"] = b.flakyLog
		for k, v := range opt.flaky {
			b.settings[k] = v
		}
	}
	b.startHost(t, opt.instances)

	pool, err := pgxpool.New(ctx, b.settings["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b.db = pool
	return b
}

// startHost starts (or restarts) the local Functions host on the bundle's
// app and settings.
func (b *bundle) startHost(t *testing.T, instances int) {
	t.Helper()
	host, err := funchost.New(funchost.Config{
		AppDir: b.appDir, Addr: "127.0.0.1:0", Settings: b.settings, Instances: instances,
		Stdout: b.out, Stderr: b.out, Logger: testLogger(b.out),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(b.ctx); err != nil {
		t.Fatalf("starting host: %v\n%s", err, b.out.String())
	}
	b.host, b.url = host, host.URL()
	t.Cleanup(func() {
		_ = host.Stop(context.Background())
		if t.Failed() {
			t.Logf("host and handler output:\n%s", b.out.String())
		}
	})
}

func (b *bundle) stopHost(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := b.host.Stop(ctx); err != nil {
		t.Fatalf("stopping host: %v", err)
	}
}

// startEmulator runs the Service Bus emulator in-process with the app's
// Config.json (the same file make run uses).
func (b *bundle) startEmulator(t *testing.T) {
	t.Helper()
	srv, err := servicebus.Start(b.ctx, servicebus.Config{
		AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", ConfigPath: "../../shared/topology/emulator-config.json",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	b.settings["ServiceBusConnection"] = srv.ConnectionString()
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	b.dlq, err = deadletter.NewServiceBus(deadletter.ServiceBusConfig{Client: client, WaitTime: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	top := topology.Default()
	b.publishRaw = func(t *testing.T, id string, body []byte) {
		t.Helper()
		s, err := client.NewSender(top.Topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(b.ctx)
		ct := "application/json"
		if err := s.SendMessage(b.ctx, &azservicebus.Message{MessageID: &id, ContentType: &ct, Body: body}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// makeVhost gives the test its own RabbitMQ virtual host, so the app's fixed
// exchange and queue names cannot collide with other tests.
func (b *bundle) makeVhost(t *testing.T, vhost string) {
	t.Helper()
	for _, args := range [][]string{
		{"add_vhost", vhost},
		{"set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"},
	} {
		if out, err := exec.CommandContext(b.ctx, "rabbitmqctl", args...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("rabbitmqctl", "delete_vhost", vhost).Run() })
	url := rabbitAdmin + vhost
	b.settings["RabbitMQConnection"] = url
	dlq, err := deadletter.NewRabbitMQ(deadletter.RabbitMQConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dlq.Close(context.Background()) })
	b.dlq = dlq
	top := topology.Default()
	b.publishRaw = func(t *testing.T, id string, body []byte) {
		t.Helper()
		conn, err := amqp.Dial(url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		err = ch.PublishWithContext(b.ctx, top.Topic, top.RoutingKey, true, false, amqp.Publishing{
			MessageId: id, ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: body,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// stageApp lays out the app folder as make package does: host.json, one
// folder per function, the handler binary named in host.json. With flaky,
// host.json names the fault-injecting wrapper instead.
func stageApp(t *testing.T, flaky bool) string {
	t.Helper()
	dir := t.TempDir()
	hostJSON, err := os.ReadFile("../../host.json")
	if err != nil {
		t.Fatal(err)
	}
	if flaky {
		var doc map[string]any
		if err := json.Unmarshal(hostJSON, &doc); err != nil {
			t.Fatal(err)
		}
		doc["customHandler"].(map[string]any)["description"].(map[string]any)["defaultExecutablePath"] = bins.flaky
		hostJSON, _ = json.Marshal(doc)
	}
	if err := os.WriteFile(filepath.Join(dir, "host.json"), hostJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	fns, err := filepath.Glob("../*/function.json")
	if err != nil || len(fns) == 0 {
		t.Fatalf("no function.json files: %v", err)
	}
	for _, f := range fns {
		name := filepath.Base(filepath.Dir(f))
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "function.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(bins.handler, filepath.Join(dir, "handler")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func dropDatabase(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, fmt.Sprintf(postgresURL, "postgres"))
	if err != nil {
		t.Logf("dropping %s: %v", name, err)
		return
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Logf("dropping %s: %v", name, err)
	}
}

// placeOrder posts an order through the host and returns its id.
func (b *bundle) placeOrder(t *testing.T, productID string, qty int) string {
	t.Helper()
	body := fmt.Sprintf(`{"customerName":"E2E","customerEmail":"e2e-%s@example.com","items":[{"productId":%q,"quantity":%d}]}`,
		uuid.NewString()[:8], productID, qty)
	req, _ := http.NewRequestWithContext(b.ctx, http.MethodPost, b.url+"/api/orders", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "e2e-"+uuid.NewString())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("POST /api/orders: %v", err)
		return ""
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var o struct{ ID string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &o) != nil || o.ID == "" {
		t.Errorf("POST /api/orders = %d: %s", resp.StatusCode, raw)
	}
	return o.ID
}

// createProduct adds a product with the given stock and returns its id.
func (b *bundle) createProduct(t *testing.T, stock int) string {
	t.Helper()
	body := fmt.Sprintf(`{"name":"e2e %s","price":"1.00","stock":%d}`, uuid.NewString()[:8], stock)
	resp, err := http.Post(b.url+"/api/products", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/products = %d: %s", resp.StatusCode, raw)
	}
	var p struct{ ID string }
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// waitFor polls cond until it holds or the test's deadline passes.
func (b *bundle) waitFor(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			t.Fatalf("timed out after %s waiting for %s; last state: %s", limit, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// statusCounts returns the number of orders per status.
func (b *bundle) statusCounts(t *testing.T) map[string]int {
	t.Helper()
	rows, err := b.db.Query(b.ctx, "SELECT status, count(*) FROM orders GROUP BY status")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	return out
}

func (b *bundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(b.ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// flakyAttempts reads the wrapper's log of intercepted invocations.
func (b *bundle) flakyAttempts(t *testing.T) []flakyAttempt {
	t.Helper()
	raw, err := os.ReadFile(b.flakyLog)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []flakyAttempt
	s := bufio.NewScanner(bytes.NewReader(raw))
	for s.Scan() {
		var a flakyAttempt
		if err := json.Unmarshal(s.Bytes(), &a); err != nil {
			t.Fatalf("flaky log line %q: %v", s.Text(), err)
		}
		out = append(out, a)
	}
	return out
}

// flakyAttempt mirrors testdata/flaky's log line.
type flakyAttempt struct {
	Function      string `json:"function"`
	MessageID     string `json:"messageId"`
	DeliveryCount string `json:"deliveryCount"`
	RequeueCount  *int64 `json:"requeueCount"`
	Outcome       string `json:"outcome"`
}

// syncBuffer collects the host's and the handler's output for assertions
// and for the log of a failed test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func (s *syncBuffer) Lines() []string { return strings.Split(s.String(), "\n") }
