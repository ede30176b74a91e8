package broker_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/internal/testkit"
)

// Lock expiry, time to live and scheduling, on the fake and the real clock. Uses setup from broker_test.go.

func TestLockExpiry(t *testing.T) {
	t.Parallel()
	for _, viaTimers := range []bool{true, false} {
		t.Run(fmt.Sprint("viaTimers=", viaTimers), func(t *testing.T) {
			t.Parallel()
			bd := setup(t)
			bd.send(t, "q", msg("a"))
			m := bd.one(t, "q")
			bd.clock.Advance(29 * time.Second)
			bd.b.RunTimers()
			bd.none(t, "q") // still locked
			bd.clock.Advance(time.Second)
			if viaTimers {
				bd.b.RunTimers()
			} else {
				// Settling with the expired lock processes the expiry itself.
				wantErr(t, bd.b.Complete("q", m.LockToken), broker.ErrLockLost)
			}
			again := bd.one(t, "q")
			if again.DeliveryCount != 1 || again.LockToken == m.LockToken {
				t.Errorf("redelivery count %d token reused %v", again.DeliveryCount, again.LockToken == m.LockToken)
			}
			wantErr(t, bd.b.Complete("q", m.LockToken), broker.ErrLockLost)
			_, err := bd.b.RenewLock("q", []uuid.UUID{m.LockToken})
			wantErr(t, err, broker.ErrLockLost)
			must(t, bd.b.Complete("q", again.LockToken))
		})
	}
}

func TestLockExpiryPastMaxDeadLetters(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"))
	for range 3 {
		bd.one(t, "q")
		bd.clock.Advance(31 * time.Second)
		bd.b.RunTimers()
	}
	bd.none(t, "q")
	if d := bd.one(t, "q/$DeadLetterQueue"); d.ApplicationProperties[broker.PropDeadLetterReason] != broker.ReasonMaxDeliveryCountExceeded {
		t.Errorf("reason = %v", d.ApplicationProperties[broker.PropDeadLetterReason])
	}
}

func TestTimeToLive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		entityTTL  time.Duration
		msgTTL     time.Duration
		wantTTL    time.Duration
		dlqOnExp   bool
		wantInDLQ  bool
		useTimers  bool
		lockFirst  bool
		wantReason string
	}{
		{name: "entity default", entityTTL: time.Minute, wantTTL: time.Minute, useTimers: true},
		{name: "message ttl", entityTTL: time.Hour, msgTTL: 10 * time.Second, wantTTL: 10 * time.Second, useTimers: true},
		{name: "message ttl capped", entityTTL: time.Minute, msgTTL: time.Hour, wantTTL: time.Minute},
		{name: "expired on receive", entityTTL: time.Minute, wantTTL: time.Minute},
		{name: "dead-lettered", entityTTL: time.Minute, wantTTL: time.Minute, dlqOnExp: true, wantInDLQ: true, useTimers: true},
		{name: "dead-lettered on receive", entityTTL: time.Minute, wantTTL: time.Minute, dlqOnExp: true, wantInDLQ: true},
		{name: "expires when lock ends", entityTTL: time.Minute, wantTTL: time.Minute, dlqOnExp: true, wantInDLQ: true, useTimers: true, lockFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bd := setup(t)
			must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "x", DefaultMessageTimeToLive: tt.entityTTL,
				DeadLetteringOnMessageExpiration: tt.dlqOnExp, LockDuration: 5 * time.Minute}))
			m := msg("a")
			m.Header.TTL = tt.msgTTL
			bd.send(t, "x", m)
			p, err := bd.b.Peek("x", 1, 1)
			must(t, err)
			if p[0].TimeToLive != tt.wantTTL || !p[0].ExpiresAt().Equal(p[0].EnqueuedTime.Add(tt.wantTTL)) || p[0].Header.TTL != tt.msgTTL {
				t.Fatalf("TimeToLive %v ExpiresAt %v Header.TTL %v", p[0].TimeToLive, p[0].ExpiresAt(), p[0].Header.TTL)
			}
			if tt.lockFirst {
				bd.one(t, "x")
			}
			bd.clock.Advance(tt.wantTTL - time.Nanosecond)
			bd.b.RunTimers()
			if !tt.lockFirst {
				if p, _ := bd.b.Peek("x", 1, 1); len(p) != 1 {
					t.Fatalf("expired early")
				}
			}
			bd.clock.Advance(time.Nanosecond)
			if tt.lockFirst {
				bd.clock.Advance(5 * time.Minute) // the lock outlives the TTL
			}
			if tt.useTimers {
				bd.b.RunTimers()
				if p, _ := bd.b.Peek("x", 1, 1); len(p) != 0 {
					t.Fatalf("not expired by timers")
				}
			}
			bd.none(t, "x")
			dlq, err := bd.b.Peek("x/$DeadLetterQueue", 1, 10)
			must(t, err)
			if got := len(dlq) == 1; got != tt.wantInDLQ {
				t.Fatalf("in DLQ: %v, want %v", got, tt.wantInDLQ)
			}
			if tt.wantInDLQ {
				if dlq[0].ApplicationProperties[broker.PropDeadLetterReason] != broker.ReasonTTLExpired {
					t.Errorf("reason %v", dlq[0].ApplicationProperties)
				}
				bd.clock.Advance(100 * time.Hour) // never expires in the DLQ
				bd.b.RunTimers()
				bd.one(t, "x/$DeadLetterQueue")
			}
		})
	}
}

