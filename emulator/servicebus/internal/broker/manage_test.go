package broker_test

import (
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

func TestListsAndSettings(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "B", RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: time.Minute}))
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s2"}))
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "S1", LockDuration: 10 * time.Second}))
	if got := bd.b.Queues(); !slices.Equal(got, []string{"B", "q"}) {
		t.Errorf("Queues = %v", got)
	}
	if got := bd.b.Topics(); !slices.Equal(got, []string{"t"}) {
		t.Errorf("Topics = %v", got)
	}
	if got, err := bd.b.Subscriptions("T"); err != nil || !slices.Equal(got, []string{"S1", "s2"}) {
		t.Errorf("Subscriptions = %v, %v", got, err)
	}
	_, err := bd.b.Subscriptions("nope")
	wantErr(t, err, broker.ErrNotFound)

	q, err := bd.b.QueueSettings("b")
	must(t, err)
	if q.Name != "B" || q.LockDuration != broker.DefaultLockDuration || q.MaxDeliveryCount != broker.DefaultMaxDeliveryCount ||
		!q.RequiresDuplicateDetection || q.DuplicateDetectionHistoryTimeWindow != time.Minute {
		t.Errorf("QueueSettings = %+v", q)
	}
	s, err := bd.b.SubscriptionSettings("t", "s1")
	must(t, err)
	if s.Name != "S1" || s.LockDuration != 10*time.Second || len(s.Rules) != 1 || s.Rules[0].Name != broker.DefaultRuleName {
		t.Errorf("SubscriptionSettings = %+v", s)
	}
	_, err = bd.b.QueueSettings("t")
	wantErr(t, err, broker.ErrNotFound)
}

func TestUpdateQueue(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "dest"}))
	bd.send(t, "q", msg("a"))
	must(t, bd.b.UpdateQueue(broker.QueueConfig{Name: "Q", LockDuration: 10 * time.Second, MaxDeliveryCount: 1}))
	m := bd.one(t, "q")
	if got := m.LockedUntil.Sub(bd.clock.Now()); got != 10*time.Second {
		t.Errorf("lock after update = %v, want 10s", got)
	}
	must(t, bd.b.Abandon("q", m.LockToken, nil)) // MaxDeliveryCount 1: dead-lettered at once
	if dl := bd.one(t, "q/$DeadLetterQueue"); string(dl.Body) != "a" {
		t.Errorf("DLQ got %q", dl.Body)
	}
	wantErr(t, bd.b.UpdateQueue(broker.QueueConfig{Name: "q", RequiresSession: true}), broker.ErrInvalid)
	wantErr(t, bd.b.UpdateQueue(broker.QueueConfig{Name: "q", RequiresDuplicateDetection: true}), broker.ErrInvalid)
	wantErr(t, bd.b.UpdateQueue(broker.QueueConfig{Name: "missing"}), broker.ErrNotFound)

	// Forwarding set by an update: new messages leave, receivers are refused; a loop is refused.
	must(t, bd.b.UpdateQueue(broker.QueueConfig{Name: "q", ForwardTo: "dest"}))
	bd.send(t, "q", msg("b"))
	if got := bd.one(t, "dest"); string(got.Body) != "b" {
		t.Errorf("dest got %q", got.Body)
	}
	_, err := bd.b.NewReceiver("q", broker.PeekLock)
	wantErr(t, err, broker.ErrNotAllowed)
	wantErr(t, bd.b.UpdateQueue(broker.QueueConfig{Name: "dest", ForwardTo: "q"}), broker.ErrInvalid)
	must(t, bd.b.UpdateQueue(broker.QueueConfig{Name: "q"}))
	if _, err := bd.b.NewReceiver("q", broker.PeekLock); err != nil {
		t.Errorf("receiver after forwarding was removed: %v", err)
	}
}

func TestUpdateTopicAndSubscription(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s"}))
	must(t, bd.b.UpdateTopic(broker.TopicConfig{Name: "t", DefaultMessageTimeToLive: time.Minute}))
	must(t, bd.b.UpdateSubscription("t", broker.SubscriptionConfig{Name: "s", DeadLetteringOnMessageExpiration: true}))
	bd.send(t, "t", msg("short-lived"))
	bd.clock.Advance(2 * time.Minute)
	bd.b.RunTimers()
	if dl := bd.one(t, "t/Subscriptions/s/$DeadLetterQueue"); dl.ApplicationProperties[broker.PropDeadLetterReason] != broker.ReasonTTLExpired {
		t.Errorf("expired copy: %v", dl.ApplicationProperties)
	}
	wantErr(t, bd.b.UpdateTopic(broker.TopicConfig{Name: "t", RequiresDuplicateDetection: true}), broker.ErrInvalid)
	wantErr(t, bd.b.UpdateSubscription("t", broker.SubscriptionConfig{Name: "s", RequiresSession: true}), broker.ErrInvalid)
	wantErr(t, bd.b.UpdateSubscription("t", broker.SubscriptionConfig{Name: "nope"}), broker.ErrNotFound)
}

