package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// Settlement, locks, deferral and dead-lettering. Uses setup from broker_test.go.

func TestSendReceiveComplete(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	now := bd.clock.Now()
	seqs := bd.send(t, "q", msg("a"), msg("b"), msg("c"))
	if fmt.Sprint(seqs) != "[1 2 3]" {
		t.Fatalf("seqs = %v, want [1 2 3]", seqs)
	}
	got := bd.receive(t, "Q", broker.PeekLock, 2)
	if len(got) != 2 || string(got[0].Body) != "a" || string(got[1].Body) != "b" {
		t.Fatalf("got %d messages, want a, b in order", len(got))
	}
	m := got[0]
	if m.SequenceNumber != 1 || m.EnqueueSequenceNumber != 1 || !m.EnqueuedTime.Equal(now) || m.DeliveryCount != 0 ||
		m.State != broker.StateActive || m.TimeToLive != time.Hour || !m.ExpiresAt().Equal(now.Add(time.Hour)) {
		t.Errorf("system fields: %+v", m)
	}
	if m.LockToken == uuid.Nil || m.LockToken == got[1].LockToken || !m.LockedUntil.Equal(now.Add(30*time.Second)) {
		t.Errorf("lock: token %v / %v, until %v", m.LockToken, got[1].LockToken, m.LockedUntil)
	}
	must(t, bd.b.Complete("q", m.LockToken))
	wantErr(t, bd.b.Complete("q", m.LockToken), broker.ErrLockLost)
	wantErr(t, bd.b.Complete("q", uuid.New()), broker.ErrLockLost)
	st, err := bd.b.Stats("q")
	must(t, err)
	if st.Locked != 1 || st.Active != 1 || st.Total() != 2 {
		t.Errorf("stats = %+v, want 1 locked, 1 active", st)
	}
	if c := bd.one(t, "q"); string(c.Body) != "c" {
		t.Errorf("third message = %q, want c", c.Body)
	}
}

func TestCompetingReceiversGetDistinctMessages(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	for i := range 10 {
		bd.send(t, "q", msg(fmt.Sprint(i)))
	}
	r1, err := bd.b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	r2, err := bd.b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	seen := map[int64]bool{}
	for i := range 5 {
		for _, r := range []*broker.Receiver{r1, r2} {
			got, err := r.TryReceive(1)
			must(t, err)
			if len(got) != 1 {
				t.Fatalf("round %d: got %d", i, len(got))
			}
			if seen[got[0].SequenceNumber] {
				t.Fatalf("seq %d delivered twice", got[0].SequenceNumber)
			}
			seen[got[0].SequenceNumber] = true
		}
	}
	if got, _ := r1.TryReceive(5); len(got) != 0 {
		t.Errorf("got %d more, want none", len(got))
	}
}

func TestAbandonRedeliversWithCountAndProperties(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"), msg("b"))
	m := bd.one(t, "q")
	must(t, bd.b.Abandon("q", m.LockToken, map[string]any{"hello": "world", "k": int32(2)}))
	again := bd.one(t, "q")
	if again.SequenceNumber != 1 || again.DeliveryCount != 1 {
		t.Fatalf("redelivery seq %d count %d, want seq 1 count 1", again.SequenceNumber, again.DeliveryCount)
	}
	if again.ApplicationProperties["hello"] != "world" || again.ApplicationProperties["k"] != int32(2) {
		t.Errorf("application properties = %v", again.ApplicationProperties)
	}
	wantErr(t, bd.b.Abandon("q", m.LockToken, nil), broker.ErrLockLost)
}

