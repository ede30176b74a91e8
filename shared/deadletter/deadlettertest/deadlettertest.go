// Package deadlettertest is the conformance suite every deadletter.Queue
// backend must pass: List shows dead letters in order without removing
// them, Replay moves them back to the live queue as clean copies, Purge
// deletes them, Depth (for a deadletter.Inspector) counts as the broker
// does, and an unknown consumer is ErrUnknownConsumer. Backends
// provide functions that dead-letter and receive messages with their own
// client, as a failing consumer and a healthy one would.
package deadlettertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/shared/deadletter"
)

// Live is a message read back from a consumer's live queue after Replay.
type Live struct {
	ID   string
	Body []byte
	// Marked reports a broker-specific trace of the earlier failure on the
	// copy (a dead-letter reason, a retry counter, a non-persistent copy):
	// a replayed message must be as clean as a first delivery.
	Marked string
}

// Backend is one broker under test, set up for one subtest.
type Backend struct {
	// Queue is the implementation under test.
	Queue deadletter.Queue
	// Consumer names the consumer whose dead letters the suite uses.
	Consumer string
	// DeadLetter sends the messages (ids[i], bodies[i]), in order, to the
	// consumer's queue and has each one dead-lettered there.
	DeadLetter func(t *testing.T, ids []string, bodies [][]byte)
	// ReceiveLive reads and settles n messages of the consumer's live queue.
	ReceiveLive func(t *testing.T, n int) []Live
	// Reason, Description and DeliveryCount are what List must report for
	// a message that DeadLetter dead-lettered.
	Reason        string
	Description   func(id string) string
	DeliveryCount int
}

// Run runs the suite. newBackend is called once per subtest and must
// register its own cleanup.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	t.Helper()
	tests := map[string]func(*testing.T, context.Context, Backend){
		"ListKeepsMessages": testListKeepsMessages,
		"Replay":            testReplay,
		"Purge":             testPurge,
		"UnknownConsumer":   testUnknownConsumer,
		"Depth":             testDepth,
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			fn(t, ctx, newBackend(t))
		})
	}
}

func messages(n int) (ids []string, bodies [][]byte) {
	for i := range n {
		ids = append(ids, fmt.Sprintf("evt-%d", i))
		bodies = append(bodies, fmt.Appendf(nil, "m%d", i))
	}
	return ids, bodies
}

func testListKeepsMessages(t *testing.T, ctx context.Context, b Backend) {
	ids, bodies := messages(3)
	b.DeadLetter(t, ids, bodies)

	got, err := b.Queue.List(ctx, b.Consumer, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("List returned %d messages, want %d", len(got), len(ids))
	}
	for i, m := range got {
		if m.ID != ids[i] || string(m.Body) != string(bodies[i]) {
			t.Errorf("message %d = %q %q, want %q %q", i, m.ID, m.Body, ids[i], bodies[i])
		}
		if m.Reason != b.Reason || m.DeliveryCount != b.DeliveryCount {
			t.Errorf("message %d: reason %q, delivery count %d; want %q, %d", i, m.Reason, m.DeliveryCount, b.Reason, b.DeliveryCount)
		}
		if b.Description != nil && m.Description != b.Description(m.ID) {
			t.Errorf("message %d: description %q, want %q", i, m.Description, b.Description(m.ID))
		}
	}
	// Listing removes nothing.
	if again, err := b.Queue.List(ctx, b.Consumer, 10); err != nil || len(again) != len(ids) {
		t.Fatalf("second List = %d messages, %v; want %d", len(again), err, len(ids))
	}
	if one, err := b.Queue.List(ctx, b.Consumer, 1); err != nil || len(one) != 1 || one[0].ID != ids[0] {
		t.Fatalf("List with max 1 = %+v, %v; want %s alone", one, err, ids[0])
	}
}

