package telemetry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/telemetry"
	"github.com/orderflow/orderflow/telemetry/otlptest"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestStartDisabledWithoutExporterOrWhenSDKDisabled(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]map[string]string{
		"nothing set":       {},
		"OTEL_SDK_DISABLED": {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"},
	} {
		tel, err := telemetry.Start(context.Background(), telemetry.Config{Getenv: env(e)})
		if err != nil {
			t.Fatal(err)
		}
		if tel.Enabled() {
			t.Errorf("%s: enabled", name)
		}
		_, span := tel.Tracer.Tracer("x").Start(context.Background(), "s")
		if span.IsRecording() {
			t.Errorf("%s: span records", name)
		}
		carrier := propagation.MapCarrier{}
		tel.Propagator.Inject(trace.ContextWithSpanContext(context.Background(), sampledSC()), carrier)
		if len(carrier) != 0 {
			t.Errorf("%s: disabled propagator wrote %v", name, carrier)
		}
	}
}

func TestStartExportsAllSignalsToCollector(t *testing.T) {
	t.Parallel()
	col := otlptest.Start(t)
	tel, err := telemetry.Start(context.Background(), telemetry.Config{ServiceName: "svc", Endpoint: col.URL, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	log := slog.New(tel.SlogHandler("test", slog.NewTextHandler(&out, nil)))
	ctx, span := tel.Tracer.Tracer("test").Start(context.Background(), "work")
	log.InfoContext(ctx, "inside")
	c, _ := tel.Meter.Meter("test").Int64Counter("test.count")
	c.Add(ctx, 1)
	span.End()
	sdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(sdown); err != nil {
		t.Fatal(err)
	}
	if err := tel.Shutdown(sdown); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	spans := col.Spans()
	if len(spans) != 1 || spans[0].Name != "work" || spans[0].Service != "svc" {
		t.Fatalf("spans %v", spans)
	}
	if _, ok := col.Metrics()["test.count"]; !ok {
		t.Errorf("metric not exported: %v", col.Metrics())
	}
	logs := col.Logs()
	if tid := span.SpanContext().TraceID(); len(logs) != 1 || string(logs[0].TraceId) != string(tid[:]) {
		t.Errorf("logs %v", logs)
	}
	if want := "trace_id=" + span.SpanContext().TraceID().String(); !strings.Contains(out.String(), want) {
		t.Errorf("text log %q lacks %s", out.String(), want)
	}
}

func TestMessageCarrierDiagnosticID(t *testing.T) {
	t.Parallel()
	prop := propagation.TraceContext{}
	props := map[string]any{}
	prop.Inject(trace.ContextWithSpanContext(context.Background(), sampledSC()), telemetry.MessageCarrier{Props: props, DiagnosticID: true})
	if props["traceparent"] == nil || props["traceparent"] != props[telemetry.DiagnosticID] {
		t.Fatalf("props %v: want traceparent and the same Diagnostic-Id", props)
	}
	// A .NET sender writes only Diagnostic-Id; RabbitMQ clients may send bytes.
	for _, p := range []map[string]any{
		{telemetry.DiagnosticID: props["traceparent"]},
		{"traceparent": []byte(props["traceparent"].(string))},
	} {
		sc := trace.SpanContextFromContext(prop.Extract(context.Background(), telemetry.MessageCarrier{Props: p, DiagnosticID: true}))
		if sc.TraceID() != sampledSC().TraceID() {
			t.Errorf("extract from %v = %v", p, sc)
		}
	}
	rabbit := map[string]any{}
	prop.Inject(trace.ContextWithSpanContext(context.Background(), sampledSC()), telemetry.MessageCarrier{Props: rabbit})
	if _, ok := rabbit[telemetry.DiagnosticID]; ok {
		t.Error("Diagnostic-Id written without DiagnosticID")
	}
}

func sampledSC() trace.SpanContext {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
}

type status string

// TestLogValuesExportAsText: UUIDs and named string types reach the
// collector as their text, not as byte arrays or "unhandled".
func TestLogValuesExportAsText(t *testing.T) {
	t.Parallel()
	col := otlptest.Start(t)
	tel, err := telemetry.Start(context.Background(), telemetry.Config{Endpoint: col.URL, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	id := [16]byte{0xa0, 1}
	log := slog.New(tel.SlogHandler("test", slog.NewTextHandler(io.Discard, nil)))
	log.With("order", uuidish(id)).Info("order processed", "status", status("confirmed"), "err", errors.New("boom"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	logs := col.Logs()
	if len(logs) != 1 {
		t.Fatalf("%d log records", len(logs))
	}
	got := map[string]string{}
	for _, kv := range logs[0].Attributes {
		got[kv.Key] = kv.Value.GetStringValue()
	}
	if got["order"] != uuidish(id).String() || got["status"] != "confirmed" || got["err"] != "boom" {
		t.Errorf("attributes %v", got)
	}
}

type uuidish [16]byte

func (u uuidish) String() string { return fmt.Sprintf("%x", u[:]) }

// TestForceFlushExportsWithoutStopping: with batch delays and a metric
// interval far longer than the test, only ForceFlush can have exported the
// span, the metric and the log record, and the providers keep working
// after it (a Lambda environment flushes after every invocation).
func TestForceFlushExportsWithoutStopping(t *testing.T) {
	t.Parallel()
	col := otlptest.Start(t)
	tel, err := telemetry.Start(context.Background(), telemetry.Config{ServiceName: "svc", Endpoint: col.URL,
		Getenv: env(nil), BatchDelay: time.Hour, MetricInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	log := slog.New(tel.SlogHandler("test", slog.DiscardHandler))
	c, _ := tel.Meter.Meter("test").Int64Counter("test.flushed")
	for i, name := range []string{"first", "second"} {
		ctx, span := tel.Tracer.Tracer("test").Start(context.Background(), name)
		log.InfoContext(ctx, name)
		c.Add(ctx, 1)
		span.End()
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := tel.ForceFlush(fctx)
		cancel()
		if err != nil {
			t.Fatalf("ForceFlush %d: %v", i, err)
		}
		if spans := col.Spans(); len(spans) != i+1 || spans[i].Name != name {
			t.Fatalf("after flush %d: spans %v", i, spans)
		}
		if logs := col.Logs(); len(logs) != i+1 {
			t.Fatalf("after flush %d: %d log records", i, len(logs))
		}
		if _, ok := col.Metrics()["test.flushed"]; !ok {
			t.Fatalf("after flush %d: metric not exported: %v", i, col.Metrics())
		}
	}
	if err := telemetry.Disabled().ForceFlush(context.Background()); err != nil {
		t.Errorf("disabled ForceFlush: %v", err)
	}
	var none *telemetry.Telemetry
	if err := none.ForceFlush(context.Background()); err != nil {
		t.Errorf("nil ForceFlush: %v", err)
	}
}
