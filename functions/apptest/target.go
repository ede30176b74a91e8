package apptest

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/lambdahost"
)

// Target is where an App runs.
type Target string

// The targets of the app.
const (
	// Azure runs the custom handler under the local Functions host.
	Azure Target = "azure"
	// Lambda runs the Lambda bootstrap under the local Lambda host, with
	// the functions, routes and queue mappings of infra/aws/template.yaml.
	Lambda Target = "lambda"
)

// Case is one target and broker the suites run on.
type Case struct {
	Target Target
	Broker Broker
}

// Name is "<target>-<broker>", for subtest names.
func (c Case) Name() string { return string(c.Target) + "-" + string(c.Broker) }

// Cases lists every supported combination: Azure on both brokers, Lambda
// on RabbitMQ (Amazon MQ).
var Cases = []Case{{Azure, ServiceBus}, {Azure, RabbitMQ}, {Lambda, RabbitMQ}}

// lambdaOverrides replace the AWS settings of the template (RDS IAM, the
// broker secret) with the App's local ones.
var lambdaOverrides = map[string]string{
	"POSTGRES_AUTH": "password", "POSTGRES_HOST": "", "POSTGRES_DATABASE": "", "POSTGRES_USER": "", "RABBITMQ_SECRET_ARN": "",
}

// lambdaHost is the App's local Lambda host.
type lambdaHost struct {
	consumers bool
	host      *lambdahost.Host
}

// startLambda runs the template's functions from the real bootstrap. The
// consumers get instances runtime processes each (competing for batches);
// the relay runs every 10 s, as the Azure timer does.
func (a *App) startLambda(t *testing.T, instances int) {
	t.Helper()
	if instances < 1 {
		instances = 1
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := lambdahost.FromSAM(filepath.Join(root, "infra", "aws", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Bootstrap = Bootstrap(t)
	if a.flakyLog != "" {
		// testdata/flakylambda runs the bootstrap (FLAKY_HANDLER) and
		// injects the faults.
		cfg.Bootstrap = bins.flakyLambda
	}
	cfg.Env = map[string]string{}
	for k, v := range a.Settings {
		cfg.Env[k] = v
	}
	for k, v := range lambdaOverrides {
		cfg.Env[k] = v
	}
	cfg.RabbitMQURL = a.Settings["RabbitMQConnection"]
	cfg.Addr = "127.0.0.1:0"
	cfg.Stdout, cfg.Stderr = a.Output, a.Output
	cfg.Logger = slog.New(slog.NewTextHandler(a.Output, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.Telemetry = a.hostTelemetry(t, "lambdahost")
	consumers := map[string]bool{}
	for _, q := range cfg.Queues {
		consumers[q.Function] = true
	}
	for i := range cfg.Functions {
		cfg.Functions[i].Concurrency = 1
		if consumers[cfg.Functions[i].Name] {
			cfg.Functions[i].Concurrency = instances
		}
	}
	for i := range cfg.Schedules {
		cfg.Schedules[i].Every = 10 * time.Second
	}
	if !a.lambda.consumers {
		cfg.Queues = nil
		cfg.Functions = slices.DeleteFunc(cfg.Functions, func(f lambdahost.Function) bool { return consumers[f.Name] })
	}
	h, err := lambdahost.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(a.Ctx); err != nil {
		t.Fatalf("starting the Lambda host: %v\n%s", err, a.Output.String())
	}
	a.lambda.host, a.URL = h, h.URL()
	// Ready when the Api function answers: its runtime has opened the app,
	// migrated the database and declared the broker topology.
	a.WaitFor(t, "the Api function to answer", time.Minute, func() (bool, string) {
		res, err := http.Get(a.URL + "/api/health")
		if err != nil {
			return false, err.Error()
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK, res.Status
	})
	t.Cleanup(func() {
		_ = h.Stop(context.Background())
		if t.Failed() {
			t.Logf("Lambda host and runtime output:\n%s", a.Output.String())
		}
	})
}

func (a *App) stopLambda(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := a.lambda.host.Stop(ctx); err != nil {
		t.Fatalf("stopping the Lambda host: %v", err)
	}
}
