// Package telemetry sets up OpenTelemetry for every process of the
// repository: the custom handler, the local Functions host and the Service
// Bus emulator. It knows nothing of the app, so emulator/ may import it
// (docs/architecture.md).
//
// Export follows the standard OTEL_* environment variables through
// go.opentelemetry.io/contrib/exporters/autoexport (OTLP over HTTP/protobuf
// by default, gRPC with OTEL_EXPORTER_OTLP_PROTOCOL=grpc). With no exporter
// configured, or OTEL_SDK_DISABLED=true, every provider is a no-op and
// nothing is exported or buffered.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/log"
	lognoop "go.opentelemetry.io/otel/log/noop"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Config configures Start. The zero value reads everything from the
// environment.
type Config struct {
	// ServiceName is service.name unless OTEL_SERVICE_NAME or
	// OTEL_RESOURCE_ATTRIBUTES set one. Default: the executable's name.
	ServiceName string
	// Endpoint, when set, is the OTLP/HTTP base URL (e.g.
	// http://127.0.0.1:4318) used for all three signals instead of the
	// OTEL_EXPORTER_OTLP_* variables; it turns telemetry on. Tests and the
	// dashboard use it to point one in-process component at a collector
	// without touching the process environment. Default: "" (environment).
	Endpoint string
	// MetricInterval is how often metrics are exported with Endpoint.
	// Default: OTEL_METRIC_EXPORT_INTERVAL, else 60s (the SDK's default).
	MetricInterval time.Duration
	// BatchDelay is the span and log batch delay with Endpoint. Default:
	// OTEL_BSP_SCHEDULE_DELAY / OTEL_BLRP_SCHEDULE_DELAY, else the SDK's.
	BatchDelay time.Duration
	// Getenv reads the environment. Default: os.Getenv.
	Getenv func(string) string
}

// Telemetry holds the providers of one process or component. Pass its
// providers to instrumented code, or call SetGlobal once in a main.
type Telemetry struct {
	// Tracer, Meter and Logger are the providers; no-ops when disabled.
	Tracer trace.TracerProvider
	Meter  metric.MeterProvider
	Logger log.LoggerProvider
	// Propagator is W3C trace context and baggage when enabled, and a
	// propagator that carries nothing when disabled.
	Propagator propagation.TextMapPropagator

	enabled  bool
	once     sync.Once
	shutdown []func(context.Context) error
	flush    []func(context.Context) error
	err      error
}

// Disabled returns telemetry that records and propagates nothing.
func Disabled() *Telemetry {
	return &Telemetry{
		Tracer: tracenoop.NewTracerProvider(), Meter: metricnoop.NewMeterProvider(), Logger: lognoop.NewLoggerProvider(),
		Propagator: propagation.NewCompositeTextMapPropagator(),
	}
}

// Enabled reports whether anything is exported; a nil Telemetry is off.
func (t *Telemetry) Enabled() bool { return t != nil && t.enabled }

// configured reports whether the environment asks for export: an OTLP
// endpoint or an explicit OTEL_*_EXPORTER. Without one, autoexport would
// send to localhost:4318, which nobody asked for.
func configured(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	for _, k := range []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER",
	} {
		if strings.TrimSpace(getenv(k)) != "" {
			return true
		}
	}
	return false
}

