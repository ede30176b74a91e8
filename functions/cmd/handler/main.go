// Command handler is the Azure Functions custom handler of the order flow.
// The Functions host (func start, Azure, or our emulator/funchost) starts it
// with FUNCTIONS_CUSTOMHANDLER_PORT and sends every invocation to it.
package main

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/functions/app"
	"github.com/orderflow/orderflow/functions/handler"
	"github.com/orderflow/orderflow/shared/setting"
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
	a, err := app.Open(ctx, cfg, log, tel, func(c *handler.Config) { c.RoutePrefix = routePrefix(log) })
	if err != nil {
		return err
	}
	defer a.Close(context.WithoutCancel(ctx))
	srv := newServer(a.Handler, slog.NewLogLogger(log.Handler(), slog.LevelWarn))
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

// newServer bounds every read and idle connection of the handler's
// server. Writes are not bounded: an invocation may legitimately run up to
// functionTimeout; request bodies are limited by the handler itself.
func newServer(h http.Handler, errorLog *stdlog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errorLog,
	}
}

// routePrefix is host.json's extensions.http.routePrefix, read from the app
// root the host passes in FUNCTIONS_APP_ROOT_PATH (else the working
// directory, which the host also sets to the app root), in the form
// handler.Config takes ("/" for an empty prefix). Without a host.json (a
// plain local run) the default "api" applies.
func routePrefix(log *slog.Logger) string {
	dir := os.Getenv("FUNCTIONS_APP_ROOT_PATH")
	if dir == "" {
		dir = "."
	}
	p, err := handler.RoutePrefixFromHostJSON(dir)
	if err != nil {
		log.Warn("no usable host.json; serving HTTP functions under /api", "dir", dir, "err", err)
		return "api"
	}
	if p == "" {
		return "/"
	}
	return p
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
