package lambda_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/emulator/lambdahost"
	"github.com/orderflow/orderflow/functions/apptest"
	"github.com/orderflow/orderflow/functions/apptest/stage"
	"github.com/orderflow/orderflow/functions/handler"
	"github.com/orderflow/orderflow/functions/lambda"
	"github.com/orderflow/orderflow/shared/bus/rabbitmq"
	"github.com/orderflow/orderflow/shared/setting"
	"github.com/orderflow/orderflow/shared/store"
)

// world is a private database and RabbitMQ virtual host, and the app
// settings that point at them, for bootstrap processes.
type world struct {
	ctx      context.Context
	settings map[string]string
	amqpURL  string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	id := strings.ToLower(rand.Text()[:12])
	db := "orderflow_lambda_" + id
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
		if err != nil {
			t.Logf("dropping %s: %v", db, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("dropping %s: %v", db, err)
		}
	})
	vhost := "lambda-" + id
	url, err := stage.CreateVhost(ctx, vhost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stage.DeleteVhost(vhost) })
	return &world{ctx: ctx, amqpURL: url, settings: map[string]string{
		setting.EnvDatabaseURL:        "postgres://postgres@127.0.0.1:5432/" + db + "?sslmode=disable",
		setting.EnvBroker:             setting.BrokerRabbitMQ,
		setting.EnvRabbitMQConnection: url,
		setting.EnvRabbitMQQueueType:  setting.QueueQuorum,
	}}
}