// Start builds the providers. It does not touch the otel globals.
func Start(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if strings.EqualFold(strings.TrimSpace(cfg.Getenv("OTEL_SDK_DISABLED")), "true") ||
		(cfg.Endpoint == "" && !configured(cfg.Getenv)) {
		return Disabled(), nil
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = strings.TrimSuffix(executableName(), ".exe")
	}
	// Detectors later in the list win: OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override the name given in code.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(cfg.ServiceName)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithProcessPID(), resource.WithHost())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	t := &Telemetry{enabled: true, Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
	fail := func(what string, err error) (*Telemetry, error) {
		_ = t.Shutdown(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("telemetry %s exporter: %w", what, err)
	}

	var spanExp sdktrace.SpanExporter
	var reader sdkmetric.Reader
	var logExp sdklog.Exporter
	if cfg.Endpoint != "" {
		base := strings.TrimRight(cfg.Endpoint, "/")
		if spanExp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(base+"/v1/traces")); err != nil {
			return fail("span", err)
		}
		mexp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(base+"/v1/metrics"))
		if err != nil {
			return fail("metric", err)
		}
		var opts []sdkmetric.PeriodicReaderOption
		if cfg.MetricInterval > 0 {
			opts = append(opts, sdkmetric.WithInterval(cfg.MetricInterval))
		}
		reader = sdkmetric.NewPeriodicReader(mexp, opts...)
		if logExp, err = otlploghttp.New(ctx, otlploghttp.WithEndpointURL(base+"/v1/logs")); err != nil {
			return fail("log", err)
		}
	} else {
		if spanExp, err = autoexport.NewSpanExporter(ctx); err != nil {
			return fail("span", err)
		}
		if reader, err = autoexport.NewMetricReader(ctx); err != nil {
			return fail("metric", err)
		}
		if logExp, err = autoexport.NewLogExporter(ctx); err != nil {
			return fail("log", err)
		}
	}

	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if !autoexport.IsNoneSpanExporter(spanExp) {
		var bo []sdktrace.BatchSpanProcessorOption
		if cfg.BatchDelay > 0 {
			bo = append(bo, sdktrace.WithBatchTimeout(cfg.BatchDelay))
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(spanExp, bo...))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	t.Tracer, t.shutdown, t.flush = tp, append(t.shutdown, tp.Shutdown), append(t.flush, tp.ForceFlush)

	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	if !autoexport.IsNoneMetricReader(reader) {
		mpOpts = append(mpOpts, sdkmetric.WithReader(reader))
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)
	t.Meter, t.shutdown, t.flush = mp, append(t.shutdown, mp.Shutdown), append(t.flush, mp.ForceFlush)

	lpOpts := []sdklog.LoggerProviderOption{sdklog.WithResource(res)}
	if !autoexport.IsNoneLogExporter(logExp) {
		var bo []sdklog.BatchProcessorOption
		if cfg.BatchDelay > 0 {
			bo = append(bo, sdklog.WithExportInterval(cfg.BatchDelay))
		}
		lpOpts = append(lpOpts, sdklog.WithProcessor(sdklog.NewBatchProcessor(logExp, bo...)))
	}
	lp := sdklog.NewLoggerProvider(lpOpts...)
	t.Logger, t.shutdown, t.flush = lp, append(t.shutdown, lp.Shutdown), append(t.flush, lp.ForceFlush)
	return t, nil
}

// SetGlobal installs the providers and the propagator as the otel globals,
// for code that uses otel.Tracer and friends (otelhttp, otelpgx defaults).
func (t *Telemetry) SetGlobal() {
	otel.SetTracerProvider(t.Tracer)
	otel.SetMeterProvider(t.Meter)
	otel.SetTextMapPropagator(t.Propagator)
	otel.SetLoggerProvider(t.Logger)
}

// Shutdown flushes and stops the exporters. It is idempotent; ctx bounds it.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.once.Do(func() {
		var errs []error
		for i := len(t.shutdown) - 1; i >= 0; i-- {
			errs = append(errs, t.shutdown[i](ctx))
		}
		t.err = errors.Join(errs...)
	})
	return t.err
}

// ForceFlush exports every span, metric and log record buffered so far
// without stopping anything: what a process that is about to be frozen
// (a Lambda execution environment after its response) must do. All three
// providers are flushed even if one fails; ctx bounds it. A nil or
// disabled Telemetry has nothing to flush.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	var errs []error
	for _, f := range t.flush {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// SlogHandler returns h extended for telemetry: records carry trace_id and
// span_id of the span in their context, and, when enabled, are also
// exported as OTel log records under scope name.
func (t *Telemetry) SlogHandler(name string, h slog.Handler) slog.Handler {
	h = TraceIDs(h)
	if !t.enabled {
		return h
	}
	return slog.NewMultiHandler(h, textValues(otelslog.NewHandler(name, otelslog.WithLoggerProvider(t.Logger))))
}

func executableName() string {
	exe, err := os.Executable()
	if err != nil {
		return "unknown_service"
	}
	i := strings.LastIndexAny(exe, `/\`)
	return exe[i+1:]
}

// FromProviders wraps providers built elsewhere (a test's span recorder, an
// application's own SDK setup) as enabled Telemetry with the W3C
// propagator. Nil providers are no-ops. Shutdown does not stop them.
func FromProviders(tp trace.TracerProvider, mp metric.MeterProvider, lp log.LoggerProvider) *Telemetry {
	t := Disabled()
	t.enabled = true
	t.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	if tp != nil {
		t.Tracer = tp
	}
	if mp != nil {
		t.Meter = mp
	}
	if lp != nil {
		t.Logger = lp
	}
	return t
}
