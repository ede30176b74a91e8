// Command lambda is the AWS Lambda bootstrap of the order flow (runtime
// provided.al2023): one binary for every function, the function chosen by
// ORDERFLOW_FUNCTION (else AWS_LAMBDA_FUNCTION_NAME). It reads the same
// settings as the Azure Functions custom handler, opens the app once per
// execution environment (the database is migrated on the first start) and
// serves invocations through the Lambda Runtime API.
//
// Telemetry follows the same OTEL_* settings as the custom handler. When
// on, every invocation runs inside otellambda's invocation span and ends
// with a bounded flush of spans, metrics and logs before the answer goes
// back to the Runtime API, because Lambda freezes the process after it.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-lambda-go/otellambda"
	"go.opentelemetry.io/otel/propagation"

	"github.com/orderflow/orderflow/functions/app"
	"github.com/orderflow/orderflow/functions/handler"
	"github.com/orderflow/orderflow/functions/lambda"
	"github.com/orderflow/orderflow/shared/setting"
	"github.com/orderflow/orderflow/telemetry"
)

// flushTimeout bounds the flush at the end of an invocation: a collector
// that does not answer costs each invocation at most this (and billed
// time), never the invocation's whole timeout.
const flushTimeout = 2 * time.Second

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
	// Same service name as the custom handler: it is the same app code.
	tel, err := telemetry.Start(ctx, telemetry.Config{ServiceName: "orderflow-handler"})
	if err != nil {
		fail(log, err)
	}
	tel.SetGlobal()
	log = slog.New(tel.SlogHandler("github.com/orderflow/orderflow/functions/cmd/lambda", log.Handler()))
	slog.SetDefault(log)
	a, err := app.Open(ctx, cfg, log, tel)
	if err != nil {
		fail(log, err)
	}
	lc := lambda.Config{Handler: a.Handler, Logger: log}
	if tel.Enabled() {
		lc.Propagator = tel.Propagator
	}
	ad, err := lambda.New(lc)
	if err != nil {
		fail(log, err)
	}
	h, err := ad.Handler(fn)
	if err != nil {
		fail(log, err)
	}
	if tel.Enabled() {
		h = otellambda.InstrumentHandler(h, otellambda.WithTracerProvider(tel.Tracer), otellambda.WithPropagator(tel.Propagator),
			otellambda.WithFlusher(flusher{tel}), otellambda.WithEventToCarrier(httpHeaders))
	}
	log.Info("lambda bootstrap ready", "function", fn, "broker", cfg.Broker, "postgresAuth", cfg.PostgresAuth, "telemetry", tel.Enabled())
	// Lambda freezes or kills the environment; there is no orderly stop
	// in which closing the pool or the broker connection would matter.
	// Nothing waits in a buffer for one either: every invocation flushed.
	awslambda.StartWithOptions(h, awslambda.WithContext(ctx))
}

// flusher flushes all three providers (otellambda's option takes one
// flusher and knows only the tracer provider), bounded by flushTimeout.
type flusher struct{ tel *telemetry.Telemetry }

func (f flusher) ForceFlush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	return f.tel.ForceFlush(ctx)
}

// httpHeaders is the invocation span's carrier: an HTTP API event's
// headers (its traceparent, when the client sent one). Other events carry
// none at the invocation level: a RabbitMQ batch mixes messages of many
// traces, so each message's trace is continued per message by the handler's
// consumer span. X-Ray's _X_AMZN_TRACE_ID is not read (see
// docs/observability.md).
func httpHeaders(event []byte) propagation.TextMapCarrier {
	var ev struct {
		Headers map[string]string `json:"headers"`
	}
	c := propagation.MapCarrier{}
	if json.Unmarshal(event, &ev) != nil {
		return c
	}
	for k, v := range ev.Headers {
		c[k] = v
	}
	return c
}

// fail logs an init failure and exits non-zero, which Lambda reports as an
// init error (Runtime.ExitError) and retries on the next invocation.
func fail(log *slog.Logger, err error) {
	log.Error("lambda bootstrap failed to start", "err", err)
	os.Exit(1)
}