func TestRuleManagement(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s"}))
	red := broker.Rule{Name: "red", Filter: &broker.CorrelationFilter{Properties: map[string]any{"color": "red"}}}
	must(t, bd.b.AddRule("t", "s", red))
	wantErr(t, bd.b.AddRule("t", "s", broker.Rule{Name: "RED", Filter: broker.TrueFilter{}}), broker.ErrExists)
	wantErr(t, bd.b.AddRule("t", "s", broker.Rule{Name: "nofilter"}), broker.ErrInvalid)
	must(t, bd.b.RemoveRule("t", "s", "$default"))
	wantErr(t, bd.b.RemoveRule("t", "s", "$Default"), broker.ErrNotFound)

	blue := &broker.Message{ApplicationProperties: map[string]any{"color": "blue"}}
	redMsg := &broker.Message{ApplicationProperties: map[string]any{"color": "red"}}
	bd.send(t, "t", blue, redMsg)
	if got := bd.one(t, "t/Subscriptions/s"); got.ApplicationProperties["color"] != "red" {
		t.Errorf("got %v, want only the red message", got.ApplicationProperties)
	}
	bd.none(t, "t/Subscriptions/s")

	must(t, bd.b.ReplaceRule("t", "s", broker.Rule{Name: "Red", Filter: &broker.CorrelationFilter{Properties: map[string]any{"color": "blue"}}}))
	rules, err := bd.b.Rules("t", "s")
	must(t, err)
	if len(rules) != 1 || rules[0].Name != "red" {
		t.Errorf("rules = %+v (the name keeps its case)", rules)
	}
	wantErr(t, bd.b.ReplaceRule("t", "s", broker.Rule{Name: "other", Filter: broker.TrueFilter{}}), broker.ErrNotFound)

	// Without rules a subscription receives nothing, as in Service Bus.
	must(t, bd.b.RemoveRule("t", "s", "red"))
	bd.send(t, "t", blue)
	bd.none(t, "t/Subscriptions/s")
}

// TestRulesChangeWhileSending runs rule changes against the fan-out (run with -race).
func TestRulesChangeWhileSending(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s"}))
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 200 {
			if _, err := bd.b.Send("t", []*broker.Message{msg("x")}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for range 100 {
			must(t, bd.b.AddRule("t", "s", broker.Rule{Name: "extra", Filter: broker.TrueFilter{}}))
			must(t, bd.b.RemoveRule("t", "s", "extra"))
		}
	})
	wg.Wait()
	info, err := bd.b.EntityInfo("t/Subscriptions/s")
	must(t, err)
	if info.Active != 200 {
		t.Errorf("active = %d, want 200 (the $Default rule matched every message once)", info.Active)
	}
}

func TestEntityInfo(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	created := bd.clock.Now()
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "gone"}))
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "fwd", ForwardTo: "gone"}))
	must(t, bd.b.Delete("gone"))
	bd.clock.Advance(time.Second)
	bd.send(t, "q", msg("12345"), msg("12345"), msg("12345"))
	later := msg("scheduled")
	later.ScheduledEnqueueTime = bd.clock.Now().Add(time.Hour)
	bd.send(t, "q", later)
	m := bd.one(t, "q")
	must(t, bd.b.DeadLetter("q", m.LockToken, "r", "d", nil))
	bd.send(t, "fwd", msg("lost")) // its destination is gone: a transfer dead letter

	info, err := bd.b.EntityInfo("Q")
	must(t, err)
	want := broker.Info{Active: 2, DeadLetter: 1, Scheduled: 1, SizeInBytes: 3*5 + int64(len("scheduled")),
		CreatedAt: created, UpdatedAt: created, AccessedAt: bd.clock.Now()}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("EntityInfo(q) = %+v\nwant %+v", info, want)
	}
	if info.Total() != 4 {
		t.Errorf("Total = %d", info.Total())
	}
	fi, err := bd.b.EntityInfo("fwd")
	must(t, err)
	if fi.TransferDeadLetter != 1 || fi.DeadLetter != 0 || fi.Active != 0 {
		t.Errorf("EntityInfo(fwd) = %+v", fi)
	}
	ti, err := bd.b.EntityInfo("t")
	must(t, err)
	if ti.SubscriptionCount != 0 || ti.CreatedAt != created {
		t.Errorf("EntityInfo(t) = %+v", ti)
	}
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "a"}))
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "b"}))
	bd.send(t, "t", msg("1234567"))
	if ti, err = bd.b.EntityInfo("t"); err != nil || ti.SubscriptionCount != 2 || ti.SizeInBytes != 14 {
		t.Errorf("EntityInfo(t) with two copies of 7 bytes = %+v, %v", ti, err)
	}
	_, err = bd.b.EntityInfo("q/$DeadLetterQueue")
	wantErr(t, err, broker.ErrNotFound)
}

