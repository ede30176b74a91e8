package funchost

import (
	"context"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/telemetry"
)

// Tracing in the host goes beyond the Azure host, which sends a custom
// handler no trace context of its own (docs/observability.md): this host
// continues each message's W3C trace context (traceparent, else
// Diagnostic-Id, from Service Bus application properties or RabbitMQ
// headers) in a CONSUMER span, and every call to the handler carries
// traceparent from a CLIENT span, so the handler's spans nest under it.

const otelScope = "github.com/orderflow/orderflow/emulator/funchost"

// hostTelemetry holds the host's tracer and instruments; all no-ops when
// telemetry is off.
type hostTelemetry struct {
	tel      *telemetry.Telemetry
	tracer   trace.Tracer
	faas     telemetry.FaaS
	restarts metric.Int64Counter
	deadLet  metric.Int64Counter
	retried  metric.Int64Counter
}

func newHostTelemetry(tel *telemetry.Telemetry) *hostTelemetry {
	m := tel.Meter.Meter(otelScope)
	ht := &hostTelemetry{tel: tel, tracer: tel.Tracer.Tracer(otelScope)}
	ht.faas = telemetry.NewFaaS(m)
	// Errors only flag invalid names; the instruments then still work as no-ops.
	ht.restarts, _ = m.Int64Counter("funchost.handler.restarts", metric.WithUnit("{restart}"), metric.WithDescription("Handler process restarts (crash or timeout)."))
	ht.deadLet, _ = m.Int64Counter("messaging.dead_lettered.messages", metric.WithUnit("{message}"), metric.WithDescription("Messages this host dead-lettered after the last attempt."))
	ht.retried, _ = m.Int64Counter("messaging.retried.messages", metric.WithUnit("{message}"), metric.WithDescription("Failed messages handed back for another attempt."))
	return ht
}

// wrapFront puts an HTTP server span (and the HTTP server metrics) around
// the host's HTTP front, continuing a client's traceparent.
func (ht *hostTelemetry) wrapFront(h http.Handler) http.Handler {
	if !ht.tel.Enabled() {
		return h
	}
	return otelhttp.NewHandler(h, "funchost", otelhttp.WithTracerProvider(ht.tel.Tracer), otelhttp.WithMeterProvider(ht.tel.Meter),
		otelhttp.WithPropagators(ht.tel.Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }))
}

// transport makes every call to the handler a CLIENT span that sends
// traceparent.
func (ht *hostTelemetry) transport(rt http.RoundTripper) http.RoundTripper {
	if !ht.tel.Enabled() {
		return rt
	}
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(ht.tel.Tracer), otelhttp.WithMeterProvider(ht.tel.Meter),
		otelhttp.WithPropagators(ht.tel.Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
}

// nameRoute names the front's server span after the function's route.
func nameRoute(r *http.Request, t *httpTrigger) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	route := "/" + t.route.Template
	span.SetName(r.Method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route), semconv.FaaSTriggerHTTP, attribute.String("faas.invoked_name", t.fn.Name))
}

// invoked records one invocation's outcome.
func (ht *hostTelemetry) recordInvocation(ctx context.Context, fn string, d time.Duration, err error) {
	if ht == nil || !ht.tel.Enabled() {
		return
	}
	ht.faas.Record(ctx, fn, d, err)
}