func TestMaxDeliveryCountDeadLetters(t *testing.T) {
	t.Parallel()
	bd := setup(t) // MaxDeliveryCount 3
	bd.send(t, "q", msg("a"))
	for i := range 3 {
		m := bd.one(t, "q")
		if m.DeliveryCount != uint32(i) {
			t.Fatalf("delivery %d: DeliveryCount %d", i+1, m.DeliveryCount)
		}
		must(t, bd.b.Abandon("q", m.LockToken, nil))
	}
	bd.none(t, "q")
	d := bd.one(t, "q/$DeadLetterQueue")
	if d.SequenceNumber != 1 || d.DeliveryCount != 2 || d.DeadLetterSource != "q" ||
		d.ApplicationProperties[broker.PropDeadLetterReason] != broker.ReasonMaxDeliveryCountExceeded {
		t.Errorf("DLQ message: seq %d count %d source %q props %v", d.SequenceNumber, d.DeliveryCount, d.DeadLetterSource, d.ApplicationProperties)
	}
	if _, ok := d.ApplicationProperties[broker.PropDeadLetterErrorDescription].(string); !ok {
		t.Errorf("description is not a string: %v", d.ApplicationProperties)
	}
	// In the DLQ nothing is counted and nothing is dead-lettered again.
	for range 5 {
		must(t, bd.b.Abandon("q/$DeadLetterQueue", d.LockToken, nil))
		d = bd.one(t, "q/$DeadLetterQueue")
	}
	if d.DeliveryCount != 2 {
		t.Errorf("DLQ abandon changed DeliveryCount to %d", d.DeliveryCount)
	}
	wantErr(t, bd.b.DeadLetter("q/$deadletterqueue", d.LockToken, "r", "d", nil), broker.ErrNotAllowed)
	must(t, bd.b.Complete("q/$DeadLetterQueue", d.LockToken))
	bd.none(t, "q/$DeadLetterQueue")
}