func testReplay(t *testing.T, ctx context.Context, b Backend) {
	ids, bodies := messages(3)
	b.DeadLetter(t, ids, bodies)

	n, err := b.Queue.Replay(ctx, b.Consumer, 2)
	if err != nil || n != 2 {
		t.Fatalf("Replay = %d, %v; want 2", n, err)
	}
	live := b.ReceiveLive(t, 2)
	var got []string
	for _, m := range live {
		got = append(got, m.ID)
		if i := slices.Index(ids, m.ID); i < 0 || string(m.Body) != string(bodies[i]) {
			t.Errorf("replayed %q with body %q", m.ID, m.Body)
		}
		if m.Marked != "" {
			t.Errorf("replayed %s is not clean: %s", m.ID, m.Marked)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, ids[:2]) {
		t.Errorf("replayed %v, want %v (the oldest first)", got, ids[:2])
	}
	left, err := b.Queue.List(ctx, b.Consumer, 10)
	if err != nil || len(left) != 1 || left[0].ID != ids[2] {
		t.Fatalf("after Replay List = %+v, %v; want %s alone", left, err, ids[2])
	}
}

func testPurge(t *testing.T, ctx context.Context, b Backend) {
	ids, bodies := messages(2)
	b.DeadLetter(t, ids, bodies)

	n, err := b.Queue.Purge(ctx, b.Consumer)
	if err != nil || n != len(ids) {
		t.Fatalf("Purge = %d, %v; want %d", n, err, len(ids))
	}
	if left, err := b.Queue.List(ctx, b.Consumer, 10); err != nil || len(left) != 0 {
		t.Fatalf("after Purge List = %+v, %v; want none", left, err)
	}
	if n, err := b.Queue.Purge(ctx, b.Consumer); err != nil || n != 0 {
		t.Fatalf("second Purge = %d, %v; want 0", n, err)
	}
}

func testUnknownConsumer(t *testing.T, ctx context.Context, b Backend) {
	if _, err := b.Queue.List(ctx, "nope", 1); !errors.Is(err, deadletter.ErrUnknownConsumer) {
		t.Errorf("List of an unknown consumer: %v, want ErrUnknownConsumer", err)
	}
	if _, err := b.Queue.Replay(ctx, "nope", 1); !errors.Is(err, deadletter.ErrUnknownConsumer) {
		t.Errorf("Replay of an unknown consumer: %v, want ErrUnknownConsumer", err)
	}
	if _, err := b.Queue.Purge(ctx, "nope"); !errors.Is(err, deadletter.ErrUnknownConsumer) {
		t.Errorf("Purge of an unknown consumer: %v, want ErrUnknownConsumer", err)
	}
}

// testDepth: the counts follow the broker through dead-lettering, Replay
// and consumption.
func testDepth(t *testing.T, ctx context.Context, b Backend) {
	q, ok := b.Queue.(deadletter.Inspector)
	if !ok {
		t.Skip("the backend does not count its queues")
	}
	want := func(when string, live, dead int) {
		t.Helper()
		d, err := q.Depth(ctx, b.Consumer)
		if err != nil || d.Live != live || d.Dead != dead {
			t.Fatalf("%s: Depth = %+v, %v; want %d live, %d dead", when, d, err, live, dead)
		}
	}
	want("empty", 0, 0)
	ids, bodies := messages(3)
	b.DeadLetter(t, ids, bodies)
	want("after dead-lettering 3", 0, 3)
	if n, err := q.Replay(ctx, b.Consumer, 2); err != nil || n != 2 {
		t.Fatalf("Replay = %d, %v; want 2", n, err)
	}
	want("after replaying 2", 2, 1)
	b.ReceiveLive(t, 2)
	want("after consuming them", 0, 1)
	if _, err := q.Depth(ctx, "nope"); !errors.Is(err, deadletter.ErrUnknownConsumer) {
		t.Errorf("Depth of an unknown consumer: %v, want ErrUnknownConsumer", err)
	}
}
