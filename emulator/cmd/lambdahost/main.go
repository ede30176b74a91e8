// Command lambdahost runs AWS Lambda functions locally from a SAM template
// and their unmodified bootstrap: the Lambda Runtime API for the runtime
// processes, HTTP API v2 events on one port, Amazon MQ (RabbitMQ) batches
// and scheduled events (package emulator/lambdahost).
//
//	lambdahost -template infra/aws/template.yaml -bootstrap dist/lambda/bootstrap \
//	  -settings local.settings.json -set POSTGRES_AUTH=password -port 7071
//
// App settings come from the template's environment, overridden by the
// Values of a local.settings.json (-settings) and by -set NAME=VALUE
// (repeatable; an empty VALUE unsets). RabbitMQConnection also feeds the
// queue mappings.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/emulator/lambdahost"
	"github.com/orderflow/orderflow/telemetry"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "lambdahost:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := newFlags()
	if err := fs.parse(os.Args[1:]); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(fs.logLevel)); err != nil {
		return fmt.Errorf("bad -log-level %q: %w", fs.logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// OTEL_* variables of this process configure the host's own telemetry;
	// the runtimes get them too (lambdahost passes them on).
	tel, err := telemetry.Start(ctx, telemetry.Config{ServiceName: "lambdahost"})
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()
	logger = slog.New(tel.SlogHandler("github.com/orderflow/orderflow/emulator/cmd/lambdahost", logger.Handler()))
	cfg, err := lambdahost.FromSAM(fs.template)
	if err != nil {
		return err
	}
	env := map[string]string{}
	if fs.settings != "" {
		if env, err = readSettings(fs.settings); err != nil {
			return err
		}
	}
	for k, v := range fs.overrides {
		env[k] = v
	}
	cfg.Env = env
	cfg.RabbitMQURL = env["RabbitMQConnection"]
	if cfg.RabbitMQURL == "" {
		cfg.RabbitMQURL = "amqp://guest:guest@127.0.0.1:5672/"
	}
	if cfg.Bootstrap, err = filepath.Abs(fs.bootstrap); err != nil {
		return err
	}
	cfg.Addr = "127.0.0.1:" + strconv.Itoa(fs.port)
	cfg.Logger = logger
	cfg.Telemetry = tel
	for i := range cfg.Schedules {
		if fs.scheduleEvery > 0 {
			cfg.Schedules[i].Every = fs.scheduleEvery
		}
	}
	for i := range cfg.Functions {
		if fs.concurrency > 0 {
			cfg.Functions[i].Concurrency = fs.concurrency
		}
	}
	host, err := lambdahost.New(cfg)
	if err != nil {
		return err
	}
	if err := host.Start(ctx); err != nil {
		_ = host.Stop(context.Background())
		return err
	}
	for _, f := range cfg.Functions {
		fmt.Printf("  %s: %s\n", f.Name, describe(host, cfg, f.Name))
	}
	<-ctx.Done()
	logger.Info("stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return host.Stop(stopCtx)
}

// describe says how a function is triggered: its URLs, queue or schedule.
func describe(h *lambdahost.Host, cfg lambdahost.Config, name string) string {
	var parts []string
	for _, r := range cfg.Routes {
		if r.Function == name {
			parts = append(parts, fmt.Sprintf("[%s] %s%s", r.Method, h.URL(), r.Path))
		}
	}
	for _, q := range cfg.Queues {
		if q.Function == name {
			parts = append(parts, fmt.Sprintf("rabbitmq queue %s (batch %d, window %s)", q.Queue, q.BatchSize, q.Window))
		}
	}
	for _, s := range cfg.Schedules {
		if s.Function == name {
			parts = append(parts, "every "+s.Every.String())
		}
	}
	return strings.Join(parts, ", ")
}

// readSettings reads the Values of a local.settings.json.
func readSettings(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Values map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Values == nil {
		f.Values = map[string]string{}
	}
	return f.Values, nil
}

type flags struct {
	template, bootstrap, settings, logLevel string
	port, concurrency                       int
	scheduleEvery                           time.Duration
	overrides                               map[string]string
}

func newFlags() *flags { return &flags{overrides: map[string]string{}} }

func (f *flags) parse(args []string) error {
	fs := flag.NewFlagSet(os.Args[0], flag.ContinueOnError)
	fs.StringVar(&f.template, "template", "infra/aws/template.yaml", "SAM template")
	fs.StringVar(&f.bootstrap, "bootstrap", "dist/lambda/bootstrap", "the functions' bootstrap executable (built for this machine)")
	fs.StringVar(&f.settings, "settings", "", "local.settings.json whose Values override the template's environment")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&f.port, "port", 7071, "HTTP port on 127.0.0.1")
	fs.IntVar(&f.concurrency, "concurrency", 0, "runtime processes per function (0 = the template's ReservedConcurrentExecutions, else 1)")
	fs.DurationVar(&f.scheduleEvery, "schedule-every", 0, "run scheduled functions this often instead of the template's rate")
	fs.Func("set", "override an app setting, `NAME=VALUE` (repeatable; empty VALUE unsets)", func(kv string) error {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return errors.New("want NAME=VALUE")
		}
		f.overrides[name] = value
		return nil
	})
	return fs.Parse(args)
}