func TestDeadLetter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, reason, desc string
		props              map[string]any
	}{
		{name: "reason and description", reason: "bad", desc: "very bad", props: map[string]any{"x": int64(1)}},
		{name: "empty", reason: "", desc: ""},
		{name: "props cannot override reason", reason: "r", desc: "d", props: map[string]any{broker.PropDeadLetterReason: "other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bd := setup(t)
			bd.send(t, "q", msg("a"))
			m := bd.one(t, "q")
			must(t, bd.b.Abandon("q", m.LockToken, nil))
			m = bd.one(t, "q")
			must(t, bd.b.DeadLetter("q", m.LockToken, tt.reason, tt.desc, tt.props))
			wantErr(t, bd.b.Complete("q", m.LockToken), broker.ErrLockLost)
			bd.none(t, "q")
			d := bd.one(t, "Q/$DEADLETTERQUEUE")
			p := d.ApplicationProperties
			if p[broker.PropDeadLetterReason] != tt.reason || p[broker.PropDeadLetterErrorDescription] != tt.desc || p["k"] != "v" {
				t.Errorf("props = %v", p)
			}
			for k, v := range tt.props {
				if k != broker.PropDeadLetterReason && p[k] != v {
					t.Errorf("prop %s = %v, want %v", k, p[k], v)
				}
			}
			if d.DeliveryCount != 1 || d.DeadLetterSource != "q" || d.State != broker.StateActive {
				t.Errorf("count %d source %q state %v", d.DeliveryCount, d.DeadLetterSource, d.State)
			}
			st, err := bd.b.Stats("q")
			must(t, err)
			if st.DeadLetter != 1 || st.Total() != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestReleaseDoesNotCount(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"))
	for range 5 {
		m := bd.one(t, "q")
		if m.DeliveryCount != 0 {
			t.Fatalf("DeliveryCount %d after release", m.DeliveryCount)
		}
		must(t, bd.b.Release("q", m.LockToken))
	}
	wantErr(t, bd.b.Release("q", uuid.New()), broker.ErrLockLost)
}

func TestDeferAndReceiveBySequenceNumber(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"), msg("b"))
	m := bd.one(t, "q")
	must(t, bd.b.Defer("q", m.LockToken, map[string]any{"deferred": true}))
	if n := bd.one(t, "q"); n.SequenceNumber != 2 {
		t.Fatalf("next message seq %d, want 2 (1 is deferred)", n.SequenceNumber)
	}
	bd.none(t, "q")

	_, err := bd.b.ReceiveBySequenceNumber("q", []int64{1, 2}, broker.PeekLock)
	wantErr(t, err, broker.ErrMessageNotFound) // 2 is locked, not deferred
	_, err = bd.b.ReceiveBySequenceNumber("q", []int64{99}, broker.PeekLock)
	wantErr(t, err, broker.ErrMessageNotFound)

	got, err := bd.b.ReceiveBySequenceNumber("q", []int64{1, 1}, broker.PeekLock)
	must(t, err)
	if len(got) != 1 || got[0].State != broker.StateDeferred || got[0].LockToken == uuid.Nil || got[0].ApplicationProperties["deferred"] != true {
		t.Fatalf("deferred receive: %+v", got)
	}
	if got[0].DeliveryCount != 1 { // Defer counted the first delivery, as Azure does
		t.Fatalf("DeliveryCount after defer = %d, want 1", got[0].DeliveryCount)
	}
	_, err = bd.b.ReceiveBySequenceNumber("q", []int64{1}, broker.PeekLock)
	wantErr(t, err, broker.ErrMessageNotFound) // locked now

	// Abandoning a deferred message keeps it deferred and counts.
	must(t, bd.b.Abandon("q", got[0].LockToken, nil))
	bd.none(t, "q")
	got, err = bd.b.ReceiveBySequenceNumber("q", []int64{1}, broker.PeekLock)
	must(t, err)
	if got[0].DeliveryCount != 2 || got[0].State != broker.StateDeferred {
		t.Fatalf("after abandon: count %d state %v", got[0].DeliveryCount, got[0].State)
	}
	// Deferring again counts again; deferring in a DLQ does not.
	must(t, bd.b.Defer("q", got[0].LockToken, nil))
	got, err = bd.b.ReceiveBySequenceNumber("q", []int64{1}, broker.PeekLock)
	must(t, err)
	if got[0].DeliveryCount != 3 {
		t.Fatalf("after second defer: count %d, want 3", got[0].DeliveryCount)
	}
	must(t, bd.b.Complete("q", got[0].LockToken))
	_, err = bd.b.ReceiveBySequenceNumber("q", []int64{1}, broker.PeekLock)
	wantErr(t, err, broker.ErrMessageNotFound)
}

func TestReceiveDeferredAndDelete(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"))
	m := bd.one(t, "q")
	must(t, bd.b.Defer("q", m.LockToken, nil))
	bd.clock.Advance(48 * time.Hour) // deferred messages never expire
	bd.b.RunTimers()
	got, err := bd.b.ReceiveBySequenceNumber("q", []int64{1}, broker.ReceiveAndDelete)
	must(t, err)
	if len(got) != 1 || got[0].LockToken != uuid.Nil {
		t.Fatalf("got %+v", got)
	}
	if p, _ := bd.b.Peek("q", 1, 10); len(p) != 0 {
		t.Errorf("peek after receive-and-delete: %d messages", len(p))
	}
}

func TestRenewLock(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"), msg("b"))
	got := bd.receive(t, "q", broker.PeekLock, 2)
	bd.clock.Advance(20 * time.Second)
	until, err := bd.b.RenewLock("q", []uuid.UUID{got[0].LockToken, got[1].LockToken})
	must(t, err)
	want := bd.clock.Now().Add(30 * time.Second)
	if len(until) != 2 || !until[0].Equal(want) || !until[1].Equal(want) {
		t.Fatalf("renewed until %v, want %v", until, want)
	}
	bd.clock.Advance(20 * time.Second) // 40 s after receive, 20 s after renewal
	bd.b.RunTimers()
	bd.none(t, "q")
	must(t, bd.b.Complete("q", got[0].LockToken))
	_, err = bd.b.RenewLock("q", []uuid.UUID{got[1].LockToken, got[0].LockToken})
	wantErr(t, err, broker.ErrLockLost)
	_, err = bd.b.RenewLock("nope", []uuid.UUID{got[1].LockToken})
	wantErr(t, err, broker.ErrNotFound)
}

func TestLockIsScopedToEntity(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "other"}))
	bd.send(t, "q", msg("a"))
	m := bd.one(t, "q")
	wantErr(t, bd.b.Complete("other", m.LockToken), broker.ErrLockLost)
	wantErr(t, bd.b.Complete("q/$DeadLetterQueue", m.LockToken), broker.ErrLockLost)
	wantErr(t, bd.b.Complete("t", m.LockToken), broker.ErrNotAllowed)
	must(t, bd.b.Complete("q", m.LockToken))
}

