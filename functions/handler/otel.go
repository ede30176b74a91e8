package handler

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/internal/jsonw"
	"github.com/orderflow/orderflow/shared/bus"
	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/telemetry"
)

// scope is the instrumentation scope of the handler's spans and metrics.
const scope = "github.com/orderflow/orderflow/functions/handler"

// instruments are the handler's tracer and metric instruments. With
// telemetry off they are no-ops and the wrappers below step aside.
type instruments struct {
	tel     *telemetry.Telemetry
	tracer  trace.Tracer
	created metric.Int64Counter
	decided metric.Int64Counter
	sent    metric.Int64Counter
	consume metric.Int64Counter
	failed  metric.Int64Counter
	process metric.Float64Histogram
}

func newInstruments(tel *telemetry.Telemetry, st *store.Store, pub bus.Publisher) instruments {
	m := tel.Meter.Meter(scope)
	in := instruments{tel: tel, tracer: tel.Tracer.Tracer(scope)}
	// Errors here only mean an invalid instrument name; the SDK then hands
	// back a working no-op instrument, so they are ignored.
	in.created, _ = m.Int64Counter("orderflow.orders.created", metric.WithUnit("{order}"), metric.WithDescription("Orders created (not counting idempotent replays)."))
	in.decided, _ = m.Int64Counter("orderflow.orders.processed", metric.WithUnit("{order}"), metric.WithDescription("Orders confirmed or rejected, by order.status."))
	in.sent, _ = m.Int64Counter("messaging.client.sent.messages", metric.WithUnit("{message}"), metric.WithDescription("Messages the broker accepted."))
	in.consume, _ = m.Int64Counter("messaging.client.consumed.messages", metric.WithUnit("{message}"), metric.WithDescription("Messages handed to a consumer function."))
	in.failed, _ = m.Int64Counter("orderflow.messages.failed", metric.WithUnit("{message}"), metric.WithDescription("Consumer invocations that failed (the message is retried or dead-lettered)."))
	in.process, _ = m.Float64Histogram("messaging.process.duration", metric.WithUnit("s"), metric.WithDescription("Duration of processing one message."))
	if tel.Enabled() && st != nil {
		_, _ = m.Int64ObservableGauge("orderflow.outbox.pending", metric.WithUnit("{event}"),
			metric.WithDescription("Outbox events not yet published (the relay's backlog)."),
			metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
				ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				n, err := st.Outbox.Pending(ctx)
				if err != nil {
					return err
				}
				o.Observe(int64(n))
				return nil
			}))
	}
	if d, ok := pub.(queueDepther); ok && tel.Enabled() {
		_, _ = m.Int64ObservableGauge("rabbitmq.queue.messages", metric.WithUnit("{message}"),
			metric.WithDescription("Ready messages in each consumer queue and dead-letter queue (passive declare)."),
			metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
				ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				depths, err := d.QueueDepths(ctx)
				for q, n := range depths {
					o.Observe(int64(n), metric.WithAttributes(semconv.MessagingDestinationName(q)))
				}
				return err
			}))
	}
	return in
}

// queueDepther is a publisher that can count its queues (RabbitMQ).
type queueDepther interface {
	QueueDepths(ctx context.Context) (map[string]int, error)
}

// wrapHTTP puts an HTTP server span around every request the handler gets,
// continuing the caller's trace context (our host sends one; a client of an
// HTTP function may).
func (h *Handler) wrapHTTP(next http.Handler) http.Handler {
	if !h.inst.tel.Enabled() {
		return next
	}
	withID := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get("X-Azure-Functions-InvocationId"); id != "" {
			r = r.WithContext(context.WithValue(r.Context(), invocationIDKey{}, id))
		}
		next.ServeHTTP(w, r)
	})
	return otelhttp.NewHandler(withID, "handler",
		otelhttp.WithTracerProvider(h.inst.tel.Tracer), otelhttp.WithMeterProvider(h.inst.tel.Meter),
		otelhttp.WithPropagators(h.inst.tel.Propagator),
		// The host's readiness and health pings (GET /) are not worth a trace.
		otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/" }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
}

// nameRoute names the request's server span after its route, as the HTTP
// conventions ask (never the raw path of a parameterised route).
func nameRoute(r *http.Request, pattern string) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	span.SetName(r.Method + " " + pattern)
	span.SetAttributes(semconv.HTTPRoute(pattern))
}

// brokerSystem maps the BROKER setting to messaging.system.
func (h *Handler) brokerSystem() attribute.KeyValue {
	if h.cfg.Broker == "rabbitmq" {
		return semconv.MessagingSystemRabbitMQ
	}
	return semconv.MessagingSystemServiceBus
}

