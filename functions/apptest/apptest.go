// Package apptest runs the whole app for tests: the real handler binary
// under the local Functions host, with a private PostgreSQL database, an
// in-process SMTP server and a private broker namespace (an in-process
// Service Bus emulator, or a RabbitMQ virtual host). The end-to-end suite
// and the fault-injection tests build on it.
//
// A test binary that uses it calls Main from TestMain, which builds the
// binaries once.
package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/emulator/funchost"
	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/functions/apptest/stage"
	"github.com/orderflow/orderflow/internal/testkit"
	"github.com/orderflow/orderflow/shared/deadletter"
	"github.com/orderflow/orderflow/shared/email/emailtest"
	"github.com/orderflow/orderflow/shared/topology"
)

// Broker selects the broker an App runs on.
type Broker = stage.Broker

// The brokers of the app; Brokers lists both for suites that run every case
// on each.
const (
	ServiceBus = stage.ServiceBus
	RabbitMQ   = stage.RabbitMQ
)

// Brokers lists every broker.
var Brokers = stage.Brokers

const postgresURL = "postgres://postgres@127.0.0.1:5432/%s?sslmode=disable"

// Options shape one App. The zero value runs one handler instance with every
// consumer on.
type Options struct {
	// Instances is the number of handler processes. Default 1.
	Instances int
	// Flaky wraps the handler with testdata/flaky, configured by these
	// settings (FLAKY_FUNCTIONS, FLAKY_FAIL_FIRST, FLAKY_KILL_ONCE). Default:
	// the plain handler.
	Flaky map[string]string
	// ConsumersOff disables the queue-triggered functions. Default false.
	ConsumersOff bool
	// Timeout bounds the whole App's life. Default 4 minutes.
	Timeout time.Duration
	// Target is where the app runs: Azure (the custom handler under the
	// local Functions host) or Lambda (the Lambda bootstrap under the local
	// Lambda host; RabbitMQ only). Default: Azure.
	Target Target
	// HostProcess runs the local Functions host as its own process
	// (emulator/cmd/funchost, see StartHostProcess) instead of in the test
	// process, so a test can SIGKILL it. Default false.
	HostProcess bool
	// OTLPEndpoint, when set, exports the handler's and the in-process
	// host's telemetry to this OTLP/HTTP base URL, with short batch and
	// metric intervals. Default: telemetry off.
	OTLPEndpoint string
}

// App is one private copy of the running app.
type App struct {
	// Broker is the broker the app runs on.
	Broker Broker
	// Target is where the app runs (Azure or Lambda).
	Target Target
	// Ctx ends when the App's timeout passes or the test ends.
	Ctx context.Context
	// DB is a pool on the app's private database.
	DB *pgxpool.Pool
	// SMTP is the SMTP server the app sends its emails to.
	SMTP *emailtest.Server
	// Settings are the app settings the host gives the handler; change them
	// between StopHost and StartHost.
	Settings map[string]string
	// URL is the host's base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Host is the running local Functions host (nil with
	// Options.HostProcess).
	Host *funchost.Host
	// Process is the host's process with Options.HostProcess, else nil.
	Process *HostProcess
	// Output collects the host's and the handler's output.
	Output *Output
	// DeadLetters reads the consumers' dead-letter queues.
	DeadLetters deadletter.Queue
	// Emulator is the in-process Service Bus emulator (ServiceBus only).
	Emulator *servicebus.Server

	appDir   string
	flakyLog string
	otlp     string
	publish  func(t *testing.T, id string, body []byte)
	// lambda is the local Lambda host (Target Lambda).
	lambda *lambdaHost
}

