// Command funchost runs a custom-handler Azure Functions app locally, the way
// `func start` does, without Core Tools.
//
//	funchost -app-dir ./app -port 7071 -instances 2 -enforce-auth -log-level debug
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/emulator/funchost"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "funchost:", err)
		os.Exit(1)
	}
}

func run() error {
	appDir := flag.String("app-dir", ".", "function app root (holds host.json)")
	port := flag.Int("port", 7071, "HTTP port on 127.0.0.1")
	instances := flag.Int("instances", 1, "number of handler processes")
	enforceAuth := flag.Bool("enforce-auth", false, "enforce authLevel keys ("+funchost.MasterKeySetting+", "+funchost.HostKeySetting+", "+funchost.FunctionKeySettingPrefix+"<Function>)")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("bad -log-level %q: %w", *logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	host, err := funchost.New(funchost.Config{
		AppDir:      *appDir,
		Addr:        "127.0.0.1:" + strconv.Itoa(*port),
		Instances:   *instances,
		EnforceAuth: *enforceAuth,
		Logger:      logger,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := host.Start(ctx); err != nil {
		_ = host.Stop(context.Background())
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("stopping")
	case <-host.Done():
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stopErr := host.Stop(stopCtx)
	return errors.Join(host.Err(), stopErr)
}
