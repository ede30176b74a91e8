package store

import "context"

// TraceContext is a W3C trace context (traceparent and tracestate) kept with
// an outbox event. The store only carries it; tracing happens elsewhere.
type TraceContext struct {
	Parent, State string
}

type traceKey struct{}

// WithTraceContext returns ctx carrying tc; Orders.Create stores it with the
// order's outbox event.
func WithTraceContext(ctx context.Context, tc TraceContext) context.Context {
	return context.WithValue(ctx, traceKey{}, tc)
}

func traceContextFrom(ctx context.Context) TraceContext {
	tc, _ := ctx.Value(traceKey{}).(TraceContext)
	return tc
}

// nullable maps "" to SQL NULL.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