func TestScheduled(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	now := bd.clock.Now()
	later := msg("later")
	later.ScheduledEnqueueTime = now.Add(time.Minute)
	past := msg("past")
	past.ScheduledEnqueueTime = now.Add(-time.Minute)
	cancelled := msg("cancelled")
	cancelled.ScheduledEnqueueTime = now.Add(time.Minute)
	seqs := bd.send(t, "q", later, past, cancelled)
	if fmt.Sprint(seqs) != "[1 2 3]" {
		t.Fatalf("seqs %v", seqs)
	}
	p, err := bd.b.Peek("q", 1, 10)
	must(t, err)
	if len(p) != 3 || p[0].State != broker.StateScheduled || p[1].State != broker.StateActive ||
		!p[0].EnqueuedTime.Equal(now.Add(time.Minute)) || !p[0].ExpiresAt().Equal(now.Add(time.Minute+time.Hour)) {
		t.Fatalf("peek: %+v", p)
	}
	m := bd.one(t, "q")
	if string(m.Body) != "past" {
		t.Fatalf("got %q, want past", m.Body)
	}
	must(t, bd.b.Complete("q", m.LockToken))
	wantErr(t, bd.b.CancelScheduled("q", []int64{3, 2}), broker.ErrMessageNotFound) // 2 is not scheduled
	wantErr(t, bd.b.CancelScheduled("q/$DeadLetterQueue", []int64{3}), broker.ErrNotAllowed)
	must(t, bd.b.CancelScheduled("q", []int64{3}))
	bd.clock.Advance(time.Minute)
	bd.b.RunTimers()
	m = bd.one(t, "q")
	if string(m.Body) != "later" || m.State != broker.StateActive || !m.ScheduledEnqueueTime.Equal(now.Add(time.Minute)) {
		t.Fatalf("got %q state %v", m.Body, m.State)
	}
	bd.none(t, "q")
}

func TestTopicScheduled(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	for _, s := range []string{"a", "b"} {
		must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: s}))
	}
	m1, m2 := msg("1"), msg("2")
	m1.ScheduledEnqueueTime = bd.clock.Now().Add(time.Minute)
	m2.ScheduledEnqueueTime = m1.ScheduledEnqueueTime
	seqs := bd.send(t, "t", m1, m2)
	must(t, bd.b.CancelScheduled("t", seqs[1:]))
	wantErr(t, bd.b.CancelScheduled("t", seqs[1:]), broker.ErrMessageNotFound)
	bd.none(t, "t/Subscriptions/a")
	bd.clock.Advance(time.Minute)
	bd.b.RunTimers()
	for _, s := range []string{"a", "b"} {
		m := bd.one(t, "t/Subscriptions/"+s)
		if m.SequenceNumber != seqs[0] || string(m.Body) != "1" {
			t.Errorf("%s: seq %d body %q", s, m.SequenceNumber, m.Body)
		}
		bd.none(t, "t/Subscriptions/"+s)
	}
}

func TestRealTimers(t *testing.T) {
	t.Parallel()
	b := broker.New(broker.Config{})
	t.Cleanup(b.Stop)
	must(t, b.CreateQueue(broker.QueueConfig{Name: "q", LockDuration: 50 * time.Millisecond}))
	sched := msg("s")
	sched.ScheduledEnqueueTime = time.Now().Add(50 * time.Millisecond)
	if _, err := b.Send("q", []*broker.Message{msg("a"), sched}); err != nil {
		t.Fatal(err)
	}
	r, err := b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Never settled: the lock timer must make message 1 available again,
	// and the scheduling timer must activate message 2, without RunTimers.
	seen := map[int64]uint32{}
	for len(seen) < 2 || seen[1] == 0 {
		msgs, err := r.Receive(ctx, 10)
		must(t, err)
		for _, m := range msgs {
			seen[m.SequenceNumber] = m.DeliveryCount
		}
	}
}