// Start builds a private world for one test and starts the local Functions
// host on it with the real handler.
func Start(t *testing.T, broker Broker, opt Options) *App {
	t.Helper()
	if bins.handler == "" {
		t.Fatal("apptest: call apptest.Main from TestMain")
	}
	if opt.Timeout == 0 {
		opt.Timeout = 4 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), opt.Timeout)
	t.Cleanup(cancel)
	if opt.Target == "" {
		opt.Target = Azure
	}
	if opt.Target == Lambda && (broker != RabbitMQ || opt.HostProcess) {
		t.Fatalf("apptest: the Lambda target runs on RabbitMQ, without HostProcess")
	}
	a := &App{Broker: broker, Target: opt.Target, Ctx: ctx, Output: &Output{}}
	id := strings.ReplaceAll(uuid.NewString()[:13], "-", "")

	dbName := "orderflow_app_" + id
	t.Cleanup(func() { dropDatabase(t, dbName) })
	a.SMTP = emailtest.Start(t, false)
	a.Settings = map[string]string{
		"DATABASE_URL": fmt.Sprintf(postgresURL, dbName),
		"BROKER":       string(broker),
		"SMTP_HOST":    a.SMTP.Host,
		"SMTP_PORT":    fmt.Sprint(a.SMTP.Port),
		"SMTP_FROM":    "orders@apptest.test",
	}
	switch broker {
	case ServiceBus:
		a.startEmulator(t)
	case RabbitMQ:
		a.makeVhost(t, "apptest-"+id)
	default:
		t.Fatalf("apptest: unknown broker %q", broker)
	}
	a.SetConsumers(!opt.ConsumersOff)
	if a.otlp = opt.OTLPEndpoint; a.otlp != "" {
		for k, v := range stage.OTLPSettings(a.otlp) {
			a.Settings[k] = v
		}
	}
	if a.Target == Lambda {
		a.lambda = &lambdaHost{consumers: !opt.ConsumersOff}
		a.Settings["RABBITMQ_QUEUE_TYPE"] = "quorum"
	} else {
		a.appDir = stageApp(t, opt.Flaky != nil)
	}
	if opt.Flaky != nil {
		a.flakyLog = filepath.Join(t.TempDir(), "flaky.log")
		a.Settings["FLAKY_HANDLER"] = bins.handler
		if a.Target == Lambda {
			a.Settings["FLAKY_HANDLER"] = Bootstrap(t)
		}
		a.Settings["FLAKY_LOG"] = a.flakyLog
		for k, v := range opt.Flaky {
			a.Settings[k] = v
		}
	}
	if opt.HostProcess {
		a.StartHostProcess(t, opt.Instances)
	} else {
		a.StartHost(t, opt.Instances)
	}

	pool, err := pgxpool.New(ctx, a.Settings["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	a.DB = pool
	return a
}

// SetConsumers switches the queue-triggered functions of the App's broker
// on or off (and the other broker's variants off), as the broker choice does
// with AzureWebJobs.<Function>.Disabled. It takes effect at the next
// StartHost.
func (a *App) SetConsumers(on bool) {
	if a.lambda != nil {
		a.lambda.consumers = on
	}
	for k, v := range stage.ConsumerSettings(a.Broker, on) {
		a.Settings[k] = v
	}
}

// StartHost starts (or restarts) the local Functions host on the App's
// folder and settings.
func (a *App) StartHost(t *testing.T, instances int) {
	t.Helper()
	if a.Target == Lambda {
		a.startLambda(t, instances)
		return
	}
	tel := a.hostTelemetry(t, "funchost")
	host, err := funchost.New(funchost.Config{
		AppDir: a.appDir, Addr: "127.0.0.1:0", Settings: a.Settings, Instances: instances,
		Stdout: a.Output, Stderr: a.Output, Telemetry: tel,
		Logger: slog.New(tel.SlogHandler("apptest", slog.NewTextHandler(a.Output, &slog.HandlerOptions{Level: slog.LevelInfo}))),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(a.Ctx); err != nil {
		t.Fatalf("starting host: %v\n%s", err, a.Output.String())
	}
	a.Host, a.URL = host, host.URL()
	t.Cleanup(func() {
		_ = host.Stop(context.Background())
		if t.Failed() {
			t.Logf("host and handler output:\n%s", a.Output.String())
		}
	})
}

// StopHost stops the host gracefully.
func (a *App) StopHost(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(a.Ctx, 30*time.Second)
	defer cancel()
	if a.Target == Lambda {
		a.stopLambda(t, ctx)
		return
	}
	if err := a.Host.Stop(ctx); err != nil {
		t.Fatalf("stopping host: %v", err)
	}
}

// startEmulator runs the Service Bus emulator in-process with the app's
// Config.json (the file make run uses).
func (a *App) startEmulator(t *testing.T) {
	t.Helper()
	srv, err := servicebus.Start(a.Ctx, servicebus.Config{
		AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", ConfigPath: filepath.Join(bins.root, "shared/topology/emulator-config.json"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	a.Emulator = srv
	a.Settings["ServiceBusConnection"] = srv.ConnectionString()
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	a.DeadLetters, err = deadletter.NewServiceBus(deadletter.ServiceBusConfig{Client: client, WaitTime: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	top := topology.Default()
	a.publish = func(t *testing.T, id string, body []byte) {
		t.Helper()
		s, err := client.NewSender(top.Topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(a.Ctx)
		ct := "application/json"
		if err := s.SendMessage(a.Ctx, &azservicebus.Message{MessageID: &id, ContentType: &ct, Body: body}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// makeVhost gives the App its own RabbitMQ virtual host, so the app's fixed
// exchange and queue names cannot collide with other tests.
func (a *App) makeVhost(t *testing.T, vhost string) {
	t.Helper()
	url, err := stage.CreateVhost(a.Ctx, vhost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stage.DeleteVhost(vhost) })
	a.Settings["RabbitMQConnection"] = url
	dlq, err := deadletter.NewRabbitMQ(deadletter.RabbitMQConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dlq.Close(context.Background()) })
	a.DeadLetters = dlq
	top := topology.Default()
	a.publish = func(t *testing.T, id string, body []byte) {
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
		err = ch.PublishWithContext(a.Ctx, top.Topic, top.RoutingKey, true, false, amqp.Publishing{
			MessageId: id, ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: body,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// PublishRaw puts a message with the given id and body on the topic or
// exchange, as a foreign publisher would.
func (a *App) PublishRaw(t *testing.T, id string, body []byte) {
	t.Helper()
	a.publish(t, id, body)
}

// stageApp lays out the app folder as make package does (stage.App). With
// flaky, host.json names the fault-injecting wrapper instead.
func stageApp(t *testing.T, flaky bool) string {
	t.Helper()
	dir := t.TempDir()
	executable := ""
	if flaky {
		executable = bins.flaky
	}
	if err := stage.App(bins.root, dir, bins.handler, executable); err != nil {
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

// PlaceOrder posts an order for qty units of product through the host and
// returns its id. It reports failures with t.Errorf, so it may run on other
// goroutines; the id is "" then.
func (a *App) PlaceOrder(t *testing.T, product string, qty int) string {
	t.Helper()
	return a.placeOrder(t, product, qty, 1)
}

// PlaceOrderRetrying places an order as a careful client does when the server
// may die under it: a transport error or a 5xx is retried with the same
// Idempotency-Key, so at most one order exists however often it is sent. Tests
// that kill the handler use it, because the kill can land while CreateOrder's
// answer is still on its way.
func (a *App) PlaceOrderRetrying(t *testing.T, product string, qty int) string {
	t.Helper()
	return a.placeOrder(t, product, qty, 5)
}

func (a *App) placeOrder(t *testing.T, product string, qty, attempts int) string {
	t.Helper()
	body := fmt.Sprintf(`{"customerName":"Test","customerEmail":"t-%s@example.com","items":[{"productId":%q,"quantity":%d}]}`,
		uuid.NewString()[:8], product, qty)
	key := "apptest-" + uuid.NewString()
	var status int
	var raw []byte
	for i := 1; ; i++ {
		req, _ := http.NewRequestWithContext(a.Ctx, http.MethodPost, a.URL+"/api/orders", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			raw, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		retry := err != nil || status >= http.StatusInternalServerError
		if !retry || i >= attempts {
			if err != nil {
				t.Errorf("POST /api/orders: %v", err)
				return ""
			}
			break
		}
		t.Logf("POST /api/orders attempt %d: %v %d %s; retrying with the same Idempotency-Key", i, err, status, raw)
		time.Sleep(time.Duration(i) * 300 * time.Millisecond)
	}
	var o struct{ ID string }
	if status != http.StatusCreated || json.Unmarshal(raw, &o) != nil || o.ID == "" {
		t.Errorf("POST /api/orders = %d: %s", status, raw)
	}
	return o.ID
}

// CreateProduct adds a product with the given stock and returns its id.
func (a *App) CreateProduct(t *testing.T, stock int) string {
	t.Helper()
	body := fmt.Sprintf(`{"name":"test %s","price":"1.00","stock":%d}`, uuid.NewString()[:8], stock)
	resp, err := http.Post(a.URL+"/api/products", "application/json", strings.NewReader(body))
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

// WaitFor polls cond until it holds, failing the test after limit with the
// last state cond described.
func (a *App) WaitFor(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	testkit.Eventually(t, limit, func() error {
		ok, state := cond()
		if ok {
			return nil
		}
		if a.Ctx.Err() != nil {
			t.Fatalf("the app's context ended (%v) waiting for %s; last state: %s", a.Ctx.Err(), what, state)
		}
		return fmt.Errorf("waiting for %s; last state: %s", what, state)
	})
}

// StatusCounts returns the number of orders per status.
func (a *App) StatusCounts(t *testing.T) map[string]int {
	t.Helper()
	rows, err := a.DB.Query(a.Ctx, "SELECT status, count(*) FROM orders GROUP BY status")
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
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Count runs a query returning one integer.
func (a *App) Count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := a.DB.QueryRow(a.Ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// WaitProcessed waits until no order is pending and each of orders has its
// email recorded.
func (a *App) WaitProcessed(t *testing.T, orders int, limit time.Duration) {
	t.Helper()
	a.WaitFor(t, fmt.Sprintf("%d orders processed and emailed", orders), limit, func() (bool, string) {
		c := a.StatusCounts(t)
		emails := a.Count(t, "SELECT count(*) FROM sent_emails")
		return c["pending"] == 0 && c["confirmed"]+c["rejected"] == orders && emails == orders,
			fmt.Sprintf("statuses %v, emails %d", c, emails)
	})
}
