// Package bustest is the conformance suite every bus.Publisher backend must
// pass: publish fans out to every subscription with id, content type,
// subject and body intact; Publish returns only after a confirm; Check and
// Close behave. Backends provide a Receive function that reads a
// subscription's queue with their own client.
package bustest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/shared/bus"
	"github.com/orderflow/orderflow/shared/topology"
)

// Received is a message as a consumer saw it.
type Received struct {
	ID          string
	Type        string
	Subject     string
	ContentType string
	Body        []byte
}

// Backend is one broker under test, set up for one test.
type Backend struct {
	// Publisher publishes into Topology.
	Publisher bus.Publisher
	// Topology is the layout Publisher publishes into; every subscription
	// must receive a copy of every message. Use unique names per test so
	// tests can share a broker.
	Topology topology.Topology
	// Receive returns (and settles) the next message of subscription sub,
	// waiting until ctx ends.
	Receive func(ctx context.Context, sub string) (Received, error)
	// Shared marks entities that every subtest uses (a Service Bus namespace
	// provisioned by configuration cannot get unique names per test): the
	// subtests then take turns and Purge runs before each.
	Shared bool
	// Purge removes leftover messages from every subscription (Shared only).
	Purge func(ctx context.Context) error
}

// Run runs the suite. newBackend is called once per subtest and must
// register its own cleanup.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	t.Helper()
	tests := map[string]func(*testing.T, Backend){
		"FanOutIntact":      testFanOutIntact,
		"ManyInOrder":       testManyInOrder,
		"ConcurrentPublish": testConcurrentPublish,
		"CheckAndClose":     testCheckAndClose,
	}
	var turn sync.Mutex // serialises subtests on Shared backends
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t)
			if b.Shared {
				turn.Lock()
				defer turn.Unlock()
				if b.Purge != nil {
					if err := b.Purge(ctxFor(t)); err != nil {
						t.Fatalf("purging shared subscriptions: %v", err)
					}
				}
			}
			fn(t, b)
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func message(i int) bus.Message {
	return bus.Message{
		ID:          fmt.Sprintf("%s-%d", rand.Text(), i),
		Type:        "OrderCreated",
		Subject:     "order.created",
		ContentType: "application/json",
		Body:        fmt.Appendf(nil, `{"n":%d,"text":"é \u0000 ok"}`, i),
	}
}

func same(got Received, want bus.Message) error {
	switch {
	case got.ID != want.ID:
		return fmt.Errorf("message id %q, want %q", got.ID, want.ID)
	case got.ContentType != want.ContentType:
		return fmt.Errorf("content type %q, want %q", got.ContentType, want.ContentType)
	case got.Subject != want.Subject:
		return fmt.Errorf("subject %q, want %q", got.Subject, want.Subject)
	case got.Type != want.Type:
		return fmt.Errorf("type %q, want %q", got.Type, want.Type)
	case string(got.Body) != string(want.Body):
		return fmt.Errorf("body %q, want %q", got.Body, want.Body)
	}
	return nil
}

func testFanOutIntact(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	m := message(0)
	m.Body = append(m.Body, 0xff, 0x00, 0xfe) // not UTF-8: bytes must pass untouched
	if err := b.Publisher.Publish(ctx, m); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if len(b.Topology.Subscriptions) < 2 {
		t.Fatalf("topology needs at least two subscriptions to test fan-out")
	}
	for _, s := range b.Topology.Subscriptions {
		got, err := b.Receive(ctx, s.Name)
		if err != nil {
			t.Fatalf("receive from %s: %v", s.Name, err)
		}
		if err := same(got, m); err != nil {
			t.Errorf("subscription %s: %v", s.Name, err)
		}
	}
}

func testManyInOrder(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	const n = 20
	sent := make([]bus.Message, n)
	for i := range n {
		sent[i] = message(i)
		if err := b.Publisher.Publish(ctx, sent[i]); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	for _, s := range b.Topology.Subscriptions {
		for i := range n {
			got, err := b.Receive(ctx, s.Name)
			if err != nil {
				t.Fatalf("receive %d from %s: %v", i, s.Name, err)
			}
			if err := same(got, sent[i]); err != nil {
				t.Fatalf("subscription %s message %d: %v", s.Name, i, err)
			}
		}
	}
}

func testConcurrentPublish(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	const n = 16
	var wg sync.WaitGroup
	ids := make(map[string]bool, n)
	var mu sync.Mutex
	for i := range n {
		m := message(i)
		mu.Lock()
		ids[m.ID] = true
		mu.Unlock()
		wg.Go(func() {
			if err := b.Publisher.Publish(ctx, m); err != nil {
				t.Errorf("publish %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for _, s := range b.Topology.Subscriptions {
		seen := map[string]bool{}
		for range n {
			got, err := b.Receive(ctx, s.Name)
			if err != nil {
				t.Fatalf("receive from %s: %v", s.Name, err)
			}
			if !ids[got.ID] || seen[got.ID] {
				t.Fatalf("subscription %s: unexpected or duplicate id %q", s.Name, got.ID)
			}
			seen[got.ID] = true
		}
	}
}

func testCheckAndClose(t *testing.T, b Backend) {
	ctx := ctxFor(t)
	if err := b.Publisher.Check(ctx); err != nil {
		t.Fatalf("check: %v", err)
	}
	if err := b.Publisher.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := b.Publisher.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := b.Publisher.Publish(ctx, message(0)); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("publish after close: %v, want ErrClosed", err)
	}
}