// sendTraced runs send inside a PRODUCER span and hands it the message
// properties that carry the span's context to the consumers (traceparent,
// tracestate, and Diagnostic-Id on Service Bus for the Azure SDKs).
func (h *Handler) sendTraced(ctx context.Context, e store.Event, send func(context.Context, map[string]string) error) error {
	if !h.inst.tel.Enabled() {
		return send(ctx, nil)
	}
	dest := h.cfg.Topology.Topic
	attrs := []attribute.KeyValue{h.brokerSystem(), semconv.MessagingOperationName("send"), semconv.MessagingOperationTypeSend,
		semconv.MessagingMessageID(e.EventID.String())}
	if h.cfg.Broker == "rabbitmq" {
		dest += ":" + e.Subject
		attrs = append(attrs, semconv.MessagingRabbitMQDestinationRoutingKey(e.Subject))
	}
	attrs = append(attrs, semconv.MessagingDestinationName(dest))
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...)}
	if e.Trace.Parent != "" {
		// OutboxRelay publishing later: the send continues the trace of the
		// request that created the event, linked to the relay's invocation.
		created := h.inst.tel.Propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": e.Trace.Parent, "tracestate": e.Trace.State})
		if sc := trace.SpanContextFromContext(created); sc.IsValid() && sc.TraceID() != trace.SpanContextFromContext(ctx).TraceID() {
			opts = append(opts, trace.WithLinks(trace.LinkFromContext(ctx)))
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	ctx, span := h.inst.tracer.Start(ctx, "send "+dest, opts...)
	defer span.End()
	props := map[string]any{}
	h.inst.tel.Propagator.Inject(ctx, telemetry.MessageCarrier{Props: props, DiagnosticID: h.cfg.Broker != "rabbitmq"})
	out := make(map[string]string, len(props))
	for k, v := range props {
		out[k], _ = v.(string)
	}
	if err := send(ctx, out); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		return err
	}
	h.inst.sent.Add(ctx, 1, metric.WithAttributes(h.brokerSystem(), semconv.MessagingDestinationName(dest)))
	return nil
}

// withTraceContext puts the request's trace context into ctx for the
// outbox row (store.WithTraceContext).
func (h *Handler) withTraceContext(ctx context.Context) context.Context {
	if !h.inst.tel.Enabled() {
		return ctx
	}
	c := propagation.MapCarrier{}
	h.inst.tel.Propagator.Inject(ctx, c)
	if c["traceparent"] == "" {
		return ctx
	}
	return store.WithTraceContext(ctx, store.TraceContext{Parent: c["traceparent"], State: c["tracestate"]})
}

// invocationFunc is a non-HTTP function of the handler.
type invocationFunc func(ctx context.Context, inv Invocation) ([]string, error)

// consumer wraps a queue-triggered function with a CONSUMER "process" span
// and the consumer metrics. The span always links to the message's creation
// context. Under our host the invocation request already continues the
// message's trace, so the span is a child of the request. The Azure host
// sends no trace context of its own to a custom handler, so there the span
// takes the message's context as parent (as the Service Bus processor of
// the Azure SDK does), keeping one trace per order; the request's own span
// is then linked.
func (h *Handler) consumer(function string, fn invocationFunc) invocationFunc {
	if !h.inst.tel.Enabled() {
		return fn
	}
	return func(ctx context.Context, inv Invocation) ([]string, error) {
		d := delivery(inv.Metadata)
		msgSC := trace.SpanContextFromContext(h.inst.tel.Propagator.Extract(context.Background(), telemetry.MessageCarrier{Props: d.props, DiagnosticID: true}))
		reqSC := trace.SpanContextFromContext(ctx)
		// Both trigger variants of a consumer share its subscription/queue.
		sub := h.consumerName(strings.TrimSuffix(function, "RabbitMQ"))
		dest := h.cfg.Topology.Topic
		attrs := []attribute.KeyValue{semconv.MessagingOperationName("process"), semconv.MessagingOperationTypeProcess,
			semconv.MessagingConsumerGroupName(sub), semconv.FaaSTriggerPubSub, attribute.String("orderflow.function", function)}
		system := semconv.MessagingSystemServiceBus
		if d.rabbit {
			system = semconv.MessagingSystemRabbitMQ
			dest = d.exchange + ":" + d.routingKey + ":" + sub
			if d.exchange == "" && d.routingKey == "" {
				// The Lambda event source names only the queue.
				dest = sub
			}
			attrs = append(attrs, semconv.MessagingRabbitMQDestinationRoutingKey(d.routingKey))
		} else {
			attrs = append(attrs, semconv.MessagingDestinationSubscriptionName(sub))
			if d.deliveryCount > 0 {
				attrs = append(attrs, semconv.MessagingServiceBusMessageDeliveryCount(d.deliveryCount))
			}
		}
		attrs = append(attrs, system, semconv.MessagingDestinationName(dest))
		if d.messageID != "" {
			attrs = append(attrs, semconv.MessagingMessageID(d.messageID))
		}
		if id := invocationID(ctx); id != "" {
			attrs = append(attrs, semconv.FaaSInvocationID(id))
		}
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
		parent := ctx
		if msgSC.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: msgSC}))
			if reqSC.TraceID() != msgSC.TraceID() {
				parent = trace.ContextWithRemoteSpanContext(ctx, msgSC)
				if reqSC.IsValid() {
					opts = append(opts, trace.WithLinks(trace.Link{SpanContext: reqSC}))
				}
			}
		}
		ctx, span := h.inst.tracer.Start(parent, "process "+dest, opts...)
		defer span.End()
		start := time.Now()
		logs, err := fn(ctx, inv)
		mattrs := metric.WithAttributes(system, semconv.MessagingConsumerGroupName(sub), attribute.String("orderflow.function", function))
		h.inst.consume.Add(ctx, 1, mattrs)
		h.inst.process.Record(ctx, time.Since(start).Seconds(), mattrs)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "invocation failed; the message is retried or dead-lettered")
			h.inst.failed.Add(ctx, 1, mattrs)
		}
		return logs, err
	}
}

