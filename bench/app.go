package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/emulator/funchost"
	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/functions/apptest/stage"
	"github.com/orderflow/orderflow/telemetry"
)

// appConfig shapes one private copy of the app for a benchmark.
type appConfig struct {
	// Broker is stage.ServiceBus (in-process emulator) or stage.RabbitMQ
	// (a private vhost).
	Broker stage.Broker
	// Consumers switches ProcessOrder and SendEmail on.
	Consumers bool
	// Instances is the number of handler processes. Default 1.
	Instances int
	// Name names the app's CPU profiles (with runConfig.profileDir).
	Name string
	// OTLPEndpoint turns telemetry on for the handler and the host, exported
	// to this OTLP/HTTP endpoint. Default: off.
	OTLPEndpoint string
}

// appRun is the whole app as the tests run it (apptest), outside `go test`:
// the handler binary under the in-process local Functions host, a private
// database, a private broker namespace and an SMTP sink.
type appRun struct {
	URL      string
	DB       *pgxpool.Pool
	SMTP     *smtpSink
	host     *funchost.Host
	emu      *servicebus.Server
	tel      *telemetry.Telemetry
	hlog     *tail // host log (low volume: starts, stops, failures)
	log      *tail // handler stderr, for failures
	out      *tail // handler stdout
	db       string
	vhost    string
	dir      string
	once     sync.Once
	settings map[string]string // the app settings, for a handler started without the host
	polls    atomic.Int64      // transactions of waitDone, subtracted from the measured ones
}

// observerApp is the application_name of the benchmark's own database
// connections (polling for completion), which cpuMeter does not count.
const observerApp = "bench-observer"

const postgresURL = "postgres://postgres@127.0.0.1:5432/%s?sslmode=disable"

// startApp stages the app (stage.App) with cfg.handlerBin and starts
// it; stop releases everything.
func startApp(ctx context.Context, rc runConfig, cfg appConfig) (a *appRun, err error) {
	a = &appRun{hlog: &tail{max: 1 << 20}, log: &tail{max: 64 << 10}, out: &tail{max: 16 << 10}}
	defer func() {
		if err != nil {
			a.stop()
			a = nil
		}
	}()
	id := strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	a.db = "orderflow_bench_" + id
	if a.SMTP, err = startSMTPSink(); err != nil {
		return a, err
	}
	settings := map[string]string{
		"DATABASE_URL": fmt.Sprintf(postgresURL, a.db),
		"BROKER":       string(cfg.Broker),
		"SMTP_HOST":    "127.0.0.1",
		"SMTP_PORT":    strconv.Itoa(a.SMTP.Port),
		"SMTP_FROM":    "orders@bench.test",
	}
	if p := profilePrefix(rc, cfg.Name); p != "" {
		settings["BENCH_CPUPROFILE"] = p
	}
	for k, v := range stage.ConsumerSettings(cfg.Broker, cfg.Consumers) {
		settings[k] = v
	}
	switch cfg.Broker {
	case stage.ServiceBus:
		a.emu, err = servicebus.Start(ctx, servicebus.Config{
			AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", ConfigPath: filepath.Join(rc.root, "shared/topology/emulator-config.json"),
			Logger: slog.New(slog.NewTextHandler(a.log, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			return a, fmt.Errorf("starting emulator: %w", err)
		}
		settings["ServiceBusConnection"] = a.emu.ConnectionString()
	case stage.RabbitMQ:
		a.vhost = "bench-" + id
		url, err := stage.CreateVhost(ctx, a.vhost)
		if err != nil {
			return a, err
		}
		settings["RabbitMQConnection"] = url
	}
	a.settings = settings
	if a.tel, err = benchTelemetry(ctx, cfg.OTLPEndpoint, settings); err != nil {
		return a, err
	}
	if a.dir, err = os.MkdirTemp("", "bench-app"); err != nil {
		return a, err
	}
	if err := stage.App(rc.root, a.dir, rc.handlerBin, ""); err != nil {
		return a, err
	}
	a.host, err = funchost.New(funchost.Config{
		AppDir: a.dir, Addr: "127.0.0.1:0", Settings: settings, Instances: cfg.Instances,
		Stdout: a.out, Stderr: a.log, Telemetry: a.tel,
		Logger: slog.New(slog.NewTextHandler(a.hlog, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		return a, err
	}
	if err := a.host.Start(ctx); err != nil {
		return a, fmt.Errorf("starting host: %w\n%s%s", err, a.hlog, a.log)
	}
	a.URL = a.host.URL()
	// The benchmark's own connection is named so that the CPU accounting
	// leaves it out.
	if a.DB, err = pgxpool.New(ctx, settings["DATABASE_URL"]+"&application_name="+observerApp); err != nil {
		return a, err
	}
	// Ample stock for the seeded gift card, so every order is confirmed.
	if _, err := a.DB.Exec(ctx, `UPDATE products SET stock = 1000000000 WHERE id = $1`, benchProduct); err != nil {
		return a, fmt.Errorf("stocking up: %w", err)
	}
	return a, nil
}

// benchProduct is the seed migration's gift card.
const benchProduct = "a0000000-0000-4000-8000-000000000005"

// stop stops the host and drops the app's database and namespace.
// Idempotent.
func (a *appRun) stop() { a.once.Do(a.release) }

func (a *appRun) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if a.host != nil {
		_ = a.host.Stop(ctx)
	}
	if a.tel != nil {
		_ = a.tel.Shutdown(ctx)
	}
	if a.DB != nil {
		a.DB.Close()
	}
	if a.emu != nil {
		_ = a.emu.Stop(ctx)
	}
	if a.vhost != "" {
		_ = stage.DeleteVhost(a.vhost)
	}
	if a.SMTP != nil {
		a.SMTP.close()
	}
	if a.dir != "" {
		_ = os.RemoveAll(a.dir)
	}
	if a.db != "" {
		_ = dropDatabase(ctx, a.db)
	}
}

var handlerStarted = regexp.MustCompile(`msg="handler instance started" instance=\d+ pid=(\d+)`)

// handlerPIDs lists the handler processes the host started.
func (a *appRun) handlerPIDs() []int {
	var pids []int
	for _, m := range handlerStarted.FindAllStringSubmatch(a.hlog.String(), -1) {
		pid, _ := strconv.Atoi(m[1])
		pids = append(pids, pid)
	}
	return pids
}

func dropDatabase(ctx context.Context, name string) error {
	pool, err := pgxpool.New(ctx, fmt.Sprintf(postgresURL, "postgres"))
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = pool.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	return err
}

// tail keeps the last max bytes written to it (roughly: it drops the
// oldest half when full).
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

var _ io.Writer = (*tail)(nil)

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max/2:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
