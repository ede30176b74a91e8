package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// FaaS holds the FaaS semantic-convention invocation metrics that both local
// hosts (Functions and Lambda) record, so that the two report them under the
// same names, units and attributes and the dashboard reads either.
type FaaS struct {
	duration metric.Float64Histogram
	invoked  metric.Int64Counter
	errors   metric.Int64Counter
}

// NewFaaS makes the instruments on m. Errors only flag invalid names; the
// instruments then still work as no-ops, so none is returned.
func NewFaaS(m metric.Meter) FaaS {
	var f FaaS
	f.duration, _ = m.Float64Histogram("faas.invoke_duration", metric.WithUnit("s"), metric.WithDescription("Duration of function invocations, by function."))
	f.invoked, _ = m.Int64Counter("faas.invocations", metric.WithUnit("{invocation}"), metric.WithDescription("Function invocations."))
	f.errors, _ = m.Int64Counter("faas.errors", metric.WithUnit("{error}"), metric.WithDescription("Failed function invocations."))
	return f
}

// Record counts one invocation of function fn that took d, and an error
// when err is not nil.
func (f FaaS) Record(ctx context.Context, fn string, d time.Duration, err error) {
	attrs := metric.WithAttributes(attribute.String("faas.invoked_name", fn))
	f.invoked.Add(ctx, 1, attrs)
	f.duration.Record(ctx, d.Seconds(), attrs)
	if err != nil {
		f.errors.Add(ctx, 1, attrs)
	}
}
