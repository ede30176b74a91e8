package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

func TestForwardChain(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "end"}))
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "mid", ForwardTo: "END"}))
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "start", ForwardTo: "mid"}))
	seqs := bd.send(t, "start", msg("hello"))
	got := bd.one(t, "end")
	if string(got.Body) != "hello" || got.EnqueueSequenceNumber != seqs[0] || got.ApplicationProperties["k"] != "v" {
		t.Fatalf("end got %+v", got)
	}
	for _, src := range []string{"start", "mid"} {
		_, err := bd.b.NewReceiver(src, broker.PeekLock)
		wantErr(t, err, broker.ErrNotAllowed)
		st, err := bd.b.Stats(src)
		must(t, err)
		if st.Total() != 0 || st.DeadLetter != 0 {
			t.Errorf("%s kept messages: %+v", src, st)
		}
		if _, err := bd.b.NewReceiver(src+"/$DeadLetterQueue", broker.PeekLock); err != nil {
			t.Errorf("DLQ of %s: %v", src, err)
		}
	}
}

func TestForwardHopLimit(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "h0"}))
	for i := 1; i <= 5; i++ {
		must(t, bd.b.CreateQueue(broker.QueueConfig{Name: fmt.Sprintf("h%d", i), ForwardTo: fmt.Sprintf("h%d", i-1)}))
	}
	bd.send(t, "h4", msg("four hops"))
	if got := bd.one(t, "h0"); string(got.Body) != "four hops" {
		t.Fatalf("h0 got %q", got.Body)
	}
	bd.send(t, "h5", msg("five hops"))
	bd.none(t, "h0")
	// The fifth hop (h1 -> h0) is refused: the message goes to h1's DLQ.
	dl := bd.one(t, "h1/$DeadLetterQueue")
	if string(dl.Body) != "five hops" || dl.ApplicationProperties[broker.PropDeadLetterReason] != broker.ReasonMaxTransferHopCountExceeded || dl.DeadLetterSource != "h1" {
		t.Fatalf("h1 DLQ got %q %v %q", dl.Body, dl.ApplicationProperties, dl.DeadLetterSource)
	}
}

func TestForwardDeadLetteredMessages(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "work", MaxDeliveryCount: 1, ForwardDeadLetteredTo: "q"}))
	bd.send(t, "work", msg("explicit"), msg("abandoned"))
	m := bd.one(t, "work")
	must(t, bd.b.DeadLetter("work", m.LockToken, "Bad", "really bad", nil))
	m = bd.one(t, "work")
	must(t, bd.b.Abandon("work", m.LockToken, nil))
	got := bd.receive(t, "q", broker.ReceiveAndDelete, 10)
	if len(got) != 2 {
		t.Fatalf("q got %d messages, want the 2 dead letters", len(got))
	}
	reasons := map[string]any{string(got[0].Body): got[0].ApplicationProperties[broker.PropDeadLetterReason], string(got[1].Body): got[1].ApplicationProperties[broker.PropDeadLetterReason]}
	if reasons["explicit"] != "Bad" || reasons["abandoned"] != broker.ReasonMaxDeliveryCountExceeded {
		t.Errorf("reasons = %v", reasons)
	}
	if got[0].DeadLetterSource != "work" || got[0].DeliveryCount != 0 {
		t.Errorf("forwarded dead letter: source %q, delivery count %d", got[0].DeadLetterSource, got[0].DeliveryCount)
	}
	st, err := bd.b.Stats("work")
	must(t, err)
	if st.DeadLetter != 0 {
		t.Errorf("work's own DLQ has %d messages", st.DeadLetter)
	}
}

func TestForwardFromSubscriptionAndScheduled(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "relay", ForwardTo: "t"}))
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "sink"}))
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "fwd", ForwardTo: "sink"}))
	bd.send(t, "t", msg("direct"))
	later := msg("scheduled")
	later.ScheduledEnqueueTime = bd.clock.Now().Add(time.Minute)
	bd.send(t, "relay", later)
	if got := bodies(bd.receive(t, "sink", broker.ReceiveAndDelete, 10)); len(got) != 1 || got[0] != "direct" {
		t.Fatalf("sink got %q, want [direct]", got)
	}
	st, err := bd.b.Stats("relay")
	must(t, err)
	if st.Scheduled != 1 {
		t.Fatalf("relay stats %+v: the scheduled message should wait there", st)
	}
	bd.clock.Advance(time.Minute)
	bd.b.RunTimers()
	if got := bd.one(t, "sink"); string(got.Body) != "scheduled" {
		t.Fatalf("sink got %q", got.Body)
	}
}

