package rabbitmq_test

import (
	"context"
	"testing"
	"time"

	"github.com/orderflow/orderflow/shared/bus"
	"github.com/orderflow/orderflow/shared/bus/rabbitmq"
)

// TestQueueDepthsMatchBroker publishes two events and reads the depths with
// passive declares: both consumer queues hold two, their DLQs none.
func TestQueueDepthsMatchBroker(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.Publisher.(*rabbitmq.Publisher)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range []string{"e1", "e2"} {
		if err := p.Publish(ctx, bus.Message{ID: id, Subject: b.Topology.RoutingKey, Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := p.QueueDepths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range b.Topology.Subscriptions {
		if got[s.Name] != 2 || got[s.DeadLetterQueue()] != 0 {
			t.Errorf("%s: depth %d, dead letters %d; want 2 and 0 (all: %v)", s.Name, got[s.Name], got[s.DeadLetterQueue()], got)
		}
	}
}
