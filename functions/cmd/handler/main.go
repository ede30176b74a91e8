// Command handler is the Azure Functions custom handler of the order flow.
// The Functions host (func start, Azure, or our emulator/funchost) starts it
// with FUNCTIONS_CUSTOMHANDLER_PORT and sends every invocation to it.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/exaring/otelpgx"

	"github.com/orderflow/orderflow/functions/handler"
	"github.com/orderflow/orderflow/shared/bus"
	"github.com/orderflow/orderflow/shared/bus/rabbitmq"
	"github.com/orderflow/orderflow/shared/bus/servicebus"
	"github.com/orderflow/orderflow/shared/email"
	"github.com/orderflow/orderflow/shared/setting"
	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/telemetry"
)

func main() {
	log := handler.NewLogger(os.Stdout, os.Stderr, slog.LevelInfo)
	slog.SetDefault(log)
	if err := run(log); err != nil {
		log.Error("handler stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := setting.FromEnv()
	if err != nil {
		return err
	}
	tel, err := telemetry.Start(ctx, telemetry.Config{ServiceName: "orderflow-handler"})
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()
	tel.SetGlobal()
	log = slog.New(tel.SlogHandler("github.com/orderflow/orderflow/functions/cmd/handler", log.Handler()))
	slog.SetDefault(log)
	// Listen before migrating: the host's readiness probe (GET /) then
	// connects and waits in the backlog instead of being refused.
	ln, err := net.Listen("tcp", "127.0.0.1:"+port())
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	stCfg, err := storeConfig(cfg, nil, log)
	if err != nil {
		return err
	}
	if tel.Enabled() {
		// Pool acquire spans would double the span count for little insight.
		stCfg.Tracer = otelpgx.NewTracer(otelpgx.WithTracerProvider(tel.Tracer), otelpgx.WithMeterProvider(tel.Meter), otelpgx.WithDisableAcquireTracer())
	}
	openCtx, cancel := context.WithTimeout(ctx, 25*time.Second)
	st, err := store.Open(openCtx, stCfg)
	cancel()
	if err != nil {
		return fmt.Errorf("opening database: %w", err)
	}
	defer st.Close()
	if tel.Enabled() {
		if err := otelpgx.RecordStats(st.Pool(), otelpgx.WithStatsMeterProvider(tel.Meter)); err != nil {
			log.Warn("pool metrics unavailable", "err", err)
		}
	}
	pub, err := publisher(cfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = pub.Close(context.WithoutCancel(ctx)) }()
	// Declare the broker topology early (RabbitMQ) so the consumers' queues
	// exist before the host attaches its triggers; a failure is not fatal.
	checkCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := pub.Check(checkCtx); err != nil {
		log.Warn("broker not reachable at start; events wait in the outbox", "broker", cfg.Broker, "err", err)
	}
	cancel()
	h, err := handler.New(handler.Config{Store: st, Publisher: pub, Broker: cfg.Broker, Logger: log,
		Mailer: mailer(cfg, log), EmailFrom: cfg.SMTPFrom, Telemetry: tel})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("handler listening", "addr", ln.Addr().String(), "broker", cfg.Broker, "postgresAuth", cfg.PostgresAuth)
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// port follows the host's contract: FUNCTIONS_CUSTOMHANDLER_PORT, then the
// legacy FUNCTIONS_HTTPWORKER_PORT, then 8080 for a plain local run.
func port() string {
	for _, k := range []string{"FUNCTIONS_CUSTOMHANDLER_PORT", "FUNCTIONS_HTTPWORKER_PORT"} {
		if p := os.Getenv(k); p != "" {
			return p
		}
	}
	return "8080"
}

// storeConfig configures PostgreSQL from the settings: DATABASE_URL (the
// database is created if missing), or with POSTGRES_AUTH=entra the
// POSTGRES_* server with a Microsoft Entra ID token as the password of
// every new connection. cred is the token source; nil picks it from
// AZURE_CLIENT_ID (store.Credential). The Entra role may not create
// databases; the deployment provisions the database (infra/DEPLOY.md).
func storeConfig(cfg setting.Settings, cred azcore.TokenCredential, log *slog.Logger) (store.Config, error) {
	sc := store.Config{URL: cfg.PostgresURL(), Logger: log}
	if cfg.PostgresAuth != setting.PostgresAuthEntra {
		return sc, nil
	}
	if cred == nil {
		var err error
		if cred, err = store.Credential(cfg.AzureClientID); err != nil {
			return store.Config{}, fmt.Errorf("PostgreSQL Entra ID credential: %w", err)
		}
	}
	tp, err := store.NewTokenPassword(store.TokenConfig{Credential: cred})
	if err != nil {
		return store.Config{}, err
	}
	sc.BeforeConnect = tp.BeforeConnect
	sc.SkipCreateDatabase = true
	return sc, nil
}

func mailer(cfg setting.Settings, log *slog.Logger) email.Sender {
	if cfg.SMTPHost == "" {
		log.Info("SMTP_HOST is not set: confirmation emails are logged and recorded, not sent")
		return email.NewLog(log)
	}
	return email.NewSMTP(email.SMTPConfig{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword})
}

func publisher(cfg setting.Settings, log *slog.Logger) (bus.Publisher, error) {
	if cfg.Broker == setting.BrokerRabbitMQ {
		return rabbitmq.New(rabbitmq.Config{URL: cfg.RabbitMQConnection, Logger: log}), nil
	}
	return servicebus.New(servicebus.Config{
		ConnectionString: cfg.ServiceBusConnection,
		Namespace:        cfg.ServiceBusNamespace,
		Credential:       cfg.ServiceBusCredential,
		ClientID:         cfg.ServiceBusClientID,
	})
}
