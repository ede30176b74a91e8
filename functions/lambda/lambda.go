// Package lambda adapts the order app to AWS Lambda (aws-lambda-go): API
// Gateway HTTP API payload v2 and Function URL requests, Amazon MQ for
// RabbitMQ batches and EventBridge scheduled events. It does not
// re-implement the app: every event is turned into the request the Azure
// Functions host would send and served by the very same http.Handler
// (functions/handler), so routes, validation, idempotency keys, problem
// answers and the consumers' idempotency are one code path on both clouds.
//
// One bootstrap serves every function; Functions lists them and the
// function name (ORDERFLOW_FUNCTION, else AWS_LAMBDA_FUNCTION_NAME)
// selects one.
package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/shared/topology"
)

// The functions of the app on Lambda.
const (
	// FunctionAPI serves every HTTP route (/api/orders, /api/products, ...).
	FunctionAPI = "Api"
	// FunctionProcessOrder consumes the process-order queue.
	FunctionProcessOrder = "ProcessOrder"
	// FunctionSendEmail consumes the send-email queue.
	FunctionSendEmail = "SendEmail"
	// FunctionOutboxRelay runs on a schedule.
	FunctionOutboxRelay = "OutboxRelay"
)

// Functions lists every function, in the order of the SAM template.
var Functions = []string{FunctionAPI, FunctionProcessOrder, FunctionSendEmail, FunctionOutboxRelay}

// Settings the bootstrap reads besides the app's (shared/setting).
const (
	// EnvFunction names the function this bootstrap serves; the SAM
	// template sets it, because deployed function names carry the stack's
	// prefix and suffix.
	EnvFunction = "ORDERFLOW_FUNCTION"
	// EnvLambdaFunctionName is set by Lambda (and by local runtimes) to the
	// function's name; the fallback when EnvFunction is unset.
	EnvLambdaFunctionName = "AWS_LAMBDA_FUNCTION_NAME"
)

// FunctionName picks the function from the environment: EnvFunction, else
// EnvLambdaFunctionName. It must be one of Functions.
func FunctionName(lookup func(string) (string, bool)) (string, error) {
	name, _ := lookup(EnvFunction)
	source := EnvFunction
	if strings.TrimSpace(name) == "" {
		name, _ = lookup(EnvLambdaFunctionName)
		source = EnvLambdaFunctionName
	}
	name = strings.TrimSpace(name)
	if !slices.Contains(Functions, name) {
		return "", fmt.Errorf("%w: %s=%q; want one of %s", ErrUnknownFunction, source, name, strings.Join(Functions, ", "))
	}
	return name, nil
}

// Config configures an Adapter.
type Config struct {
	// Handler is the app's handler (functions/handler), required.
	Handler http.Handler
	// Topology maps consumers to their queues. Default: topology.Default().
	Topology *topology.Topology
	// Logger receives invocation failures. Default: slog.Default().
	Logger *slog.Logger
	// Propagator, when set, writes the trace context of the invocation's
	// span (otellambda's) into every request handed to Handler, as the
	// Functions host does for the custom handler, so the handler's server
	// span is its child. Default: nil (requests keep the client's headers).
	Propagator propagation.TextMapPropagator
}

// Adapter turns Lambda events into the app's requests.
type Adapter struct {
	h    http.Handler
	top  topology.Topology
	log  *slog.Logger
	prop propagation.TextMapPropagator
}

// New checks cfg and returns an Adapter.
func New(cfg Config) (*Adapter, error) {
	if cfg.Handler == nil {
		return nil, fmt.Errorf("lambda: Config.Handler is required")
	}
	a := &Adapter{h: cfg.Handler, top: topology.Default(), log: cfg.Logger, prop: cfg.Propagator}
	if cfg.Topology != nil {
		a.top = *cfg.Topology
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	return a, nil
}

// Handler returns the Lambda handler of function: a function value that
// lambda.Start accepts.
func (a *Adapter) Handler(function string) (any, error) {
	switch function {
	case FunctionAPI:
		return a.HTTP, nil
	case FunctionProcessOrder, FunctionSendEmail:
		return func(ctx context.Context, ev events.RabbitMQEvent) error { return a.RabbitMQ(ctx, function, ev) }, nil
	case FunctionOutboxRelay:
		return a.Scheduled, nil
	}
	return nil, fmt.Errorf("%w: %q; want one of %s", ErrUnknownFunction, function, strings.Join(Functions, ", "))
}

// invocation is the Functions host's body for a non-HTTP trigger.
type invocation struct {
	Data     map[string]any `json:"Data"`
	Metadata map[string]any `json:"Metadata"`
}

// invocationResult is the part of the app's answer the adapter reads.
type invocationResult struct {
	Logs []string `json:"Logs"`
}

// invoke POSTs inv to /<function> of the handler, as the Functions host
// does, and returns the function's log lines; a non-200 answer is an
// error carrying them.
func (a *Adapter) invoke(ctx context.Context, function string, inv invocation) ([]string, error) {
	body, err := json.Marshal(inv)
	if err != nil {
		return nil, fmt.Errorf("encoding the %s invocation: %w", function, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/"+function, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the %s invocation: %w", function, err)
	}
	req.Header.Set("Content-Type", "application/json")
	a.traceContext(req)
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	var res invocationResult
	_ = json.Unmarshal(rec.Body.Bytes(), &res)
	if rec.Code != http.StatusOK {
		return res.Logs, fmt.Errorf("%w: %s answered %d: %s", ErrInvocation, function, rec.Code, strings.Join(res.Logs, "; "))
	}
	return res.Logs, nil
}

// traceContext replaces r's trace headers with the context of the span in
// r's context (the invocation's), when there is one and a propagator is set.
func (a *Adapter) traceContext(r *http.Request) {
	if a.prop == nil || !trace.SpanContextFromContext(r.Context()).IsValid() {
		return
	}
	for _, k := range a.prop.Fields() {
		r.Header.Del(k)
	}
	a.prop.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
}
