// Command funchost runs a custom-handler Azure Functions app locally, the way
// `func start` does, without Core Tools.
//
//	funchost -app-dir ./app -port 7071 -instances 2 -enforce-auth -log-level debug
//	funchost -app-dir ./app -servicebus-emulator Config.json [-servicebus-emulator-port 5673]
//	funchost -app-dir ./app -set BROKER=rabbitmq -set AzureWebJobs.ProcessOrder.Disabled=true
//	funchost -app-dir ./app -allowed-host devbox.lan
//
// -set overrides an app setting of local.settings.json (repeatable).
// -allowed-host serves a Host name besides the loopback ones (repeatable);
// any other Host is refused, which defeats DNS rebinding.
//
// With -servicebus-emulator the in-repo Service Bus emulator runs in the same
// process, loaded with that Config.json, and every app setting holding a
// development-emulator connection string (UseDevelopmentEmulator=true) is
// pointed at it, for the triggers and the handler alike.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/emulator/funchost"
	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/telemetry"
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
	sbConfig := flag.String("servicebus-emulator", "", "run the Service Bus emulator in-process with this Config.json and point emulator connection settings at it")
	sbPort := flag.Int("servicebus-emulator-port", 5673, "AMQP port of the embedded Service Bus emulator (0 = any free port)")
	sbAMQPSPort := flag.Int("servicebus-emulator-amqps-port", -1, "AMQP-over-TLS port of the embedded Service Bus emulator, certificate kept where sbemulator keeps it (negative = off)")
	var allowedHosts []string
	flag.Func("allowed-host", "also serve requests whose Host is `NAME` (repeatable; loopback names always are, \"*\" allows any)", func(h string) error {
		allowedHosts = append(allowedHosts, h)
		return nil
	})
	overrides := map[string]string{}
	flag.Func("set", "override an app setting, `NAME=VALUE` (repeatable)", func(kv string) error {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return fmt.Errorf("want NAME=VALUE, got %q", kv)
		}
		overrides[name] = value
		return nil
	})
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("bad -log-level %q: %w", *logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// OTEL_* variables of this process configure the host's telemetry; the
	// handler inherits them with the rest of the environment.
	tel, err := telemetry.Start(ctx, telemetry.Config{ServiceName: "funchost"})
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()
	logger = slog.New(tel.SlogHandler("github.com/orderflow/orderflow/emulator/cmd/funchost", logger.Handler()))

	if *sbConfig != "" {
		sbCfg := servicebus.Config{
			AMQPAddr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(*sbPort)),
			HTTPAddr:   "-",
			ConfigPath: *sbConfig,
			Logger:     logger.With("component", "servicebus-emulator"),
		}
		if *sbAMQPSPort >= 0 {
			sbCfg.AMQPSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(*sbAMQPSPort))
			sbCfg.CertDir = servicebus.DefaultCertDir()
		}
		srv, err := servicebus.Start(ctx, sbCfg)
		if err != nil {
			return fmt.Errorf("starting the embedded Service Bus emulator: %w", err)
		}
		defer func() {
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Stop(c)
		}()
		if tel.Enabled() {
			if err := srv.RegisterMetrics(tel.Meter); err != nil {
				logger.Warn("emulator metrics unavailable", "err", err)
			}
		}
		names, err := emulatorSettings(*appDir, overrides)
		if err != nil {
			return err
		}
		for _, n := range names {
			overrides[n] = srv.ConnectionString()
		}
		logger.Info("embedded Service Bus emulator", "amqp", srv.AMQPAddr(), "amqps", srv.AMQPSAddr(), "settings", strings.Join(names, ","))
	}

	host, err := funchost.New(funchost.Config{
		AppDir:       *appDir,
		Addr:         "127.0.0.1:" + strconv.Itoa(*port),
		Settings:     overrides,
		Instances:    *instances,
		EnforceAuth:  *enforceAuth,
		AllowedHosts: allowedHosts,
		Logger:       logger,
		Telemetry:    tel,
	})
	if err != nil {
		return err
	}
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

// emulatorSettings names the app settings that hold a Service Bus
// development-emulator connection string.
func emulatorSettings(appDir string, overrides map[string]string) ([]string, error) {
	app, err := funchost.LoadApp(appDir, overrides)
	if err != nil {
		return nil, fmt.Errorf("loading function app %s: %w", appDir, err)
	}
	var names []string
	for _, n := range app.LocalSettingNames() {
		v, _ := app.Setting(n)
		if strings.Contains(strings.ToLower(strings.ReplaceAll(v, " ", "")), "usedevelopmentemulator=true") {
			names = append(names, n)
		}
	}
	return names, nil
}
