// Command dashboard serves the local dashboard (package dashboard) beside
// `make run`: an OTLP/HTTP receiver for the handler, the host and the
// emulator, an OTLP/gRPC one for apps that export with gRPC, and pages for resources, logs, traces, metrics and queues.
//
//	dashboard [-addr 127.0.0.1:18888] [-otlp-grpc 127.0.0.1:18889] [-host-url http://127.0.0.1:7071] [-broker servicebus|rabbitmq]
//
// Settings (BROKER, DATABASE_URL, ServiceBusConnection, RabbitMQConnection,
// FUNCHOST_MASTER_KEY) come from the environment, then from a
// local.settings.json in the current directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/dashboard"
	"github.com/orderflow/orderflow/shared/deadletter"
	"github.com/orderflow/orderflow/shared/setting"
	"github.com/orderflow/orderflow/shared/topology"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}

func run() error {
	if err := setting.LoadLocalSettings("local.settings.json"); err != nil {
		return err
	}
	addr := flag.String("addr", "127.0.0.1:18888", "listen address of the pages and the OTLP/HTTP receiver (loopback)")
	grpcAddr := flag.String("otlp-grpc", "127.0.0.1:18889", "listen address of the OTLP/gRPC receiver (loopback; empty: off)")
	hostURL := flag.String("host-url", "http://127.0.0.1:7071", "base URL of the local Functions host or Lambda host (their control API)")
	broker := flag.String("broker", envOr("BROKER", "servicebus"), "servicebus or rabbitmq")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	q, err := deadletter.Open(*broker, os.Getenv("RabbitMQConnection"), os.Getenv("ServiceBusConnection"))
	if err != nil {
		return err
	}
	defer func() { _ = q.Close(context.WithoutCancel(ctx)) }() // read side: the actions reported their errors
	top := topology.Default()
	var consumers []string
	for _, s := range top.Subscriptions {
		consumers = append(consumers, s.Name)
	}
	dbURL := envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orders?sslmode=disable")
	checks := []dashboard.Check{
		{Name: "PostgreSQL", Kind: "database", Detail: redact(dbURL), Probe: func(ctx context.Context) error {
			conn, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				return err
			}
			defer conn.Close(context.WithoutCancel(ctx))
			return conn.Ping(ctx)
		}},
		{Name: *broker, Kind: "broker", Detail: "topic/exchange " + top.Topic, Probe: func(ctx context.Context) error {
			_, err := q.Depth(ctx, consumers[0])
			return err
		}},
	}
	d, err := dashboard.New(dashboard.Config{Addr: *addr, GRPCAddr: *grpcAddr, HostURL: *hostURL, HostKey: os.Getenv("FUNCHOST_MASTER_KEY"),
		Broker: *broker, Queues: q, Consumers: consumers, Checks: checks, Logger: log})
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("dashboard: %s  (OTLP/HTTP endpoint for OTEL_EXPORTER_OTLP_ENDPOINT: %s)\n", d.URL(), d.URL())
	if g := d.GRPCAddr(); g != "" {
		fmt.Printf("dashboard: OTLP/gRPC endpoint (OTEL_EXPORTER_OTLP_PROTOCOL=grpc): http://%s\n", g)
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.Stop(stopCtx)
}

// redact drops a password from a connection URL for display.
func redact(raw string) string {
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
