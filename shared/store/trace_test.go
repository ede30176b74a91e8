package store_test

import (
	"context"
	"testing"

	"github.com/orderflow/orderflow/shared/store"
)

// TestOutboxKeepsTraceContext: the creating request's trace context comes
// back with the event the relay publishes; without one the event has none.
func TestOutboxKeepsTraceContext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tc := store.TraceContext{Parent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", State: "vendor=x"}
	if _, err := b.store.Orders.Create(store.WithTraceContext(b.ctx, tc), request(), "", "order.created"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Orders.Create(b.ctx, request(), "", "order.created"); err != nil {
		t.Fatal(err)
	}
	var got []store.TraceContext
	n, err := b.store.Outbox.Relay(b.ctx, 10, 0, func(_ context.Context, e store.Event) error {
		got = append(got, e.Trace)
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("Relay = %d, %v", n, err)
	}
	if got[0] != tc || got[1] != (store.TraceContext{}) {
		t.Errorf("trace contexts %+v, want %+v then none", got, tc)
	}
}
