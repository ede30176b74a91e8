package sbtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/clock"
	"github.com/orderflow/orderflow/emulator/servicebus/sbtest"
)

// Every wait below is minutes or hours of entity time; the whole test takes milliseconds of real
// time because it advances a fake clock instead of sleeping. realBudget is far below any of the
// waits it replaces, so a regression to real time fails instead of just being slow.
const realBudget = 10 * time.Second

func fixture(t *testing.T, opts ...sbtest.Option) (*clock.Fake, *azservicebus.Client, context.Context) {
	t.Helper()
	clk := clock.NewFake(time.Now())
	srv := sbtest.New(t, append([]sbtest.Option{sbtest.WithClock(clk)}, opts...)...)
	return clk, client(t, srv), testContext(t)
}

// timed fails the test when f takes realBudget or more of real time, and logs what it took.
func timed(t *testing.T, what string, f func()) {
	t.Helper()
	start := time.Now()
	f()
	took := time.Since(start)
	t.Logf("%s: %v of real time", what, took)
	if took >= realBudget {
		t.Fatalf("%s took %v of real time", what, took)
	}
}

func TestFakeClockLockExpiryRedelivers(t *testing.T) {
	t.Parallel()
	clk, c, ctx := fixture(t, sbtest.Queue(servicebus.QueueConfig{Name: "q", LockDuration: 30 * time.Second}))
	timed(t, "30 s lock", func() {
		send(ctx, t, c, "q", &azservicebus.Message{Body: []byte("x")})
		r := receiver(t, c, "q", nil)
		first := receiveOne(ctx, t, r)
		// The SDK sees entity time: the fake now + 30 s (to the millisecond of the wire format).
		if want := clk.Now().Add(30 * time.Second).Truncate(time.Millisecond); !first.LockedUntil.Equal(want) {
			t.Fatalf("LockedUntil %v, want %v", first.LockedUntil, want)
		}
		clk.Advance(30*time.Second - time.Millisecond)
		if peeked, err := r.PeekMessages(ctx, 1, nil); err != nil || len(peeked) != 1 || peeked[0].State != azservicebus.MessageStateActive {
			t.Fatalf("peek: %v %v", peeked, err)
		}
		if err := r.RenewMessageLock(ctx, first, nil); err != nil { // still held 1 ms before expiry
			t.Fatalf("RenewMessageLock before expiry: %v", err)
		}
		clk.Advance(30 * time.Second) // exactly the renewed lock's end
		second := receiveOne(ctx, t, r)
		if second.DeliveryCount != 2 || *second.SequenceNumber != *first.SequenceNumber {
			t.Fatalf("redelivered: count %d seq %d", second.DeliveryCount, *second.SequenceNumber)
		}
		if err := r.CompleteMessage(ctx, first, nil); !isCode(err, azservicebus.CodeLockLost) {
			t.Fatalf("complete with the lapsed lock: %v, want lock lost", err)
		}
		if err := r.CompleteMessage(ctx, second, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFakeClockTTLDeadLetters(t *testing.T) {
	t.Parallel()
	clk, c, ctx := fixture(t, sbtest.Queue(servicebus.QueueConfig{Name: "q", DeadLetteringOnMessageExpiration: true,
		DefaultMessageTimeToLive: 24 * time.Hour}))
	timed(t, "1 h TTL", func() {
		ttl := time.Hour
		send(ctx, t, c, "q", &azservicebus.Message{Body: []byte("stale"), TimeToLive: &ttl},
			&azservicebus.Message{Body: []byte("fresh"), TimeToLive: new(2 * time.Hour)})
		dlq := receiver(t, c, "q", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
		clk.Advance(ttl - time.Millisecond)
		if peeked, err := dlq.PeekMessages(ctx, 10, nil); err != nil || len(peeked) != 0 {
			t.Fatalf("dead-lettered early: %d %v", len(peeked), err)
		}
		clk.Advance(time.Millisecond)
		d := receiveOne(ctx, t, dlq)
		if string(d.Body) != "stale" || d.DeadLetterReason == nil || *d.DeadLetterReason != "TTLExpiredException" {
			t.Fatalf("dead letter %q reason %v", d.Body, d.DeadLetterReason)
		}
		if m := receiveOne(ctx, t, receiver(t, c, "q", nil)); string(m.Body) != "fresh" {
			t.Fatalf("queue kept %q, want fresh", m.Body)
		}
	})
}

func TestFakeClockScheduledEnqueue(t *testing.T) {
	t.Parallel()
	clk, c, ctx := fixture(t, sbtest.Topic(servicebus.TopicConfig{Name: "t"}, servicebus.SubscriptionConfig{Name: "s"}))
	timed(t, "1 h schedule", func() {
		s, err := c.NewSender("t", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.Background())
		// Absolute times come from the fake clock, not time.Now.
		at := clk.Now().Add(time.Hour)
		if _, err := s.ScheduleMessages(ctx, []*azservicebus.Message{{Body: []byte("later")}}, at, nil); err != nil {
			t.Fatal(err)
		}
		r, err := c.NewReceiverForSubscription("t", "s", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close(context.Background())
		clk.Advance(time.Hour - time.Second)
		if peeked, err := r.PeekMessages(ctx, 10, nil); err != nil || len(peeked) != 0 {
			t.Fatalf("subscription got the message early: %d %v", len(peeked), err)
		}
		clk.Advance(time.Second)
		m := receiveOne(ctx, t, r)
		if string(m.Body) != "later" || !m.EnqueuedTime.Equal(at.Truncate(time.Millisecond)) {
			t.Fatalf("got %q enqueued %v, want later at %v", m.Body, m.EnqueuedTime, at)
		}
	})
}

func TestFakeClockSessionLockExpiry(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Now())
	srv := sbtest.New(t, sbtest.WithClock(clk), sbtest.Queue(servicebus.QueueConfig{Name: "sq", RequiresSession: true, LockDuration: 5 * time.Minute}))
	c, ctx := client(t, srv), testContext(t)
	timed(t, "5 min session lock", func() {
		id := "s1"
		send(ctx, t, c, "sq", &azservicebus.Message{Body: []byte("m"), SessionID: &id})
		// The holder's client does not retry: the SDK's retry back-off runs on real time.
		hc, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(),
			&azservicebus.ClientOptions{RetryOptions: azservicebus.RetryOptions{MaxRetries: -1}})
		if err != nil {
			t.Fatal(err)
		}
		defer hc.Close(context.Background())
		holder, err := hc.AcceptSessionForQueue(ctx, "sq", id, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Close(context.Background())
		first := receiveOne(ctx, t, holder)
		if _, err := c.AcceptSessionForQueue(ctx, "sq", id, nil); err == nil {
			t.Fatal("a held session was accepted twice")
		}
		clk.Advance(5 * time.Minute)
		taker, err := c.AcceptSessionForQueue(ctx, "sq", id, nil)
		if err != nil {
			t.Fatalf("accept after the session lock lapsed: %v", err)
		}
		defer taker.Close(context.Background())
		again := receiveOne(ctx, t, taker)
		if *again.SequenceNumber != *first.SequenceNumber {
			t.Fatalf("redelivered seq %d, want %d", *again.SequenceNumber, *first.SequenceNumber)
		}
		// The lapsed holder cannot renew the taker's lock on its behalf: its link no longer holds
		// the session. (A retrying client would then try to take the session back, and fail
		// because the taker holds it.)
		clk.Advance(time.Minute)
		if err := holder.RenewSessionLock(ctx, nil); !isCode(err, azservicebus.CodeLockLost) {
			t.Fatalf("the lapsed holder's renewal of the session lock the taker holds: %v, want lock lost", err)
		}
		clk.Advance(4 * time.Minute) // the taker's lock ends when it would have without that renewal
		third, err := c.AcceptSessionForQueue(ctx, "sq", id, nil)
		if err != nil {
			t.Fatalf("accept when the taker's lock lapsed: %v (did the holder's renewal extend it?)", err)
		}
		_ = third.Close(context.Background())
	})
}

func TestFakeClockDuplicateDetectionWindow(t *testing.T) {
	t.Parallel()
	clk, c, ctx := fixture(t, sbtest.Queue(servicebus.QueueConfig{Name: "q", RequiresDuplicateDetection: true,
		DuplicateDetectionHistoryTimeWindow: 10 * time.Minute}))
	timed(t, "10 min duplicate-detection window", func() {
		id := "order-1"
		send(ctx, t, c, "q", &azservicebus.Message{Body: []byte("first"), MessageID: &id})
		clk.Advance(10*time.Minute - time.Second)
		send(ctx, t, c, "q", &azservicebus.Message{Body: []byte("inside"), MessageID: &id})
		clk.Advance(time.Second)
		send(ctx, t, c, "q", &azservicebus.Message{Body: []byte("after"), MessageID: &id})
		r := receiver(t, c, "q", &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
		var got []string
		for len(got) < 2 {
			got = append(got, string(receiveOne(ctx, t, r).Body))
		}
		if got[0] != "first" || got[1] != "after" {
			t.Fatalf("kept %v, want [first after]: the duplicate inside the window dropped", got)
		}
		if peeked, err := r.PeekMessages(ctx, 10, nil); err != nil || len(peeked) != 0 {
			t.Fatalf("%d more messages, %v", len(peeked), err)
		}
	})
}

func isCode(err error, code azservicebus.Code) bool {
	var sbErr *azservicebus.Error
	return errors.As(err, &sbErr) && sbErr.Code == code
}