// azureHandler is the Azure custom handler's app over the same database and
// broker: what the Functions host forwards raw HTTP to.
func (w *world) azureHandler(t *testing.T) http.Handler {
	t.Helper()
	st, err := store.Open(w.ctx, store.Config{URL: w.settings[setting.EnvDatabaseURL], Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	pub := rabbitmq.New(rabbitmq.Config{URL: w.amqpURL, Quorum: true, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	h, err := handler.New(handler.Config{Store: st, Publisher: pub, Broker: "rabbitmq", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRIE runs the bootstrap for function under the official Runtime
// Interface Emulator and returns its invoke URL.
func (w *world) startRIE(t *testing.T, rie, bootstrap, function string) string {
	t.Helper()
	invokePort, apiPort := freePort(t), freePort(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", invokePort),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort), "--log-level", "warn", bootstrap)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(setting.Names(), name) && !strings.HasPrefix(name, "AWS_") && name != lambda.EnvFunction {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range w.settings {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "AWS_LAMBDA_FUNCTION_NAME="+function, "AWS_LAMBDA_FUNCTION_TIMEOUT=30")
	out := &apptest.Output{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so the bootstrap it starts dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("aws-lambda-rie %s output:\n%s", function, out)
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", invokePort)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie did not listen on %s: %v\n%s", addr, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "http://" + addr + "/2015-03-31/functions/function/invocations"
}

// invoke posts an event to an invoke URL and returns the function's
// response payload.
func invoke(t *testing.T, ctx context.Context, url string, event []byte) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("invoke: %d %v %s", res.StatusCode, err, b)
	}
	return b
}

// TestBootstrapUnderRIEAnswersLikeTheAzureHandler runs the real bootstrap
// under the official AWS Lambda Runtime Interface Emulator: POST
// /api/orders as an API Gateway v2 event answers 201 with the same JSON
// body and headers the Azure handler gives for the same request; the
// ProcessOrder function of the same bootstrap then confirms the order from
// an Amazon MQ event.
func TestBootstrapUnderRIEAnswersLikeTheAzureHandler(t *testing.T) {
	t.Parallel()
	rie := apptest.RIE(t)
	bootstrap := apptest.Bootstrap(t)
	w := newWorld(t)
	api := w.startRIE(t, rie, bootstrap, lambda.FunctionAPI)

	raw, err := os.ReadFile("testdata/apigw-v2-post-orders.json")
	if err != nil {
		t.Fatal(err)
	}
	key := "rie-" + rand.Text()
	event := bytes.ReplaceAll(raw, []byte("IDEMPOTENCY_KEY"), []byte(key))
	var res events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(invoke(t, w.ctx, api, event), &res); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusCreated || res.IsBase64Encoded {
		t.Fatalf("Lambda answer %+v", res)
	}

	// The Azure path, same request: the idempotent replay of that order.
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.azureHandler(t))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(w.ctx, http.MethodPost, srv.URL+ev.RawPath, strings.NewReader(ev.Body))
	for k, v := range ev.Headers {
		if k != "host" && k != "content-length" {
			req.Header.Set(k, v)
		}
	}
	az, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	azBody, _ := io.ReadAll(az.Body)
	az.Body.Close()
	if az.StatusCode != http.StatusCreated || string(azBody) != res.Body {
		t.Fatalf("bodies differ:\nazure  %d %s\nlambda %d %s", az.StatusCode, azBody, res.StatusCode, res.Body)
	}
	for _, h := range []string{"Content-Type", "Location"} {
		if az.Header.Get(h) != res.Headers[h] {
			t.Errorf("header %s: azure %q, lambda %q", h, az.Header.Get(h), res.Headers[h])
		}
	}
	var placed struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(res.Body), &placed); err != nil || placed.ID == "" {
		t.Fatalf("order body %s: %v", res.Body, err)
	}

	// ProcessOrder, same bootstrap, from the queue the order went to.
	po := w.startRIE(t, rie, bootstrap, lambda.FunctionProcessOrder)
	mqEvent := w.pullEvent(t, "process-order", 1)
	if out := invoke(t, w.ctx, po, mqEvent); string(out) != "null" {
		t.Fatalf("ProcessOrder answered %s", out)
	}
	st, err := store.Open(w.ctx, store.Config{URL: w.settings[setting.EnvDatabaseURL], Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var status string
	if err := st.Pool().QueryRow(w.ctx, `SELECT status FROM orders WHERE id = $1`, placed.ID).Scan(&status); err != nil || status != "confirmed" {
		t.Fatalf("order %s is %q (%v), want confirmed", placed.ID, status, err)
	}
}

// pullEvent gets n messages of queue (acknowledged) as a RabbitMQEvent.
func (w *world) pullEvent(t *testing.T, queue string, n int) []byte {
	t.Helper()
	conn, err := amqp.Dial(w.amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	ev := events.RabbitMQEvent{EventSource: "aws:rmq", EventSourceARN: "arn:aws:mq:eu-west-1:123456789012:broker:orders:b-1",
		MessagesByQueue: map[string][]events.RabbitMQMessage{}}
	key := queue + "::/" + strings.TrimPrefix(w.amqpURL[strings.LastIndex(w.amqpURL, "/"):], "/")
	deadline := time.Now().Add(10 * time.Second)
	for len(ev.MessagesByQueue[key]) < n {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if time.Now().After(deadline) {
				t.Fatalf("queue %s: %d of %d messages", queue, len(ev.MessagesByQueue[key]), n)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		id := d.MessageId
		ev.MessagesByQueue[key] = append(ev.MessagesByQueue[key], events.RabbitMQMessage{
			BasicProperties: events.RabbitMQBasicProperties{ContentType: d.ContentType, MessageID: &id, Headers: d.Headers,
				DeliveryMode: d.DeliveryMode, BodySize: uint64(len(d.Body))},
			Data: base64.StdEncoding.EncodeToString(d.Body), Redelivered: d.Redelivered,
		})
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBootstrapAnswersAlikeUnderRIEAndTheLambdaHost runs the same bootstrap
// under the official emulator (the reference) and under our local Lambda
// host, fed the same real-shaped events: the answers must be the same
// (RIE is right where they differ). The order is created through the
// Lambda host's HTTP front, and the Azure handler's answer for the same
// request has the same body.
func TestBootstrapAnswersAlikeUnderRIEAndTheLambdaHost(t *testing.T) {
	t.Parallel()
	rie := apptest.RIE(t)
	bootstrap := apptest.Bootstrap(t)
	w := newWorld(t)
	ref := w.startRIE(t, rie, bootstrap, lambda.FunctionAPI)

	cfg, err := lambdahost.FromSAM("../../infra/aws/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Functions = slices.DeleteFunc(cfg.Functions, func(f lambdahost.Function) bool { return f.Name != lambda.FunctionAPI })
	cfg.Queues, cfg.Schedules = nil, nil
	cfg.Bootstrap = bootstrap
	cfg.Env = map[string]string{"POSTGRES_AUTH": "password", "POSTGRES_HOST": "", "POSTGRES_DATABASE": "", "POSTGRES_USER": "", "RABBITMQ_SECRET_ARN": ""}
	for k, v := range w.settings {
		cfg.Env[k] = v
	}
	out := &apptest.Output{}
	cfg.Stdout, cfg.Stderr, cfg.Logger = out, out, slog.New(slog.NewTextHandler(out, nil))
	host, err := lambdahost.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(w.ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = host.Stop(context.Background())
		if t.Failed() {
			t.Logf("lambdahost output:\n%s", out)
		}
	}()

	// POST /api/orders through our host's HTTP front (a real HTTP request
	// turned into an HTTP API v2 event).
	raw, err := os.ReadFile("testdata/apigw-v2-post-orders.json")
	if err != nil {
		t.Fatal(err)
	}
	key := "alike-" + rand.Text()
	event := bytes.ReplaceAll(raw, []byte("IDEMPOTENCY_KEY"), []byte(key))
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	post := func(base string) (int, http.Header, string) {
		req, _ := http.NewRequestWithContext(w.ctx, http.MethodPost, base+ev.RawPath, strings.NewReader(ev.Body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}
	code, hdr, created := post(host.URL())
	if code != http.StatusCreated || hdr.Get("Content-Type") != "application/json" || !strings.HasPrefix(hdr.Get("Location"), "/api/orders/") {
		t.Fatalf("POST through the Lambda host: %d %v %s", code, hdr, created)
	}
	srv := httptest.NewServer(w.azureHandler(t))
	defer srv.Close()
	if azCode, _, azBody := post(srv.URL); azCode != http.StatusCreated || azBody != created {
		t.Fatalf("Azure handler: %d %s\nLambda host: %d %s", azCode, azBody, code, created)
	}

	// The same events, invoked directly under both runtimes' APIs.
	get := ev
	get.RouteKey, get.RawPath, get.Body = "GET /api/orders/{id}", hdr.Get("Location"), ""
	get.RequestContext.HTTP.Method, get.RequestContext.HTTP.Path = http.MethodGet, hdr.Get("Location")
	getEvent, _ := json.Marshal(get)
	bad := ev
	bad.Body = `{"customerName":""}`
	badEvent, _ := json.Marshal(bad)
	for name, e := range map[string][]byte{"replayed POST": event, "GET": getEvent, "invalid POST": badEvent} {
		want := invoke(t, w.ctx, ref, e)
		got, err := host.Invoke(w.ctx, lambda.FunctionAPI, e)
		if err != nil {
			t.Fatalf("%s under the Lambda host: %v", name, err)
		}
		var a, b events.APIGatewayV2HTTPResponse
		if json.Unmarshal(want, &a) != nil || json.Unmarshal(got, &b) != nil || a.StatusCode == 0 {
			t.Fatalf("%s: undecodable answers\nrie  %s\nours %s", name, want, got)
		}
		if string(want) != string(got) {
			t.Errorf("%s: answers differ\nrie  %s\nours %s", name, want, got)
		}
	}
}