func TestDeferredLockExpiryKeepsItDeferred(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"))
	m := bd.one(t, "q")
	must(t, bd.b.Defer("q", m.LockToken, nil))
	got, err := bd.b.ReceiveBySequenceNumber("q", []int64{1}, broker.PeekLock)
	must(t, err)
	bd.clock.Advance(31 * time.Second)
	bd.b.RunTimers()
	wantErr(t, bd.b.Complete("q", got[0].LockToken), broker.ErrLockLost)
	bd.none(t, "q")
	p, err := bd.b.Peek("q", 1, 1)
	must(t, err)
	if p[0].State != broker.StateDeferred || p[0].DeliveryCount != 2 { // defer + lock expiry
		t.Errorf("state %v count %d", p[0].State, p[0].DeliveryCount)
	}
}

func TestDeadLetterQueueLockExpiryDoesNotCount(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"))
	m := bd.one(t, "q")
	must(t, bd.b.DeadLetter("q", m.LockToken, "r", "d", nil))
	for range 5 {
		bd.one(t, "q/$DeadLetterQueue")
		bd.clock.Advance(31 * time.Second)
		bd.b.RunTimers()
	}
	d := bd.one(t, "q/$DeadLetterQueue")
	if d.DeliveryCount != 0 {
		t.Errorf("DLQ DeliveryCount %d, want 0", d.DeliveryCount)
	}
	must(t, bd.b.Defer("q/$DeadLetterQueue", d.LockToken, nil))
	got, err := bd.b.ReceiveBySequenceNumber("q/$DeadLetterQueue", []int64{d.SequenceNumber}, broker.ReceiveAndDelete)
	must(t, err)
	if got[0].DeliveryCount != 0 || got[0].State != broker.StateDeferred {
		t.Errorf("DLQ defer: count %d state %v, want 0 deferred", got[0].DeliveryCount, got[0].State)
	}
}

func TestSubscriptionDeadLetterQueue(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateTopic(broker.TopicConfig{Name: "short", DefaultMessageTimeToLive: time.Minute}))
	must(t, bd.b.CreateSubscription("short", broker.SubscriptionConfig{Name: "s", DefaultMessageTimeToLive: time.Hour,
		DeadLetteringOnMessageExpiration: true}))
	bd.send(t, "short", msg("a"), msg("b"))
	m := bd.one(t, "short/Subscriptions/s")
	if m.TimeToLive != time.Minute {
		t.Errorf("TTL %v, want the topic's 1m cap", m.TimeToLive)
	}
	must(t, bd.b.DeadLetter("short/Subscriptions/s", m.LockToken, "why", "", nil))
	bd.clock.Advance(time.Minute)
	bd.b.RunTimers() // b expires into the DLQ
	dlq := bd.receive(t, "short/subscriptions/s/$deadletterqueue", broker.ReceiveAndDelete, 10)
	if len(dlq) != 2 || dlq[0].DeadLetterSource != "short/Subscriptions/s" ||
		dlq[1].ApplicationProperties[broker.PropDeadLetterReason] != broker.ReasonTTLExpired {
		t.Fatalf("DLQ: %d messages %+v", len(dlq), dlq)
	}
}
