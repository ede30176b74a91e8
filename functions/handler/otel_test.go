package handler

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/telemetry"
)

const (
	msgTraceID    = "4bf92f3577b34da6a3ce929d0e0e4736"
	msgSpanID     = "00f067aa0ba902b7"
	msgTraceparnt = "00-" + msgTraceID + "-" + msgSpanID + "-01"
)

func tracedHandler(t *testing.T, broker string) (*Handler, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := &Handler{cfg: Config{Broker: broker, Telemetry: telemetry.FromProviders(tp, nil, nil)}.withDefaults()}
	h.inst = newInstruments(h.cfg.Telemetry, nil, nil)
	return h, rec
}

func metadata(t *testing.T, v map[string]any) Metadata {
	t.Helper()
	md := map[string]json.RawMessage{}
	for k, x := range v {
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		md[k] = b
	}
	return metadataOf(md)
}

// metadataOf is the Metadata the envelope decoder gives for these members.
func metadataOf(md map[string]json.RawMessage) Metadata {
	var m Metadata
	for k, v := range md {
		m.set([]byte(k), v)
	}
	return m
}

// TestConsumerSpanContinuesMessageTrace covers the Azure host, which sends
// the handler no trace context: the process span must take the message's
// context (Diagnostic-Id as the .NET SDK writes it, or a RabbitMQ header the
// extension serialises as base64) as parent, so the order stays one trace.
func TestConsumerSpanContinuesMessageTrace(t *testing.T) {
	for name, tc := range map[string]struct {
		broker, function string
		md               map[string]any
	}{
		"servicebus Diagnostic-Id": {"servicebus", "ProcessOrder", map[string]any{
			"MessageId": `"m-1"`, "DeliveryCount": "2", "ApplicationProperties": map[string]any{"Diagnostic-Id": msgTraceparnt}}},
		"servicebus traceparent": {"servicebus", "SendEmail", map[string]any{
			"ApplicationProperties": map[string]any{"traceparent": msgTraceparnt, "Diagnostic-Id": "00-" + "11111111111111111111111111111111" + "-" + msgSpanID + "-01"}}},
		"rabbitmq base64 header": {"rabbitmq", "ProcessOrderRabbitMQ", map[string]any{
			"Exchange": `"orders"`, "RoutingKey": `"order.created"`,
			"BasicProperties": map[string]any{"MessageId": "m-2", "Headers": map[string]any{"traceparent": base64.StdEncoding.EncodeToString([]byte(msgTraceparnt))}}}},
	} {
		t.Run(name, func(t *testing.T) {
			h, rec := tracedHandler(t, tc.broker)
			var inner trace.SpanContext
			fn := h.consumer(tc.function, func(ctx context.Context, _ Invocation) ([]string, error) {
				inner = trace.SpanContextFromContext(ctx)
				return nil, nil
			})
			if _, err := fn(context.Background(), Invocation{Metadata: metadata(t, tc.md)}); err != nil {
				t.Fatal(err)
			}
			spans := rec.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.SpanKind() != trace.SpanKindConsumer || s.Parent().TraceID().String() != msgTraceID || s.Parent().SpanID().String() != msgSpanID {
				t.Errorf("span %q kind %v parent %v, want a consumer span parented on the message", s.Name(), s.SpanKind(), s.Parent())
			}
			if inner.SpanID() != s.SpanContext().SpanID() {
				t.Error("the function does not run inside the process span")
			}
			if len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID().String() != msgSpanID {
				t.Errorf("links %v, want one to the message's creation context", s.Links())
			}
		})
	}
}

// TestConsumerSpanUnderTracedRequest covers our host, whose request already
// continues the message's trace: the process span nests under the request.
func TestConsumerSpanUnderTracedRequest(t *testing.T) {
	h, rec := tracedHandler(t, "servicebus")
	ctx, req := h.inst.tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), remoteSC(t)), "POST /ProcessOrder")
	fn := h.consumer("ProcessOrder", func(context.Context, Invocation) ([]string, error) { return nil, nil })
	if _, err := fn(ctx, Invocation{Metadata: metadata(t, map[string]any{"ApplicationProperties": map[string]any{"traceparent": msgTraceparnt}})}); err != nil {
		t.Fatal(err)
	}
	req.End()
	process := endedOfKind(rec, trace.SpanKindConsumer)
	if process == nil || process.Parent().SpanID() != req.SpanContext().SpanID() {
		t.Fatalf("process span %v is not a child of the request span", process)
	}
	if got := process.Name(); got != "process orders" {
		t.Errorf("span name %q", got)
	}
}

// endedOfKind returns the last ended span of kind, or nil.
func endedOfKind(rec *tracetest.SpanRecorder, kind trace.SpanKind) sdktrace.ReadOnlySpan {
	var found sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanKind() == kind {
			found = s
		}
	}
	return found
}

func remoteSC(t *testing.T) trace.SpanContext {
	t.Helper()
	tid, _ := trace.TraceIDFromHex(msgTraceID)
	sid, _ := trace.SpanIDFromHex(msgSpanID)
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

// TestRelayedSendContinuesCreatingTrace: an event the relay publishes later
// is sent in the trace of the request that created it, linked to the relay.
func TestRelayedSendContinuesCreatingTrace(t *testing.T) {
	h, rec := tracedHandler(t, "servicebus")
	relayCtx, relay := h.inst.tracer.Start(context.Background(), "POST /OutboxRelay")
	var props map[string]string
	e := store.Event{Subject: "order.created", Trace: store.TraceContext{Parent: msgTraceparnt}}
	if err := h.sendTraced(relayCtx, e, func(_ context.Context, p map[string]string) error { props = p; return nil }); err != nil {
		t.Fatal(err)
	}
	relay.End()
	send := endedOfKind(rec, trace.SpanKindProducer)
	if send == nil || send.Parent().TraceID().String() != msgTraceID || send.Parent().SpanID().String() != msgSpanID {
		t.Fatalf("send span %v is not in the creating trace", send)
	}
	if len(send.Links()) != 1 || send.Links()[0].SpanContext.SpanID() != relay.SpanContext().SpanID() {
		t.Errorf("links %v, want the relay's span", send.Links())
	}
	if !strings.Contains(props["traceparent"], msgTraceID) || props[telemetry.DiagnosticID] != props["traceparent"] {
		t.Errorf("message properties %v", props)
	}
}

// FuzzDelivery feeds arbitrary invocation Metadata to the trace-context
// reader: it must never panic, and whatever it extracts is a string map.
func FuzzDelivery(f *testing.F) {
	f.Add([]byte(`{"ApplicationProperties":{"Diagnostic-Id":"` + msgTraceparnt + `"},"DeliveryCount":"2","MessageId":"\"m\""}`))
	f.Add([]byte(`{"BasicProperties":{"Headers":{"traceparent":"` + base64.StdEncoding.EncodeToString([]byte(msgTraceparnt)) + `"}},"Exchange":"\"orders\""}`))
	f.Add([]byte(`{"ApplicationProperties":"{\"traceparent\":1}","DeliveryCount":3}`))
	f.Add([]byte(`{"BasicProperties":"null"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var md map[string]json.RawMessage
		if json.Unmarshal(raw, &md) != nil {
			return
		}
		d := delivery(metadataOf(md))
		for k, v := range d.props {
			if _, ok := v.(string); !ok {
				t.Fatalf("property %q is %T", k, v)
			}
		}
		_ = telemetry.MessageCarrier{Props: d.props, DiagnosticID: true}.Get("traceparent")
	})
}
