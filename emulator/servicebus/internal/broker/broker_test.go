package broker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type bundle struct {
	b     *broker.Broker
	clock *clock
}

// setup returns a broker on a fake clock with queue "q" (lock 30 s, max 3
// deliveries, TTL 1 h) and topic "t" (no subscriptions).
func setup(t *testing.T) bundle {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b := broker.New(broker.Config{Now: c.Now})
	t.Cleanup(b.Stop)
	must(t, b.CreateQueue(broker.QueueConfig{Name: "q", LockDuration: 30 * time.Second, MaxDeliveryCount: 3}))
	must(t, b.CreateTopic(broker.TopicConfig{Name: "t"}))
	return bundle{b: b, clock: c}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func msg(body string) *broker.Message {
	return &broker.Message{Body: []byte(body), ApplicationProperties: map[string]any{"k": "v"}}
}

func (bd bundle) send(t *testing.T, addr string, msgs ...*broker.Message) []int64 {
	t.Helper()
	seqs, err := bd.b.Send(addr, msgs)
	must(t, err)
	return seqs
}

// receive takes up to max messages now.
func (bd bundle) receive(t *testing.T, addr string, mode broker.ReceiveMode, max int) []*broker.Message {
	t.Helper()
	r, err := bd.b.NewReceiver(addr, mode)
	must(t, err)
	defer r.Close()
	msgs, err := r.TryReceive(max)
	must(t, err)
	return msgs
}

func (bd bundle) one(t *testing.T, addr string) *broker.Message {
	t.Helper()
	msgs := bd.receive(t, addr, broker.PeekLock, 1)
	if len(msgs) != 1 {
		t.Fatalf("receive %s: got %d messages, want 1", addr, len(msgs))
	}
	return msgs[0]
}

func (bd bundle) none(t *testing.T, addr string) {
	t.Helper()
	if msgs := bd.receive(t, addr, broker.PeekLock, 10); len(msgs) != 0 {
		t.Fatalf("receive %s: got %d messages (first seq %d), want none", addr, len(msgs), msgs[0].SequenceNumber)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "Sub"}))
	tests := []struct {
		in   string
		want broker.Address
		err  error
	}{
		{in: "q", want: broker.Address{Kind: broker.KindQueue, Path: "q"}},
		{in: "Q", want: broker.Address{Kind: broker.KindQueue, Path: "q"}},
		{in: "q/$DeadLetterQueue", want: broker.Address{Kind: broker.KindQueue, Path: "q/$DeadLetterQueue", DeadLetter: true}},
		{in: "q/$deadletterqueue", want: broker.Address{Kind: broker.KindQueue, Path: "q/$DeadLetterQueue", DeadLetter: true}},
		{in: "T", want: broker.Address{Kind: broker.KindTopic, Path: "t"}},
		{in: "t/$DeadLetterQueue", err: broker.ErrNotFound},
		{in: "t/Subscriptions/Sub", want: broker.Address{Kind: broker.KindSubscription, Path: "t/Subscriptions/Sub"}},
		{in: "t/subscriptions/sub/$DEADLETTERQUEUE", want: broker.Address{Kind: broker.KindSubscription, Path: "t/Subscriptions/Sub/$DeadLetterQueue", DeadLetter: true}},
		{in: "t/Subscriptions/nope", err: broker.ErrNotFound},
		{in: "nope", err: broker.ErrNotFound},
		{in: "q/$Transfer/$DeadLetterQueue", err: broker.ErrNotFound},
		{in: "", err: broker.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := bd.b.Resolve(tt.in)
			if tt.err != nil {
				wantErr(t, err, tt.err)
				return
			}
			must(t, err)
			if got != tt.want {
				t.Errorf("Resolve(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCreateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		create func(b *broker.Broker) error
		err    error
	}{
		{"queue exists, other case", func(b *broker.Broker) error { return b.CreateQueue(broker.QueueConfig{Name: "Q"}) }, broker.ErrExists},
		{"queue named like topic", func(b *broker.Broker) error { return b.CreateQueue(broker.QueueConfig{Name: "t"}) }, broker.ErrExists},
		{"topic named like queue", func(b *broker.Broker) error { return b.CreateTopic(broker.TopicConfig{Name: "q"}) }, broker.ErrExists},
		{"empty queue name", func(b *broker.Broker) error { return b.CreateQueue(broker.QueueConfig{Name: " "}) }, broker.ErrInvalid},
		{"queue named DLQ", func(b *broker.Broker) error { return b.CreateQueue(broker.QueueConfig{Name: "x/$deadletterqueue"}) }, broker.ErrInvalid},
		{"negative lock", func(b *broker.Broker) error { return b.CreateQueue(broker.QueueConfig{Name: "x", LockDuration: -1}) }, broker.ErrInvalid},
		{"negative max delivery", func(b *broker.Broker) error {
			return b.CreateQueue(broker.QueueConfig{Name: "x", MaxDeliveryCount: -1})
		}, broker.ErrInvalid},
		{"negative ttl", func(b *broker.Broker) error {
			return b.CreateTopic(broker.TopicConfig{Name: "x", DefaultMessageTimeToLive: -time.Second})
		}, broker.ErrInvalid},
		{"sessions", func(b *broker.Broker) error {
			return b.CreateQueue(broker.QueueConfig{Name: "x", RequiresSession: true})
		}, broker.ErrNotSupported},
		{"dup detection", func(b *broker.Broker) error {
			return b.CreateQueue(broker.QueueConfig{Name: "x", RequiresDuplicateDetection: true})
		}, broker.ErrNotSupported},
		{"forward", func(b *broker.Broker) error { return b.CreateQueue(broker.QueueConfig{Name: "x", ForwardTo: "q"}) }, broker.ErrNotSupported},
		{"topic dup detection", func(b *broker.Broker) error {
			return b.CreateTopic(broker.TopicConfig{Name: "x", RequiresDuplicateDetection: true})
		}, broker.ErrNotSupported},
		{"subscription of unknown topic", func(b *broker.Broker) error {
			return b.CreateSubscription("nope", broker.SubscriptionConfig{Name: "s"})
		}, broker.ErrNotFound},
		{"subscription exists", func(b *broker.Broker) error {
			must(t, b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s"}))
			return b.CreateSubscription("T", broker.SubscriptionConfig{Name: "S"})
		}, broker.ErrExists},
		{"subscription sessions", func(b *broker.Broker) error {
			return b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s", RequiresSession: true})
		}, broker.ErrNotSupported},
		{"subscription forward DLQ", func(b *broker.Broker) error {
			return b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s", ForwardDeadLetteredTo: "q"})
		}, broker.ErrNotSupported},
		{"rule without filter", func(b *broker.Broker) error {
			return b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s", Rules: []broker.Rule{{Name: "r"}}})
		}, broker.ErrInvalid},
		{"rule without name", func(b *broker.Broker) error {
			return b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s", Rules: []broker.Rule{{Filter: broker.TrueFilter{}}}})
		}, broker.ErrInvalid},
		{"duplicate rule", func(b *broker.Broker) error {
			return b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s", Rules: []broker.Rule{
				{Name: "r", Filter: broker.TrueFilter{}}, {Name: "R", Filter: broker.TrueFilter{}}}})
		}, broker.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bd := setup(t)
			wantErr(t, tt.create(bd.b), tt.err)
		})
	}
}

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
		m.State != broker.StateActive || m.TimeToLive != time.Hour || !m.ExpiresAt.Equal(now.Add(time.Hour)) {
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

func TestSendNotAllowed(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s"}))
	for _, addr := range []string{"t/Subscriptions/s", "q/$DeadLetterQueue", "t/Subscriptions/s/$DeadLetterQueue"} {
		_, err := bd.b.Send(addr, []*broker.Message{msg("x")})
		wantErr(t, err, broker.ErrNotAllowed)
	}
	_, err := bd.b.NewReceiver("t", broker.PeekLock)
	wantErr(t, err, broker.ErrNotAllowed)
	_, err = bd.b.Send("nope", []*broker.Message{msg("x")})
	wantErr(t, err, broker.ErrNotFound)
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
	_, err = bd.b.ReceiveBySequenceNumber("q", []int64{1}, broker.PeekLock)
	wantErr(t, err, broker.ErrMessageNotFound) // locked now

	// Abandoning a deferred message keeps it deferred and counts.
	must(t, bd.b.Abandon("q", got[0].LockToken, nil))
	bd.none(t, "q")
	got, err = bd.b.ReceiveBySequenceNumber("q", []int64{1}, broker.PeekLock)
	must(t, err)
	if got[0].DeliveryCount != 1 || got[0].State != broker.StateDeferred {
		t.Fatalf("after abandon: count %d state %v", got[0].DeliveryCount, got[0].State)
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
			if p[0].TimeToLive != tt.wantTTL || !p[0].ExpiresAt.Equal(p[0].EnqueuedTime.Add(tt.wantTTL)) || p[0].Header.TTL != tt.msgTTL {
				t.Fatalf("TimeToLive %v ExpiresAt %v Header.TTL %v", p[0].TimeToLive, p[0].ExpiresAt, p[0].Header.TTL)
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
		!p[0].EnqueuedTime.Equal(now.Add(time.Minute)) || !p[0].ExpiresAt.Equal(now.Add(time.Minute+time.Hour)) {
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

func TestPeek(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	for i := range 6 {
		bd.send(t, "q", msg(fmt.Sprint(i+1)))
	}
	got := bd.receive(t, "q", broker.PeekLock, 3) // 1, 2, 3 locked
	must(t, bd.b.Complete("q", got[1].LockToken)) // gap at 2
	must(t, bd.b.Defer("q", got[2].LockToken, nil))
	tests := []struct {
		from  int64
		count int
		want  string
	}{
		{1, 10, "[1 3 4 5 6]"},
		{2, 2, "[3 4]"},
		{6, 10, "[6]"},
		{7, 10, "[]"},
		{1, 0, "[]"},
	}
	for _, tt := range tests {
		p, err := bd.b.Peek("q", tt.from, tt.count)
		must(t, err)
		var seqs []int64
		for _, m := range p {
			seqs = append(seqs, m.SequenceNumber)
			if m.LockToken != uuid.Nil {
				t.Errorf("peek leaked lock token of %d", m.SequenceNumber)
			}
		}
		if fmt.Sprint(seqs) != tt.want && !(tt.want == "[]" && len(seqs) == 0) {
			t.Errorf("Peek(%d, %d) = %v, want %s", tt.from, tt.count, seqs, tt.want)
		}
	}
	p, _ := bd.b.Peek("q", 3, 1)
	if p[0].State != broker.StateDeferred {
		t.Errorf("state %v, want deferred", p[0].State)
	}
	// Peek does not lock: message 4 is still receivable.
	if m := bd.one(t, "q"); m.SequenceNumber != 4 {
		t.Errorf("next seq %d, want 4", m.SequenceNumber)
	}
}

func TestReceiveAndDelete(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"), msg("b"))
	got := bd.receive(t, "q", broker.ReceiveAndDelete, 1)
	if len(got) != 1 || got[0].LockToken != uuid.Nil || !got[0].LockedUntil.IsZero() {
		t.Fatalf("got %+v", got)
	}
	if p, _ := bd.b.Peek("q", 1, 10); len(p) != 1 || p[0].SequenceNumber != 2 {
		t.Fatalf("peek after RAD: %v", p)
	}
}

func TestUnreceive(t *testing.T) {
	t.Parallel()
	for _, mode := range []broker.ReceiveMode{broker.PeekLock, broker.ReceiveAndDelete} {
		t.Run(fmt.Sprint("mode=", mode), func(t *testing.T) {
			t.Parallel()
			bd := setup(t)
			bd.send(t, "q", msg("a"), msg("b"))
			r, err := bd.b.NewReceiver("q", mode)
			must(t, err)
			got, err := r.TryReceive(2)
			must(t, err)
			r.Unreceive(got)
			r.Close()
			again := bd.receive(t, "q", broker.PeekLock, 5)
			if len(again) != 2 || again[0].SequenceNumber != 1 || again[0].DeliveryCount != 0 {
				t.Fatalf("after unreceive: %d messages", len(again))
			}
		})
	}
}

func TestCloseKeepsLocks(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"))
	r, err := bd.b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	got, err := r.TryReceive(1)
	must(t, err)
	r.Close()
	r.Close()
	_, err = r.TryReceive(1)
	wantErr(t, err, broker.ErrClosed)
	bd.none(t, "q") // still locked by the entity
	must(t, bd.b.Complete("Q", got[0].LockToken))
}

func TestDeliveriesAreCopies(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	in := msg("a")
	in.Properties.UserID = []byte("u")
	in.Properties.Present = broker.PropUserID
	bd.send(t, "q", in)
	in.ApplicationProperties["k"] = "changed by sender"
	in.Properties.UserID[0] = 'X'
	m := bd.one(t, "q")
	m.ApplicationProperties["k"] = "changed by receiver"
	m.DeliveryCount = 99
	must(t, bd.b.Abandon("q", m.LockToken, nil))
	again := bd.one(t, "q")
	if again.ApplicationProperties["k"] != "v" || again.DeliveryCount != 1 || string(again.Properties.UserID) != "u" {
		t.Errorf("broker state was shared: %v count %d user %q", again.ApplicationProperties, again.DeliveryCount, again.Properties.UserID)
	}
}

func TestReceiveBlocksUntilSend(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	r, err := bd.b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	done := make(chan []*broker.Message)
	go func() {
		msgs, err := r.Receive(context.Background(), 5)
		if err != nil {
			t.Error(err)
		}
		done <- msgs
	}()
	bd.send(t, "q", msg("a"))
	select {
	case msgs := <-done:
		if len(msgs) != 1 || string(msgs[0].Body) != "a" {
			t.Errorf("got %d messages", len(msgs))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Receive did not wake up")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Receive(ctx, 1)
	wantErr(t, err, context.Canceled)
	bd.b.Stop()
	bd.b.Stop()
	_, err = r.Receive(context.Background(), 1)
	wantErr(t, err, broker.ErrStopped)
}

func TestDelete(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s"}))
	bd.send(t, "q", msg("a"))
	m := bd.one(t, "q")
	rq, err := bd.b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	rs, err := bd.b.NewReceiver("t/Subscriptions/s", broker.PeekLock)
	must(t, err)
	wantErr(t, bd.b.Delete("q/$DeadLetterQueue"), broker.ErrNotAllowed)
	must(t, bd.b.Delete("Q"))
	_, err = rq.TryReceive(1)
	wantErr(t, err, broker.ErrNotFound)
	wantErr(t, bd.b.Complete("q", m.LockToken), broker.ErrNotFound)
	must(t, bd.b.Delete("t/subscriptions/S"))
	_, err = rs.TryReceive(1)
	wantErr(t, err, broker.ErrNotFound)
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s"}))
	must(t, bd.b.Delete("t"))
	_, err = bd.b.Resolve("t/Subscriptions/s")
	wantErr(t, err, broker.ErrNotFound)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "q"}))
	if seqs := bd.send(t, "q", msg("b")); seqs[0] != 1 {
		t.Errorf("recreated queue starts at seq %d", seqs[0])
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

func TestConcurrentSendReceiveComplete(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	const senders, perSender, receivers = 4, 500, 4
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range perSender {
				if _, err := bd.b.Send("q", []*broker.Message{msg(fmt.Sprint(s, i))}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var mu sync.Mutex
	seen := map[int64]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range receivers {
		wg.Go(func() {
			r, err := bd.b.NewReceiver("q", broker.PeekLock)
			if err != nil {
				t.Error(err)
				return
			}
			defer r.Close()
			for {
				mu.Lock()
				n := len(seen)
				mu.Unlock()
				if n == senders*perSender {
					return
				}
				rctx, rcancel := context.WithTimeout(ctx, 50*time.Millisecond)
				msgs, err := r.Receive(rctx, 16)
				rcancel()
				if err != nil && ctx.Err() != nil {
					t.Error(err)
					return
				}
				for _, m := range msgs {
					if err := bd.b.Complete("q", m.LockToken); err != nil {
						t.Error(err)
					}
					mu.Lock()
					if seen[m.SequenceNumber] {
						t.Errorf("seq %d received twice", m.SequenceNumber)
					}
					seen[m.SequenceNumber] = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != senders*perSender {
		t.Fatalf("received %d, want %d", len(seen), senders*perSender)
	}
	if st, _ := bd.b.Stats("q"); st.Total() != 0 {
		t.Errorf("left over: %+v", st)
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
	if p[0].State != broker.StateDeferred || p[0].DeliveryCount != 1 {
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
}

func TestTopicWithoutSubscriptionsDrops(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	if seqs := bd.send(t, "t", msg("a"), msg("b")); fmt.Sprint(seqs) != "[1 2]" {
		t.Fatalf("seqs %v", seqs)
	}
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "late"}))
	bd.none(t, "t/Subscriptions/late")
	if seqs := bd.send(t, "t", msg("c")); seqs[0] != 3 {
		t.Fatalf("seq %d, want 3", seqs[0])
	}
	if m := bd.one(t, "t/Subscriptions/late"); m.SequenceNumber != 3 {
		t.Errorf("late subscriber got seq %d", m.SequenceNumber)
	}
}

func TestUnreceiveAfterDelete(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	bd.send(t, "q", msg("a"))
	r, err := bd.b.NewReceiver("q", broker.ReceiveAndDelete)
	must(t, err)
	got, err := r.TryReceive(1)
	must(t, err)
	must(t, bd.b.Delete("q"))
	r.Unreceive(got) // nowhere to go back to: must not panic or resurrect
	_, err = bd.b.Resolve("q")
	wantErr(t, err, broker.ErrNotFound)
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
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := b.Stats("q")
		must(t, err)
		if st.DeadLetter == 1 && st.Total() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not dead-lettered by the timer: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLargeBacklogKeepsSequenceOrder(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	const n = 20000
	batch := make([]*broker.Message, 1000)
	for i := range batch {
		batch[i] = msg("x")
	}
	for range n / len(batch) {
		bd.send(t, "q", batch...)
	}
	r, err := bd.b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	// Take the first half, give every third back: those must come out
	// first again, in order, before the untouched second half.
	first, err := r.TryReceive(n / 2)
	must(t, err)
	var back []int64
	for i, m := range first {
		if i%3 == 0 {
			must(t, bd.b.Release("q", m.LockToken))
			back = append(back, m.SequenceNumber)
		} else {
			must(t, bd.b.Complete("q", m.LockToken))
		}
	}
	p, err := bd.b.Peek("q", n/2-10, 20)
	must(t, err)
	// Present from 9990 on: released ones of the first half (seq-1 divisible
	// by 3: 9991, 9994, 9997, 10000), then everything from 10001.
	if len(p) != 20 || p[0].SequenceNumber != 9991 || p[3].SequenceNumber != 10000 || p[19].SequenceNumber != 10016 {
		t.Fatalf("peek around the middle: %d messages from %d", len(p), p[0].SequenceNumber)
	}
	var last int64
	got := 0
	for {
		msgs, err := r.TryReceive(777)
		must(t, err)
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if m.SequenceNumber <= last {
				t.Fatalf("seq %d after %d", m.SequenceNumber, last)
			}
			if got < len(back) && m.SequenceNumber != back[got] {
				t.Fatalf("message %d: seq %d, want released %d", got, m.SequenceNumber, back[got])
			}
			last = m.SequenceNumber
			got++
		}
	}
	if want := len(back) + n/2; got != want {
		t.Fatalf("received %d, want %d", got, want)
	}
}