func TestForwardLoopsRefused(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	wantErr(t, bd.b.CreateQueue(broker.QueueConfig{Name: "self", ForwardTo: "self"}), broker.ErrInvalid)
	wantErr(t, bd.b.CreateQueue(broker.QueueConfig{Name: "selfdlq", ForwardDeadLetteredTo: "SelfDLQ"}), broker.ErrInvalid)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "b"}))
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "a", ForwardTo: "b"}))
	must(t, bd.b.Delete("b"))
	// a still names b: b forwarding to a would close a loop.
	wantErr(t, bd.b.CreateQueue(broker.QueueConfig{Name: "b", ForwardTo: "a"}), broker.ErrInvalid)
	// Through a topic: t/s -> a, and a queue forwarding to t.
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "c"}))
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s", ForwardTo: "c"}))
	must(t, bd.b.Delete("c"))
	wantErr(t, bd.b.CreateQueue(broker.QueueConfig{Name: "c", ForwardTo: "t"}), broker.ErrInvalid)
	wantErr(t, bd.b.CreateQueue(broker.QueueConfig{Name: "c", ForwardDeadLetteredTo: "t"}), broker.ErrInvalid)
	// Sessions: no ForwardTo, but the (session-less) DLQ may forward.
	wantErr(t, bd.b.CreateQueue(broker.QueueConfig{Name: "sq", RequiresSession: true, ForwardTo: "q"}), broker.ErrInvalid)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "sq", RequiresSession: true, ForwardDeadLetteredTo: "q"}))
}

func TestForwardToDeletedDestination(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "gone"}))
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "src", ForwardTo: "gone"}))
	must(t, bd.b.Delete("gone"))
	bd.send(t, "src", msg("orphan"))
	dl := bd.one(t, "src/$DeadLetterQueue")
	if string(dl.Body) != "orphan" || dl.ApplicationProperties[broker.PropDeadLetterReason] != broker.ReasonForwardingDestinationGone {
		t.Fatalf("src DLQ got %q %v", dl.Body, dl.ApplicationProperties)
	}
}

func TestForwardSessionlessMessageIntoSessionQueue(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "sessions", RequiresSession: true}))
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "plain", ForwardTo: "sessions"}))
	bd.send(t, "plain", msg("no session id"))
	// Not lost and not bounced back: the destination dead-letters it, as a
	// topic does for a session-enabled subscription.
	dl := bd.one(t, "sessions/$DeadLetterQueue")
	if string(dl.Body) != "no session id" || dl.DeadLetterSource != "sessions" {
		t.Fatalf("sessions DLQ got %q from %q (%v)", dl.Body, dl.DeadLetterSource, dl.ApplicationProperties)
	}
}

func TestForwardKeepsOrderUnderConcurrentSends(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "ordered"}))
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "front", ForwardTo: "ordered"}))
	const senders, each = 4, 50
	done := make(chan struct{})
	for s := range senders {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				m := msg(fmt.Sprint(s))
				m.ApplicationProperties["i"] = int64(i)
				if _, err := bd.b.Send("front", []*broker.Message{m}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range senders {
		<-done
	}
	got := bd.receive(t, "ordered", broker.ReceiveAndDelete, senders*each+1)
	if len(got) != senders*each {
		t.Fatalf("ordered got %d messages, want %d", len(got), senders*each)
	}
	// The destination holds them in the source's sequence order, across senders.
	for i := 1; i < len(got); i++ {
		if got[i].EnqueueSequenceNumber <= got[i-1].EnqueueSequenceNumber {
			t.Fatalf("position %d: source sequence %d after %d", i, got[i].EnqueueSequenceNumber, got[i-1].EnqueueSequenceNumber)
		}
	}
}
