package dashboard_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/orderflow/orderflow/dashboard"
)

// startGRPC starts a dashboard with its OTLP/gRPC receiver on a free port.
func startGRPC(t *testing.T) *dashboard.Dashboard {
	t.Helper()
	d := start(t, dashboard.Config{GRPCAddr: "127.0.0.1:0"})
	if d.GRPCAddr() == "" {
		t.Fatal("no OTLP/gRPC address")
	}
	return d
}

// TestReceivesOTLPOverGRPC exports a span, a metric and a log record with
// the standard OTLP/gRPC exporters (what autoexport builds with
// OTEL_EXPORTER_OTLP_PROTOCOL=grpc), gzip-compressed as
// OTEL_EXPORTER_OTLP_COMPRESSION=gzip asks, and finds them on the pages.
func TestReceivesOTLPOverGRPC(t *testing.T) {
	t.Parallel()
	d := startGRPC(t)
	ctx := context.Background()
	res := resource.NewSchemaless(semconv.ServiceName("grpc-exporter"))

	spanExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(d.GRPCAddr()), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithCompressor("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spanExp), sdktrace.WithResource(res))
	_, span := tp.Tracer("t").Start(ctx, "POST /api/orders over gRPC")
	span.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	metricExp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(d.GRPCAddr()), otlpmetricgrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp)), sdkmetric.WithResource(res))
	c, _ := mp.Meter("t").Int64Counter("orderflow.grpc.received")
	c.Add(ctx, 5)
	if err := mp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	logExp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(d.GRPCAddr()), otlploggrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logExp)), sdklog.WithResource(res))
	var rec otellog.Record
	rec.SetBody(attribute.StringValue("record sent over gRPC"))
	rec.SetSeverity(otellog.SeverityInfo)
	lp.Logger("t").Emit(ctx, rec)
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	tid := span.SpanContext().TraceID().String()
	if code, body := get(t, d.URL()+"/traces/"+tid); code != 200 || !strings.Contains(body, "POST /api/orders over gRPC") || !strings.Contains(body, "grpc-exporter") {
		t.Errorf("trace page %d lacks the span:\n%s", code, body)
	}
	if code, body := get(t, d.URL()+"/metrics?name=orderflow.grpc.received"); code != 200 || !strings.Contains(body, "last 5") {
		t.Errorf("metrics page %d lacks the counter:\n%s", code, body)
	}
	if code, body := get(t, d.URL()+"/logs"); code != 200 || !strings.Contains(body, "record sent over gRPC") {
		t.Errorf("logs page %d lacks the record:\n%s", code, body)
	}
}

// TestGRPCReceiverRefusesOversizeAndForeignAuthority: a message over the
// receiver's bound is refused with ResourceExhausted, a call addressed to a
// non-loopback name with PermissionDenied; neither is stored.
func TestGRPCReceiverRefusesOversizeAndForeignAuthority(t *testing.T) {
	t.Parallel()
	d := startGRPC(t)
	dial := func(t *testing.T, opts ...grpc.DialOption) coltrace.TraceServiceClient {
		t.Helper()
		conn, err := grpc.NewClient(d.GRPCAddr(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return coltrace.NewTraceServiceClient(conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	named := func(name string) *coltrace.ExportTraceServiceRequest {
		return &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{
			Spans: []*tracepb.Span{{TraceId: make16(1), SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: name}}}}}}}
	}

	_, err := dial(t).Export(ctx, named(strings.Repeat("x", 9<<20)))
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("9 MiB export: %v, want ResourceExhausted", err)
	}
	_, err = dial(t, grpc.WithAuthority("orders.example.com")).Export(ctx, named("from afar"))
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("export to a foreign authority: %v, want PermissionDenied", err)
	}
	if _, err := dial(t, grpc.WithAuthority("localhost:4317")).Export(ctx, named("from localhost")); err != nil {
		t.Errorf("export to localhost: %v", err)
	}
	if code, body := get(t, d.URL()+"/traces"); code != 200 || strings.Contains(body, "from afar") || !strings.Contains(body, "from localhost") {
		t.Errorf("traces page %d should hold only the loopback export:\n%s", code, body)
	}
}

func make16(b byte) []byte {
	id := make([]byte, 16)
	id[15] = b
	return id
}