func TestRealTimersExpireWithoutReceivers(t *testing.T) {
	t.Parallel()
	b := broker.New(broker.Config{})
	t.Cleanup(b.Stop)
	must(t, b.CreateQueue(broker.QueueConfig{Name: "q", DefaultMessageTimeToLive: 20 * time.Millisecond,
		DeadLetteringOnMessageExpiration: true}))
	if _, err := b.Send("q", []*broker.Message{msg("a")}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() error {
		st, err := b.Stats("q")
		must(t, err)
		if st.DeadLetter != 1 || st.Total() != 0 {
			return fmt.Errorf("not dead-lettered by the timer: %+v", st)
		}
		return nil
	})
}

// The fake clock's Advance alone runs the broker's timers (no RunTimers): a receiver waiting on a
// queue whose only message is locked gets it when the lock lapses, and expiry, scheduled fan-out
// and session lock expiry show in Stats, which only reads state, before Advance returns.
func TestFakeClockAdvanceRunsTimers(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	bd := sb.bundle
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "ttl", DefaultMessageTimeToLive: time.Hour, DeadLetteringOnMessageExpiration: true}))
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "plain"}))
	later := msg("later")
	later.ScheduledEnqueueTime = bd.clock.Now().Add(time.Hour)
	bd.send(t, "t", later)
	bd.send(t, "ttl", msg("stale"))
	bd.send(t, "q", msg("locked"))
	sb.send(t, "sq", smsg("s", "m1"))
	first := bd.one(t, "q")
	holder := sb.accept(t, "sq", "s")
	tryReceive(t, holder, 1)

	r, err := bd.b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan *broker.Message, 1)
	go func() {
		msgs, err := r.Receive(ctx, 1) // blocks: the only message is locked for 30 s
		if err != nil || len(msgs) != 1 {
			t.Errorf("Receive: %d messages, %v", len(msgs), err)
			close(got)
			return
		}
		got <- msgs[0]
	}()

	bd.clock.Advance(30 * time.Second) // the message lock and the session lock (30 s) lapse
	if m := <-got; m == nil || m.SequenceNumber != first.SequenceNumber || m.DeliveryCount != 1 {
		t.Fatalf("woken receiver got %+v, want the redelivered message", m)
	}
	if st, _ := bd.b.Stats("sq"); st.Locked != 0 || st.Active != 1 {
		t.Fatalf("session queue after its lock lapsed: %+v, want the message active again", st)
	}
	if _, err := holder.TryReceive(1); !errors.Is(err, broker.ErrSessionLockLost) {
		t.Fatalf("holder after its session lock lapsed: %v, want ErrSessionLockLost", err)
	}

	bd.clock.Advance(time.Hour - 30*time.Second - time.Nanosecond)
	if st, _ := bd.b.Stats("ttl"); st.Active != 1 || st.DeadLetter != 0 {
		t.Fatalf("1 ns before the TTL: %+v", st)
	}
	if st, _ := bd.b.Stats("t/Subscriptions/plain"); st.Total() != 0 {
		t.Fatalf("1 ns before the schedule the subscription has %+v", st)
	}
	bd.clock.Advance(time.Nanosecond)
	if st, _ := bd.b.Stats("ttl"); st.Active != 0 || st.DeadLetter != 1 {
		t.Fatalf("at the TTL: %+v, want dead-lettered", st)
	}
	if st, _ := bd.b.Stats("t/Subscriptions/plain"); st.Active != 1 {
		t.Fatalf("at the schedule the subscription has %+v, want 1 active", st)
	}
}

// TestTTLBeyondTheNanosecondRange sends a message whose expiry (a maximal
// TTL) lies past 2262, where Unix nanoseconds end: it must neither expire
// early nor lose its timer (which a deadline kept as saturated int64
// nanoseconds would do, firing at 2262), while a short-lived message
// beside it expires on time.
func TestTTLBeyondTheNanosecondRange(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "forever", DefaultMessageTimeToLive: time.Duration(math.MaxInt64)}))
	short := msg("short")
	short.Header.TTL = time.Hour
	bd.send(t, "forever", msg("long"), short)
	bd.clock.Advance(2 * time.Hour)
	bd.b.RunTimers()
	bd.clock.Advance(100 * 365 * 24 * time.Hour)
	bd.b.RunTimers()
	got, err := bd.b.Peek("forever", 0, 10)
	must(t, err)
	if len(got) != 1 || string(got[0].Body) != "long" || got[0].ExpiresAt().Year() < 2262 {
		t.Fatalf("got %d messages (%v), want only the long-lived one", len(got), bodies(got))
	}
	// Its timer is still armed: past its expiry, the timers remove it.
	for range 2 {
		bd.clock.Advance(200 * 365 * 24 * time.Hour)
	}
	bd.b.RunTimers()
	if st, err := bd.b.Stats("forever"); err != nil || st.Active != 0 {
		t.Fatalf("after its expiry: %+v, %v; want no active message", st, err)
	}
}