// orderDecided counts a confirmed or rejected order.
func (h *Handler) orderDecided(ctx context.Context, status string) {
	if !h.inst.tel.Enabled() {
		return
	}
	h.inst.decided.Add(ctx, 1, metric.WithAttributes(attribute.String("order.status", status)))
}

// invocationIDKey carries X-Azure-Functions-InvocationId to the consumer span.
type invocationIDKey struct{}

func invocationID(ctx context.Context) string {
	s, _ := ctx.Value(invocationIDKey{}).(string)
	return s
}

// deliveryInfo is what the consumer span needs from an invocation's
// Metadata.
type deliveryInfo struct {
	rabbit               bool
	props                map[string]any
	messageID            string
	deliveryCount        int
	exchange, routingKey string
}

// delivery reads the trace carrier and message facts from Metadata: Service
// Bus ApplicationProperties, or RabbitMQ BasicProperties.Headers (the
// Functions RabbitMQ extension serialises header values, .NET byte[], as
// base64; plain strings are accepted too).
func delivery(md Metadata) deliveryInfo {
	d := deliveryInfo{props: map[string]any{}}
	if raw := md.BasicProperties; raw != nil {
		d.rabbit = true
		var bp struct {
			MessageID *string                    `json:"MessageId"`
			Headers   map[string]json.RawMessage `json:"Headers"`
		}
		_ = json.Unmarshal(unwrapJSON(raw), &bp)
		if bp.MessageID != nil {
			d.messageID = *bp.MessageID
		}
		for k, v := range bp.Headers {
			if s, ok := jsonString(v); ok {
				d.props[k] = headerText(s)
			}
		}
		d.exchange, _ = jsonString(md.Exchange)
		d.routingKey, _ = jsonString(md.RoutingKey)
		return d
	}
	stringProps(unwrapJSON(md.ApplicationProperties), d.props)
	d.messageID, _ = jsonString(md.MessageID)
	if s, ok := jsonString(md.DeliveryCount); ok {
		d.deliveryCount, _ = strconv.Atoi(s)
	} else {
		_ = json.Unmarshal(md.DeliveryCount, &d.deliveryCount)
	}
	return d
}

// stringProps copies the members of the JSON object raw that jsonString
// reads as strings into the empty map props, as decoding raw into a
// map[string]json.RawMessage and reading each value did.
func stringProps(raw json.RawMessage, props map[string]any) {
	if json.Valid(raw) {
		ok := jsonw.Members(raw, func(key, v []byte) bool {
			if !ascii(key) {
				return false // encoding/json replaces invalid UTF-8 in names
			}
			if str, ok := jsonString(v); ok {
				props[string(key)] = str
			} else {
				delete(props, string(key)) // a later member replaces an earlier one
			}
			return true
		})
		if ok {
			return
		}
		clear(props)
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	for k, v := range m {
		if s, ok := jsonString(v); ok {
			props[k] = s
		}
	}
}

// unwrapJSON returns the JSON text inside a JSON string (hosts send some
// binding data as strings holding JSON), else raw.
func unwrapJSON(raw json.RawMessage) json.RawMessage {
	if s, ok := unmarshalString(raw); ok {
		return json.RawMessage(s)
	}
	return raw
}

// jsonString decodes a JSON string, unwrapping a second level of quoting.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	s, ok := unmarshalString(raw)
	if !ok {
		return "", false
	}
	if len(s) > 1 && s[0] == '"' {
		if inner, ok := unmarshalString(s); ok {
			return inner, true
		}
	}
	return s, true
}

// headerText decodes a base64 header value when it is base64 of printable
// text; a traceparent (55 characters) is never valid base64, so it stays.
func headerText(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return s
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return s
		}
	}
	return string(b)
}
