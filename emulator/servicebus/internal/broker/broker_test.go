package broker_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/clock"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

type bundle struct {
	b     *broker.Broker
	clock *clock.Fake
}

// setup returns a broker on a fake clock with queue "q" (lock 30 s, max 3
// deliveries, TTL 1 h) and topic "t" (no subscriptions).
func setup(t *testing.T) bundle {
	t.Helper()
	c := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b := broker.New(broker.Config{Clock: c})
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
		{"negative dup detection window", func(b *broker.Broker) error {
			return b.CreateQueue(broker.QueueConfig{Name: "x", RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: -time.Second})
		}, broker.ErrInvalid},
		{"forward to missing entity", func(b *broker.Broker) error {
			return b.CreateQueue(broker.QueueConfig{Name: "x", ForwardTo: "nope"})
		}, broker.ErrInvalid},
		{"topic negative dup detection window", func(b *broker.Broker) error {
			return b.CreateTopic(broker.TopicConfig{Name: "x", DuplicateDetectionHistoryTimeWindow: -time.Second})
		}, broker.ErrInvalid},
		{"subscription of unknown topic", func(b *broker.Broker) error {
			return b.CreateSubscription("nope", broker.SubscriptionConfig{Name: "s"})
		}, broker.ErrNotFound},
		{"subscription exists", func(b *broker.Broker) error {
			must(t, b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s"}))
			return b.CreateSubscription("T", broker.SubscriptionConfig{Name: "S"})
		}, broker.ErrExists},
		{"subscription forward DLQ to a subscription", func(b *broker.Broker) error {
			must(t, b.CreateSubscription("t", broker.SubscriptionConfig{Name: "other"}))
			return b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s", ForwardDeadLetteredTo: "t/Subscriptions/other"})
		}, broker.ErrInvalid},
		{"subscription forwarding to its topic", func(b *broker.Broker) error {
			return b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s", ForwardTo: "T"})
		}, broker.ErrInvalid},
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
	_, err = bd.b.Send("q", []*broker.Message{msg("x"), nil})
	wantErr(t, err, broker.ErrInvalid)
	if p, _ := bd.b.Peek("q", 1, 10); len(p) != 0 {
		t.Errorf("a refused batch enqueued %d messages", len(p))
	}
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

func TestStopZeroBroker(t *testing.T) {
	t.Parallel()
	var b broker.Broker
	b.Stop()
	b.Stop()
	if _, err := b.Resolve("q"); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("Resolve on a zero broker: %v", err)
	}
}

// TestSendOwnedCopiesAreIndependent checks that SendOwned stores what it
// is given, and that on a topic, where the subscriptions share the stored
// bytes, settling one copy does not touch the other's.
func TestSendOwnedCopiesAreIndependent(t *testing.T) {
	t.Parallel()
	s := setup(t)
	must(t, s.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "a"}))
	must(t, s.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "b"}))
	body := []byte("payload")
	for _, addr := range []string{"q", "t"} {
		m := &broker.Message{Body: body, ApplicationProperties: map[string]any{"k": "v"}}
		seqs, err := s.b.SendOwned(addr, []*broker.Message{m})
		if err != nil || len(seqs) != 1 {
			t.Fatalf("SendOwned(%s) = %v, %v", addr, seqs, err)
		}
	}
	for _, addr := range []string{"q", "t/Subscriptions/a", "t/Subscriptions/b"} {
		r, err := s.b.NewReceiver(addr, broker.PeekLock)
		must(t, err)
		got, err := r.TryReceive(1)
		if err != nil || len(got) != 1 || string(got[0].Body) != "payload" || got[0].ApplicationProperties["k"] != "v" {
			t.Fatalf("%s: received %v, %v", addr, got, err)
		}
		if addr == "t/Subscriptions/a" {
			must(t, s.b.DeadLetter(addr, got[0].LockToken, "r", "d", nil))
		}
	}
	dl, err := s.b.Peek("t/Subscriptions/b", 0, 1)
	if err != nil || len(dl) != 1 {
		t.Fatalf("peek b: %v, %v", dl, err)
	}
	if _, ok := dl[0].ApplicationProperties[broker.PropDeadLetterReason]; ok {
		t.Fatal("dead-lettering a's copy changed b's")
	}
}
