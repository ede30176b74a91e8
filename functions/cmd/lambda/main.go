// Command lambda is the AWS Lambda bootstrap of the order flow (runtime
// provided.al2023): one binary for every function, the function chosen by
// ORDERFLOW_FUNCTION (else AWS_LAMBDA_FUNCTION_NAME). It reads the same
// settings as the Azure Functions custom handler, opens the app once per
// execution environment (the database is migrated on the first start) and
// serves invocations through the Lambda Runtime API.
package main

import (
	"context"
	"log/slog"
	"os"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/orderflow/orderflow/functions/app"
	"github.com/orderflow/orderflow/functions/handler"
	"github.com/orderflow/orderflow/functions/lambda"
	"github.com/orderflow/orderflow/shared/setting"
)

func main() {
	log := handler.NewLogger(os.Stdout, os.Stderr, slog.LevelInfo)
	slog.SetDefault(log)
	fn, err := lambda.FunctionName(os.LookupEnv)
	if err != nil {
		fail(log, err)
	}
	cfg, err := setting.FromEnv()
	if err != nil {
		fail(log, err)
	}
	ctx := context.Background()
	// Telemetry stays off under Lambda: exporting needs a flush before each
	// freeze (otellambda), which is not wired yet.
	a, err := app.Open(ctx, cfg, log, nil)
	if err != nil {
		fail(log, err)
	}
	ad, err := lambda.New(lambda.Config{Handler: a.Handler, Logger: log})
	if err != nil {
		fail(log, err)
	}
	h, err := ad.Handler(fn)
	if err != nil {
		fail(log, err)
	}
	log.Info("lambda bootstrap ready", "function", fn, "broker", cfg.Broker, "postgresAuth", cfg.PostgresAuth)
	// Lambda freezes or kills the environment; there is no orderly stop
	// in which closing the pool or the broker connection would matter.
	awslambda.StartWithOptions(h, awslambda.WithContext(ctx))
}

// fail logs an init failure and exits non-zero, which Lambda reports as an
// init error (Runtime.ExitError) and retries on the next invocation.
func fail(log *slog.Logger, err error) {
	log.Error("lambda bootstrap failed to start", "err", err)
	os.Exit(1)
}