func TestStatus(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s"}))
	bd.send(t, "q", msg("before"))
	r, err := bd.b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	defer r.Close()

	must(t, bd.b.SetStatus("q", broker.StatusReceiveDisabled))
	bd.send(t, "q", msg("still accepted"))
	_, err = r.TryReceive(1)
	wantErr(t, err, broker.ErrDisabled)
	wantErr(t, err, broker.ErrNotAllowed)
	_, err = bd.b.NewReceiver("q/$DeadLetterQueue", broker.PeekLock)
	wantErr(t, err, broker.ErrDisabled)
	_, err = bd.b.ReceiveBySequenceNumber("q", []int64{1}, broker.PeekLock)
	wantErr(t, err, broker.ErrDisabled)

	must(t, bd.b.SetStatus("Q", broker.StatusSendDisabled))
	_, err = bd.b.Send("q", []*broker.Message{msg("refused")})
	wantErr(t, err, broker.ErrDisabled)
	if got, err := r.TryReceive(5); err != nil || len(got) != 2 {
		t.Errorf("receive while SendDisabled: %d messages, %v; want the 2 sent before", len(got), err)
	}

	must(t, bd.b.SetStatus("t", broker.StatusDisabled))
	_, err = bd.b.Send("t", []*broker.Message{msg("refused")})
	wantErr(t, err, broker.ErrDisabled)
	must(t, bd.b.SetStatus("t/Subscriptions/s", broker.StatusDisabled))
	_, err = bd.b.NewReceiver("t/Subscriptions/s", broker.PeekLock)
	wantErr(t, err, broker.ErrDisabled)
	info, err := bd.b.EntityInfo("t/Subscriptions/s")
	must(t, err)
	if info.Status != broker.StatusDisabled || info.Status.String() != "Disabled" {
		t.Errorf("status = %v", info.Status)
	}

	must(t, bd.b.SetStatus("q", broker.StatusActive))
	bd.send(t, "q", msg("after"))
	wantErr(t, bd.b.SetStatus("q/$DeadLetterQueue", broker.StatusDisabled), broker.ErrNotAllowed)
	wantErr(t, bd.b.SetStatus("nope", broker.StatusDisabled), broker.ErrNotFound)
	wantErr(t, bd.b.SetStatus("q", broker.Status(9)), broker.ErrInvalid)
}

// TestUpdatesWhileTrafficFlows changes settings, forwarding and status while messages are sent,
// forwarded and received (run with -race: no data race, no deadlock, nothing lost).
func TestUpdatesWhileTrafficFlows(t *testing.T) {
	t.Parallel()
	b := broker.New(broker.Config{})
	t.Cleanup(b.Stop)
	must(t, b.CreateQueue(broker.QueueConfig{Name: "dest"}))
	must(t, b.CreateQueue(broker.QueueConfig{Name: "src"}))
	const n = 300
	var wg sync.WaitGroup
	wg.Go(func() {
		for range n {
			if _, err := b.Send("src", []*broker.Message{msg("x")}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for i := range 100 {
			fwd := ""
			if i%2 == 0 {
				fwd = "dest"
			}
			must(t, b.UpdateQueue(broker.QueueConfig{Name: "src", ForwardTo: fwd, LockDuration: time.Duration(10+i) * time.Second}))
			must(t, b.SetStatus("dest", broker.Status(i%2)*broker.StatusDisabled))
			if _, err := b.EntityInfo("src"); err != nil {
				t.Error(err)
			}
		}
		must(t, b.UpdateQueue(broker.QueueConfig{Name: "src"}))
		must(t, b.SetStatus("dest", broker.StatusActive))
	})
	wg.Wait()
	src, err := b.EntityInfo("src")
	must(t, err)
	dst, err := b.EntityInfo("dest")
	must(t, err)
	// Forwarding to a disabled destination dead-letters at the source, like a missing one.
	if got := src.Active + src.TransferDeadLetter + src.DeadLetter + dst.Active; got != n {
		t.Errorf("src %+v, dest %+v: %d messages accounted for, want %d", src, dst, got, n)
	}
}
