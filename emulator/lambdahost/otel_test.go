package lambdahost_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/emulator/lambdahost"
	"github.com/orderflow/orderflow/telemetry"
)

type recorded struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tel    *telemetry.Telemetry
}

func recorder(t *testing.T) recorded {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return recorded{spans: rec, reader: reader, tel: telemetry.FromProviders(tp, mp, nil)}
}

// sums returns each counter's total by faas.invoked_name.
func (r recorded) sums(t *testing.T) map[string]map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					fn, _ := p.Attributes.Value(attribute.Key("faas.invoked_name"))
					if out[m.Name] == nil {
						out[m.Name] = map[string]int64{}
					}
					out[m.Name][fn.AsString()] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					fn, _ := p.Attributes.Value(attribute.Key("faas.invoked_name"))
					if out[m.Name] == nil {
						out[m.Name] = map[string]int64{}
					}
					out[m.Name][fn.AsString()] += int64(p.Count)
				}
			}
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// TestTelemetryHTTPInvocation: an HTTP request gets a SERVER span named
// after its route that continues the client's traceparent, the invocation
// a CLIENT span under it whose ids reach the runtime in the X-Ray header;
// the event itself carries only the client's headers, as on AWS. The
// faas.* metrics count it.
func TestTelemetryHTTPInvocation(t *testing.T) {
	t.Parallel()
	rec := recorder(t)
	h := start(t, lambdahost.Config{Telemetry: rec.tel, Functions: []lambdahost.Function{{Name: "echo", Timeout: 5 * time.Second}},
		Routes: []lambdahost.Route{{Method: "POST", Path: "/echo/{x}", Function: "echo"}}})
	const client = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, h.URL()+"/echo/1", strings.NewReader(`{}`))
	req.Header.Set("Traceparent", client)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e echoed
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var server, invoke sdktrace.ReadOnlySpan
	for _, s := range rec.spans.Ended() {
		switch {
		case s.SpanKind() == trace.SpanKindServer:
			server = s
		case s.SpanKind() == trace.SpanKindClient:
			invoke = s
		}
	}
	if server == nil || invoke == nil {
		t.Fatalf("spans: %d ended, want a server and a client span", len(rec.spans.Ended()))
	}
	if server.Name() != "POST /echo/{x}" || server.Parent().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" ||
		attr(server, "http.route") != "/echo/{x}" {
		t.Errorf("server span %q parent %s route %q", server.Name(), server.Parent().TraceID(), attr(server, "http.route"))
	}
	if invoke.Name() != "invoke echo" || invoke.Parent().SpanID() != server.SpanContext().SpanID() || attr(invoke, "faas.invoked_name") != "echo" {
		t.Errorf("invoke span %q parent %s", invoke.Name(), invoke.Parent().SpanID())
	}
	if attr(invoke, "aws.request_id") != e.RequestID {
		t.Errorf("invoke span request id %q, runtime got %q", attr(invoke, "aws.request_id"), e.RequestID)
	}
	tid := invoke.SpanContext().TraceID().String()
	want := "Root=1-" + tid[:8] + "-" + tid[8:] + ";Parent=" + invoke.SpanContext().SpanID().String() + ";Sampled=1"
	if e.Trace != want {
		t.Errorf("X-Ray header %q, want %q", e.Trace, want)
	}
	var ev struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(e.Event, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Headers["traceparent"] != client {
		t.Errorf("the event's traceparent is %q, want the client's", ev.Headers["traceparent"])
	}
	sums := rec.sums(t)
	if sums["faas.invocations"]["echo"] != 1 || sums["faas.invoke_duration"]["echo"] != 1 || sums["faas.errors"]["echo"] != 0 {
		t.Errorf("metrics: %v", sums)
	}
}

// TestTelemetryBatchAndRestarts: an MQ batch is one CONSUMER span in its
// own trace linked to each message's context, with the invocation under
// it; a failed invocation counts as an error; restarts and throttles are
// counted.
func TestTelemetryBatchAndRestarts(t *testing.T) {
	t.Parallel()
	rec := recorder(t)
	ch, q := quorumQueue(t, 5)
	log := filepath.Join(t.TempDir(), "batches.log")
	parents := []string{"00-11111111111111111111111111111111-1111111111111111-01", "00-22222222222222222222222222222222-2222222222222222-01"}
	for i, tp := range parents {
		if err := ch.PublishWithContext(ctx(t), "", q, true, false, amqp.Publishing{MessageId: "m" + string(rune('1'+i)), Body: []byte("ok"),
			Headers: amqp.Table{"traceparent": tp}}); err != nil {
			t.Fatal(err)
		}
	}
	// Both are queued before the host starts, so they arrive as one batch.
	h := start(t, lambdahost.Config{Telemetry: rec.tel, RabbitMQURL: rabbitURL(),
		Functions: []lambdahost.Function{{Name: "batch", Timeout: 5 * time.Second, Env: map[string]string{"BATCH_LOG": log}}, {Name: "crash", Timeout: 5 * time.Second}},
		Queues:    []lambdahost.Queue{{Function: "batch", Queue: q, BatchSize: 10, Window: 300 * time.Millisecond}}})
	waitLines(t, log, 1)
	var batch, invoke sdktrace.ReadOnlySpan
	eventually(t, 10*time.Second, func() bool {
		for _, s := range rec.spans.Ended() {
			switch s.SpanKind() {
			case trace.SpanKindConsumer:
				batch = s
			case trace.SpanKindClient:
				invoke = s
			}
		}
		return batch != nil && invoke != nil
	}, "the batch's spans")
	if batch.Parent().IsValid() || len(batch.Links()) != 2 || batch.Name() != "process "+q || attr(batch, "orderflow.settlement") != "ack" {
		t.Errorf("batch span %q parent %v links %d settlement %q", batch.Name(), batch.Parent(), len(batch.Links()), attr(batch, "orderflow.settlement"))
	}
	for i, l := range batch.Links() {
		if l.SpanContext.TraceID().String() != strings.Split(parents[i], "-")[1] {
			t.Errorf("link %d: trace %s", i, l.SpanContext.TraceID())
		}
	}
	if invoke.Parent().SpanID() != batch.SpanContext().SpanID() {
		t.Errorf("the invocation span is not under the batch span")
	}
	if _, err := h.Invoke(ctx(t), "crash", []byte(`"crash"`)); err == nil {
		t.Fatal("crash: no error")
	}
	if _, err := h.Invoke(ctx(t), "crash", []byte(`"ok"`)); err != nil { // the restarted runtime
		t.Fatal(err)
	}
	if code, body := control(t, h, "/admin/host/functions/crash/stop"); code != http.StatusNoContent {
		t.Fatalf("stop: %d %s", code, body)
	}
	_, _ = h.Invoke(ctx(t), "crash", []byte(`"ok"`))
	sums := rec.sums(t)
	if sums["faas.invocations"]["batch"] != 1 || sums["faas.invocations"]["crash"] != 2 || sums["faas.errors"]["crash"] != 1 ||
		sums["lambdahost.runtime.restarts"]["crash"] != 1 || sums["lambdahost.throttles"]["crash"] != 1 {
		t.Errorf("metrics: %v", sums)
	}
}
