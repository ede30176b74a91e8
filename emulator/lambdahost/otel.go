package lambdahost

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/telemetry"
)

// The host's own telemetry, as the Functions host's (emulator/funchost):
// a SERVER span per HTTP request (continuing a client's traceparent), a
// CONSUMER span per MQ batch (its own trace, linked to every message's
// context, as the messaging conventions ask for a batch), and a CLIENT
// span per invocation under them; the faas.* metrics and runtime restarts.
// The event a runtime receives is not changed: API Gateway and the event
// source pass no W3C context of their own, so the function's spans
// continue the client's and the messages' contexts as on AWS. What Lambda
// does pass, the X-Ray header (Lambda-Runtime-Trace-Id), carries the
// invocation span's ids, so a runtime that maps X-Ray can find it.

const otelScope = "github.com/orderflow/orderflow/emulator/lambdahost"

// noSpan stands for a span when telemetry is off (ending it does nothing,
// unlike ending a span the caller's context may hold).
var noSpan = trace.SpanFromContext(context.Background())

// hostTelemetry holds the tracer and instruments; no-ops when off.
type hostTelemetry struct {
	tel      *telemetry.Telemetry
	tracer   trace.Tracer
	faas     telemetry.FaaS
	throttle metric.Int64Counter
	restarts metric.Int64Counter
}

func newHostTelemetry(tel *telemetry.Telemetry) *hostTelemetry {
	if tel == nil {
		tel = telemetry.Disabled()
	}
	m := tel.Meter.Meter(otelScope)
	ht := &hostTelemetry{tel: tel, tracer: tel.Tracer.Tracer(otelScope)}
	ht.faas = telemetry.NewFaaS(m)
	// Errors only flag invalid names; the instruments then still work as no-ops.
	ht.throttle, _ = m.Int64Counter("lambdahost.throttles", metric.WithUnit("{invocation}"), metric.WithDescription("Invocations refused because the function is stopped (Lambda's Throttles)."))
	ht.restarts, _ = m.Int64Counter("lambdahost.runtime.restarts", metric.WithUnit("{restart}"), metric.WithDescription("Runtime process restarts (crash, timeout, control API)."))
	return ht
}

// wrapRoute puts an HTTP server span named after the route (and the HTTP
// server metrics) around a route's handler.
func (ht *hostTelemetry) wrapRoute(h http.Handler, route Route, routeKey string) http.Handler {
	if !ht.tel.Enabled() {
		return h
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			span.SetAttributes(semconv.HTTPRoute(route.Path), semconv.FaaSTriggerHTTP, attribute.String("faas.invoked_name", route.Function))
		}
		h.ServeHTTP(w, r)
	})
	return otelhttp.NewHandler(inner, routeKey, otelhttp.WithTracerProvider(ht.tel.Tracer), otelhttp.WithMeterProvider(ht.tel.Meter),
		otelhttp.WithPropagators(ht.tel.Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + route.Path }))
}

// batchSpan starts the CONSUMER span of one MQ batch: its own trace, linked
// to the creation context of every message.
func (ht *hostTelemetry) batchSpan(ctx context.Context, q Queue, batch []amqp.Delivery) (context.Context, trace.Span) {
	if !ht.tel.Enabled() {
		return ctx, noSpan
	}
	links := make([]trace.Link, 0, len(batch))
	for _, d := range batch {
		msgCtx := ht.tel.Propagator.Extract(ctx, telemetry.MessageCarrier{Props: d.Headers})
		if sc := trace.SpanContextFromContext(msgCtx); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{semconv.MessagingMessageID(d.MessageId)}})
		}
	}
	return ht.tracer.Start(ctx, "process "+q.Queue, trace.WithNewRoot(), trace.WithLinks(links...), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(semconv.MessagingSystemRabbitMQ, semconv.MessagingBatchMessageCount(len(batch)), semconv.MessagingOperationName("process"),
			semconv.MessagingOperationTypeProcess, semconv.MessagingDestinationName(q.Queue), semconv.FaaSTriggerPubSub,
			attribute.String("faas.invoked_name", q.Function)))
}

// endBatch ends a batch span with its settlement.
func endBatch(span trace.Span, settlement string, err error) {
	if !span.IsRecording() {
		return
	}
	span.AddEvent(settlement)
	span.SetAttributes(attribute.String("orderflow.settlement", settlement))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "invocation failed")
	}
	span.End()
}

// invokeSpan starts the CLIENT span of one invocation of fn, under ctx's
// span (a request's or a batch's) or as a root (a schedule's).
func (ht *hostTelemetry) invokeSpan(ctx context.Context, fn *function, id string) (context.Context, trace.Span) {
	if !ht.tel.Enabled() {
		return ctx, noSpan
	}
	return ht.tracer.Start(ctx, "invoke "+fn.cfg.Name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("faas.invoked_name", fn.cfg.Name), semconv.FaaSInvokedProviderAWS,
			attribute.String("faas.invoked_region", fn.h.cfg.Region), attribute.String("aws.request_id", id)))
}

// recordInvocation records one invocation's outcome on its span and in the
// metrics.
func (ht *hostTelemetry) recordInvocation(ctx context.Context, span trace.Span, fn string, d time.Duration, err error) {
	if !ht.tel.Enabled() {
		return
	}
	ht.faas.Record(context.WithoutCancel(ctx), fn, d, err)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}

// throttled counts an invocation refused because fn is stopped.
func (ht *hostTelemetry) throttled(ctx context.Context, fn string) {
	if ht.tel.Enabled() {
		ht.throttle.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(attribute.String("faas.invoked_name", fn)))
	}
}

// restarted counts a restart of environment idx of fn.
func (ht *hostTelemetry) restarted(fn string, idx int) {
	if ht.tel.Enabled() {
		ht.restarts.Add(context.Background(), 1, metric.WithAttributes(attribute.String("faas.invoked_name", fn), attribute.Int("lambdahost.environment", idx)))
	}
}

// xrayHeader renders a span context as Lambda's X-Ray trace header (the
// W3C trace id split as X-Ray's epoch and random parts, as AWS's X-Ray
// propagator maps them); without one it makes up a fresh unsampled id.
func xrayHeader(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return traceID()
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	t := hex.EncodeToString(tid[:])
	sampled := 0
	if sc.IsSampled() {
		sampled = 1
	}
	return fmt.Sprintf("Root=1-%s-%s;Parent=%s;Sampled=%d", t[:8], t[8:], hex.EncodeToString(sid[:]), sampled)
}