// processSpan starts the CONSUMER span of one delivery, parented on the
// message's creation context.
func (ht *hostTelemetry) processSpan(ctx context.Context, fn, dest string, props map[string]any, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !ht.tel.Enabled() {
		return ctx, trace.SpanFromContext(ctx)
	}
	msgCtx := ht.tel.Propagator.Extract(ctx, telemetry.MessageCarrier{Props: props, DiagnosticID: true})
	var opts []trace.SpanStartOption
	if sc := trace.SpanContextFromContext(msgCtx); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	attrs = append(attrs, semconv.MessagingOperationName("process"), semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationName(dest), semconv.FaaSTriggerPubSub, attribute.String("faas.invoked_name", fn))
	opts = append(opts, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
	return ht.tracer.Start(msgCtx, "process "+dest, opts...)
}

// processSpan starts the span of one Service Bus invocation. A single
// message's span is parented on (and linked to) the message's creation
// context; a batch's span, as the messaging conventions ask for a batch,
// starts its own trace and links to every message's creation context.
func (t *sbTrigger) processSpan(ctx context.Context, msgs []*azservicebus.ReceivedMessage) (context.Context, trace.Span) {
	ht := t.host.tel
	if !ht.tel.Enabled() {
		return ctx, trace.SpanFromContext(ctx)
	}
	attrs := []attribute.KeyValue{semconv.MessagingSystemServiceBus}
	if t.sub != "" {
		attrs = append(attrs, semconv.MessagingDestinationSubscriptionName(t.sub))
	}
	if m := msgs[0]; m.SessionID != nil {
		attrs = append(attrs, attribute.String("orderflow.servicebus.session_id", *m.SessionID))
	}
	if !t.batch {
		m := msgs[0]
		attrs = append(attrs, semconv.MessagingMessageID(m.MessageID), semconv.MessagingServiceBusMessageDeliveryCount(int(m.DeliveryCount)))
		return ht.processSpan(ctx, t.fn.Name, t.entity(), m.ApplicationProperties, attrs...)
	}
	links := make([]trace.Link, 0, len(msgs))
	for _, m := range msgs {
		msgCtx := ht.tel.Propagator.Extract(ctx, telemetry.MessageCarrier{Props: m.ApplicationProperties, DiagnosticID: true})
		if sc := trace.SpanContextFromContext(msgCtx); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{semconv.MessagingMessageID(m.MessageID)}})
		}
	}
	attrs = append(attrs, semconv.MessagingBatchMessageCount(len(msgs)), semconv.MessagingOperationName("process"), semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationName(t.entity()), semconv.FaaSTriggerPubSub, attribute.String("faas.invoked_name", t.fn.Name))
	return ht.tracer.Start(ctx, "process "+t.entity(), trace.WithNewRoot(), trace.WithLinks(links...),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}

// settled ends a delivery's span with its settlement (complete, abandon,
// dead_letter, retry) as an event and attribute, so retries and
// dead-lettering show in the trace.
func settled(span trace.Span, disposition string, err error, attrs ...attribute.KeyValue) {
	if !span.IsRecording() {
		return
	}
	attrs = append(attrs, attribute.String("messaging.servicebus.disposition_status", disposition))
	span.AddEvent(disposition, trace.WithAttributes(attrs...))
	span.SetAttributes(attribute.String("orderflow.settlement", disposition))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "invocation failed")
	}
	span.End()
}

// rabbitProcessSpan starts the span of a RabbitMQ delivery.
func (t *rabbitTrigger) processSpan(ctx context.Context, dl amqp.Delivery) (context.Context, trace.Span) {
	ht := t.host.tel
	if !ht.tel.Enabled() {
		return ctx, trace.SpanFromContext(ctx)
	}
	dest := dl.Exchange + ":" + dl.RoutingKey + ":" + t.queue
	attrs := []attribute.KeyValue{semconv.MessagingSystemRabbitMQ, semconv.MessagingMessageID(dl.MessageId),
		semconv.MessagingRabbitMQDestinationRoutingKey(dl.RoutingKey), attribute.Int64("messaging.rabbitmq.message.delivery_tag", int64(dl.DeliveryTag)),
		attribute.Int64("orderflow.rabbitmq.attempt", requeueCount(dl.Headers)+1)}
	return ht.processSpan(ctx, t.fn.Name, dest, dl.Headers, attrs...)
}

// restarted counts a restart of handler instance i (nil-safe: the
// supervisor runs without telemetry in some tests).
func (ht *hostTelemetry) restarted(ctx context.Context, i int) {
	if ht == nil {
		return
	}
	ht.restarts.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(attribute.Int("funchost.instance", i)))
}

// count adds one to a per-function, per-broker message counter.
func (ht *hostTelemetry) count(ctx context.Context, c metric.Int64Counter, fn, system string) {
	if !ht.tel.Enabled() {
		return
	}
	c.Add(ctx, 1, metric.WithAttributes(attribute.String("faas.invoked_name", fn), semconv.MessagingSystemKey.String(system)))
}
