package broker_test

import (
	"testing"
	"time"
	"unsafe"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

func withID(id, body string) *broker.Message {
	m := msg(body)
	m.Properties.Present |= broker.PropMessageID
	m.Properties.MessageID = id
	return m
}

func bodies(msgs []*broker.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Body)
	}
	return out
}

func TestDuplicateDetectionWindowOnQueue(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "dd", RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: 10 * time.Second}))
	seqs := bd.send(t, "dd", withID("a", "first"), withID("a", "dup in same batch"), withID("b", "other id"), msg("no id"), msg("no id again"))
	if len(seqs) != 5 {
		t.Fatalf("Send returned %d numbers for 5 accepted messages", len(seqs))
	}
	bd.clock.Advance(9 * time.Second)
	bd.send(t, "dd", withID("a", "dup inside window"))
	bd.clock.Advance(time.Second) // exactly the window after the first send: forgotten
	bd.send(t, "dd", withID("a", "after window"))
	bd.clock.Advance(5 * time.Second)
	bd.send(t, "dd", withID("a", "dup of the re-accepted one"))
	got := bodies(bd.receive(t, "dd", broker.ReceiveAndDelete, 20))
	want := []string{"first", "other id", "no id", "no id again", "after window"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestDuplicateDetectionOnTopicAndDefaultWindow(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateTopic(broker.TopicConfig{Name: "ddt", RequiresDuplicateDetection: true}))
	must(t, bd.b.CreateSubscription("ddt", broker.SubscriptionConfig{Name: "s"}))
	bd.send(t, "ddt", withID("x", "one"))
	bd.clock.Advance(broker.DefaultDuplicateDetectionWindow - time.Millisecond)
	bd.send(t, "ddt", withID("x", "dup"))
	bd.clock.Advance(time.Millisecond)
	bd.send(t, "ddt", withID("x", "two"))
	got := bodies(bd.receive(t, "ddt/Subscriptions/s", broker.ReceiveAndDelete, 10))
	if len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Fatalf("subscription got %q, want [one two]", got)
	}
	// Without detection, the same id goes through.
	bd.send(t, "q", withID("x", "1"), withID("x", "2"))
	if got := bd.receive(t, "q", broker.ReceiveAndDelete, 10); len(got) != 2 {
		t.Fatalf("queue without detection kept %d of 2", len(got))
	}
}

// TestDuplicateHistoryOwnsItsIDs sends a message whose id is a view of a
// buffer, as the wire layer's are (a slice of the transfer), then reuses
// the buffer: the history must have kept its own copy of the id, so that
// it neither pins the buffer nor changes with it.
func TestDuplicateHistoryOwnsItsIDs(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "ddv", RequiresDuplicateDetection: true}))
	buf := []byte("id-1")
	bd.send(t, "ddv", withID(unsafe.String(&buf[0], len(buf)), "first"))
	copy(buf, "id-2")
	bd.send(t, "ddv", withID("id-1", "dup"))
	got := bodies(bd.receive(t, "ddv", broker.ReceiveAndDelete, 10))
	if len(got) != 1 || got[0] != "first" {
		t.Fatalf("got %q, want [first]: the history changed with the sender's buffer", got)
	}
}
