package broker_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/clock"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// memJournal keeps records in memory, as the write-ahead log would on disk.
type memJournal struct {
	mu   sync.Mutex
	recs [][]byte
}

func (j *memJournal) Append(rec []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.recs = append(j.recs, append([]byte(nil), rec...))
	return nil
}

func (j *memJournal) records() [][]byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([][]byte(nil), j.recs...)
}

// durableSetup makes a broker with a journal and the entities of the
// recovery tests: queue "q" (max 3 deliveries), session queue "sq", topic
// "t" with subscription "s", and queue "dd" with duplicate detection.
func durableSetup(t *testing.T, c *clock.Fake, j broker.Journal) *broker.Broker {
	t.Helper()
	b := broker.New(broker.Config{Clock: c, Journal: j})
	t.Cleanup(b.Stop)
	must(t, b.CreateQueue(broker.QueueConfig{Name: "q", LockDuration: 30 * time.Second, MaxDeliveryCount: 3}))
	must(t, b.CreateQueue(broker.QueueConfig{Name: "sq", RequiresSession: true}))
	must(t, b.CreateQueue(broker.QueueConfig{Name: "dd", RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: time.Hour}))
	must(t, b.CreateTopic(broker.TopicConfig{Name: "t"}))
	must(t, b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s"}))
	return b
}

func idMsg(id string) *broker.Message {
	m := &broker.Message{Body: []byte("body-" + id), ApplicationProperties: map[string]any{"id": id, "n": int64(7)}}
	m.Properties.MessageID, m.Properties.Present = id, broker.PropMessageID
	return m
}

// restart rebuilds a broker from j's records, as a restart after a crash.
func restart(t *testing.T, c *clock.Fake, j *memJournal) (*broker.Broker, broker.RecoveryStats) {
	b, st, _ := restartJournal(t, c, j)
	return b, st
}

// restartJournal is restart, also returning the new broker's journal, which
// starts with the snapshot that replaces the old records.
func restartJournal(t *testing.T, c *clock.Fake, j *memJournal) (*broker.Broker, broker.RecoveryStats, *memJournal) {
	t.Helper()
	next := &memJournal{}
	b := durableSetup(t, c, next)
	r := b.NewRecovery()
	for _, rec := range j.records() {
		if err := r.Apply(rec); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	st := r.Finish()
	must(t, b.Snapshot(next.Append))
	return b, st, next
}

func TestRecoveryRebuildsEveryMessageState(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	j := &memJournal{}
	b := durableSetup(t, c, j)
	for _, id := range []string{"done", "abandoned", "deferred", "dead", "locked", "waiting"} {
		_, err := b.Send("q", []*broker.Message{idMsg(id)})
		must(t, err)
	}
	later := idMsg("scheduled")
	later.ScheduledEnqueueTime = c.Now().Add(time.Hour)
	_, err := b.Send("t", []*broker.Message{idMsg("fanned"), later})
	must(t, err)
	_, err = b.Send("dd", []*broker.Message{idMsg("once")})
	must(t, err)
	sess := idMsg("in-session")
	sess.Properties.GroupID, sess.Properties.Present = "S1", sess.Properties.Present|broker.PropGroupID
	_, err = b.Send("sq", []*broker.Message{sess})
	must(t, err)
	must(t, b.SetSessionState("sq", "S1", []byte("state-1")))

	r, err := b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	got, err := r.TryReceive(5)
	if err != nil || len(got) != 5 {
		t.Fatalf("received %d, %v", len(got), err)
	}
	must(t, b.Complete("q", got[0].LockToken))
	must(t, b.Abandon("q", got[1].LockToken, map[string]any{"why": "retry"}))
	must(t, b.Defer("q", got[2].LockToken, nil))
	must(t, b.DeadLetter("q", got[3].LockToken, "bad", "described", nil))
	// got[4] ("locked") stays locked: the crash comes now.

	b2, st := restart(t, c, j)
	if st.Locked != 1 || st.Orphans != 0 {
		t.Fatalf("stats %+v, want one locked message and no orphans", st)
	}
	peek, err := b2.Peek("q", 0, 10)
	must(t, err)
	byID := map[string]*broker.Message{}
	for _, m := range peek {
		byID[m.Properties.MessageID.(string)] = m
	}
	if _, ok := byID["done"]; ok {
		t.Fatal("completed message came back")
	}
	if m := byID["abandoned"]; m == nil || m.DeliveryCount != 1 || m.ApplicationProperties["why"] != "retry" || m.State != broker.StateActive {
		t.Fatalf("abandoned message after restart: %+v", m)
	}
	if m := byID["deferred"]; m == nil || m.State != broker.StateDeferred || m.DeliveryCount != 1 {
		t.Fatalf("deferred message after restart: %+v", m)
	}
	if m := byID["locked"]; m == nil || m.DeliveryCount != 1 || m.State != broker.StateActive {
		t.Fatalf("message locked at the crash: %+v, want it back with DeliveryCount 1", m)
	}
	if m := byID["waiting"]; m == nil || m.DeliveryCount != 0 || string(m.Body) != "body-waiting" || m.ApplicationProperties["n"] != int64(7) {
		t.Fatalf("untouched message after restart: %+v", m)
	}
	dl, err := b2.Peek("q/$DeadLetterQueue", 0, 10)
	must(t, err)
	if len(dl) != 1 || dl[0].Properties.MessageID != "dead" || dl[0].ApplicationProperties[broker.PropDeadLetterReason] != "bad" {
		t.Fatalf("dead-letter queue after restart: %+v", dl)
	}
	subMsgs, err := b2.Peek("t/Subscriptions/s", 0, 10)
	must(t, err)
	if len(subMsgs) != 1 || subMsgs[0].Properties.MessageID != "fanned" {
		t.Fatalf("subscription after restart: %+v", subMsgs)
	}
	// Sequence numbers continue; duplicate detection remembers "once".
	seqs, err := b2.Send("q", []*broker.Message{idMsg("new")})
	must(t, err)
	if seqs[0] != 7 {
		t.Fatalf("first sequence number after restart %d, want 7", seqs[0])
	}
	_, err = b2.Send("dd", []*broker.Message{idMsg("once")})
	must(t, err)
	if st, _ := b2.Stats("dd"); st.Active != 1 { // the first "once" only
		t.Fatalf("dd: %+v, want the duplicate dropped", st)
	}
	// The scheduled message waits at the topic and fans out when due.
	c.Advance(90 * time.Minute)
	b2.RunTimers()
	subMsgs, err = b2.Peek("t/Subscriptions/s", 0, 10)
	must(t, err)
	if len(subMsgs) != 1 || subMsgs[0].Properties.MessageID != "scheduled" { // "fanned" expired (TTL 1 h)
		t.Fatalf("subscription after the schedule came due: %+v", subMsgs)
	}
	state, err := b2.SessionState("sq", "S1")
	must(t, err)
	if string(state) != "state-1" {
		t.Fatalf("session state after restart %q", state)
	}
}

// TestRecoveryOfALockAtTheLastDeliveryDeadLetters: a message locked at the
// crash on its MaxDeliveryCount-th delivery is dead-lettered, as a lock
// expiry would.
func TestRecoveryOfALockAtTheLastDeliveryDeadLetters(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	j := &memJournal{}
	b := durableSetup(t, c, j)
	_, err := b.Send("q", []*broker.Message{idMsg("m")})
	must(t, err)
	r, err := b.NewReceiver("q", broker.PeekLock)
	must(t, err)
	for range 2 {
		got, err := r.TryReceive(1)
		if err != nil || len(got) != 1 {
			t.Fatalf("receive: %v", err)
		}
		must(t, b.Abandon("q", got[0].LockToken, nil))
	}
	if got, err := r.TryReceive(1); err != nil || len(got) != 1 {
		t.Fatalf("third receive: %v", err)
	}
	b2, _, snap := restartJournal(t, c, j)
	// A second restart, from the snapshot, changes nothing more.
	b3, st := restart(t, c, snap)
	if st.Locked != 0 || st.Messages != 1 {
		t.Fatalf("second restart: %+v, want the one dead-lettered message, unlocked", st)
	}
	for i, br := range []*broker.Broker{b2, b3} {
		dl, err := br.Peek("q/$DeadLetterQueue", 0, 10)
		must(t, err)
		if len(dl) != 1 || dl[0].ApplicationProperties[broker.PropDeadLetterReason] != broker.ReasonMaxDeliveryCountExceeded || dl[0].DeliveryCount != 2 {
			t.Fatalf("restart %d: DLQ %+v", i+1, dl)
		}
		if st, err := br.Stats("q"); err != nil || st.Active != 0 {
			t.Fatalf("restart %d: queue %+v, %v", i+1, st, err)
		}
	}
}

// TestRecoveryRecreatesRuntimeEntitiesAndRules: entities created, changed
// and deleted after start (as the administration API and $management
// do) are journaled and come back as they were, messages included.
func TestRecoveryRecreatesRuntimeEntitiesAndRules(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	j := &memJournal{}
	b := durableSetup(t, c, j)
	must(t, b.CreateQueue(broker.QueueConfig{Name: "Runtime", LockDuration: 45 * time.Second, MaxDeliveryCount: 7}))
	must(t, b.UpdateQueue(broker.QueueConfig{Name: "runtime", LockDuration: 50 * time.Second, MaxDeliveryCount: 7}))
	must(t, b.CreateQueue(broker.QueueConfig{Name: "gone"}))
	must(t, b.CreateTopic(broker.TopicConfig{Name: "rt"}))
	must(t, b.CreateSubscription("rt", broker.SubscriptionConfig{Name: "sub"}))
	sql, err := broker.NewSQLFilter("n > 5")
	must(t, err)
	action, err := broker.NewSQLAction("SET tagged = 'yes'")
	must(t, err)
	must(t, b.AddRule("rt", "sub", broker.Rule{Name: "big", Filter: sql, Action: action}))
	must(t, b.AddRule("rt", "sub", broker.Rule{Name: "corr", Filter: &broker.CorrelationFilter{Subject: "s", Properties: map[string]any{"n": int64(7)}}}))
	must(t, b.RemoveRule("rt", "sub", broker.DefaultRuleName))
	_, err = b.Send("runtime", []*broker.Message{idMsg("r1")})
	must(t, err)
	_, err = b.Send("gone", []*broker.Message{idMsg("g1")})
	must(t, err)
	must(t, b.Delete("gone"))
	must(t, b.CreateQueue(broker.QueueConfig{Name: "gone"})) // same name, new and empty

	b2, st := restart(t, c, j)
	if st.Orphans != 0 {
		t.Fatalf("stats %+v", st)
	}
	q, err := b2.QueueSettings("runtime")
	must(t, err)
	if q.Name != "Runtime" || q.LockDuration != 50*time.Second || q.MaxDeliveryCount != 7 {
		t.Fatalf("runtime queue after restart: %+v", q)
	}
	if msgs, err := b2.Peek("runtime", 0, 10); err != nil || len(msgs) != 1 || msgs[0].Properties.MessageID != "r1" {
		t.Fatalf("runtime queue's messages after restart: %v, %v", msgs, err)
	}
	if msgs, err := b2.Peek("gone", 0, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("recreated queue after restart: %d messages, %v; want the deleted queue's message gone", len(msgs), err)
	}
	rules, err := b2.Rules("rt", "sub")
	must(t, err)
	if len(rules) != 2 || rules[0].Name != "big" || rules[1].Name != "corr" {
		t.Fatalf("rules after restart: %+v", rules)
	}
	// The rules work as before: "n" 7 matches both (the action's copy is tagged).
	m := idMsg("routed")
	m.Properties.Subject, m.Properties.Present = "s", m.Properties.Present|broker.PropSubject
	_, err = b2.Send("rt", []*broker.Message{m})
	must(t, err)
	got, err := b2.Peek("rt/Subscriptions/sub", 0, 10)
	must(t, err)
	tagged := 0
	for _, g := range got {
		if g.ApplicationProperties["tagged"] == "yes" {
			tagged++
		}
	}
	if len(got) != 2 || tagged != 1 {
		t.Fatalf("subscription after restart got %d copies, %d tagged; want 2, 1", len(got), tagged)
	}
}

// TestRecoveryKeepsPropertyTimestamps checks the properties' timestamps
// (stored as milliseconds) through the journal record: present ones,
// including the epoch itself, come back as sent; absent ones stay absent.
func TestRecoveryKeepsPropertyTimestamps(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	j := &memJournal{}
	b := durableSetup(t, c, j)
	stamped := idMsg("stamped")
	stamped.Properties.CreationTime = broker.Timestamp(1700000000123)
	stamped.Properties.AbsoluteExpiryTime = 0 // the epoch, present
	stamped.Properties.Present |= broker.PropCreationTime | broker.PropAbsoluteExpiryTime
	_, err := b.Send("q", []*broker.Message{stamped, idMsg("plain")})
	must(t, err)
	b2, _ := restart(t, c, j)
	got, err := b2.Peek("q", 0, 10)
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("peeked %d messages after restart, want 2", len(got))
	}
	p, q := got[0].Properties, got[1].Properties
	if !p.Has(broker.PropCreationTime) || p.CreationTime != 1700000000123 || !p.CreationTime.Time().Equal(time.UnixMilli(1700000000123)) ||
		!p.Has(broker.PropAbsoluteExpiryTime) || p.AbsoluteExpiryTime != 0 {
		t.Fatalf("timestamps after restart: %+v", p)
	}
	if q.Has(broker.PropCreationTime) || q.Has(broker.PropAbsoluteExpiryTime) || q.CreationTime != 0 {
		t.Fatalf("absent timestamps after restart: %+v", q)
	}
}

// TestRecoveryWiresForwardingToEntitiesRecreatedLater restarts twice: the
// second recovery reads the first one's snapshot, where queues come in
// alphabetical order, so "a-src" is recreated before its destination
// "z-dst". No message is dropped and forwarding still works.
func TestRecoveryWiresForwardingToEntitiesRecreatedLater(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	j := &memJournal{}
	b := durableSetup(t, c, j)
	must(t, b.CreateQueue(broker.QueueConfig{Name: "z-dst"}))
	must(t, b.CreateQueue(broker.QueueConfig{Name: "a-src"}))
	must(t, b.CreateTopic(broker.TopicConfig{Name: "a-topic"}))
	must(t, b.CreateSubscription("a-topic", broker.SubscriptionConfig{Name: "fw"}))
	// Sent before forwarding is set, so they stay in a-src.
	_, err := b.Send("a-src", []*broker.Message{idMsg("src1"), idMsg("src2")})
	must(t, err)
	must(t, b.UpdateQueue(broker.QueueConfig{Name: "a-src", ForwardTo: "z-dst", ForwardDeadLetteredTo: "z-dst"}))
	must(t, b.UpdateSubscription("a-topic", broker.SubscriptionConfig{Name: "fw", ForwardTo: "z-dst"}))
	_, err = b.Send("z-dst", []*broker.Message{idMsg("dst1")})
	must(t, err)

	_, st1, j2 := restartJournal(t, c, j)
	b3, st := restart(t, c, j2)
	if st1.Orphans != 0 || st.Orphans != 0 || st.Messages != st1.Messages {
		t.Fatalf("stats of the first restart %+v, of the second %+v: want no orphans", st1, st)
	}
	peekIDs := func(path string) []any {
		t.Helper()
		msgs, err := b3.Peek(path, 0, 10)
		must(t, err)
		var ids []any
		for _, m := range msgs {
			ids = append(ids, m.Properties.MessageID)
		}
		return ids
	}
	if ids := peekIDs("a-src"); len(ids) != 2 || ids[0] != "src1" || ids[1] != "src2" {
		t.Fatalf("a-src after two restarts: %v; want src1, src2", ids)
	}
	if ids := peekIDs("z-dst"); len(ids) != 1 || ids[0] != "dst1" {
		t.Fatalf("z-dst after two restarts: %v; want dst1", ids)
	}
	q, err := b3.QueueSettings("a-src")
	must(t, err)
	if q.ForwardTo != "z-dst" || q.ForwardDeadLetteredTo != "z-dst" {
		t.Fatalf("a-src settings after two restarts: %+v", q)
	}
	_, err = b3.Send("a-src", []*broker.Message{idMsg("src3")})
	must(t, err)
	_, err = b3.Send("a-topic", []*broker.Message{idMsg("topic1")})
	must(t, err)
	if ids := peekIDs("z-dst"); len(ids) != 3 || ids[1] != "src3" || ids[2] != "topic1" {
		t.Fatalf("z-dst after sends to a-src and a-topic: %v; want dst1, src3, topic1", ids)
	}
}

// TestRecoveryKeepsStatusAndUpdatedSettings checks that what the
// administration API changes after creation (status, limits, sizes, TTLs)
// survives two restarts (the journal's records, then its snapshot).
func TestRecoveryKeepsStatusAndUpdatedSettings(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	j := &memJournal{}
	b := durableSetup(t, c, j)
	must(t, b.CreateQueue(broker.QueueConfig{Name: "off"}))
	must(t, b.CreateQueue(broker.QueueConfig{Name: "nosend"}))
	must(t, b.CreateTopic(broker.TopicConfig{Name: "tp"}))
	must(t, b.CreateSubscription("tp", broker.SubscriptionConfig{Name: "norecv"}))
	wantQ := broker.QueueConfig{Name: "nosend", LockDuration: 70 * time.Second, MaxDeliveryCount: 4,
		DefaultMessageTimeToLive: time.Hour, DeadLetteringOnMessageExpiration: true, MaxSizeInMegabytes: 2048}
	must(t, b.UpdateQueue(wantQ))
	wantT := broker.TopicConfig{Name: "tp", DefaultMessageTimeToLive: 2 * time.Hour, MaxSizeInMegabytes: 3072}
	must(t, b.UpdateTopic(wantT))
	wantS := broker.SubscriptionConfig{Name: "norecv", LockDuration: 20 * time.Second, MaxDeliveryCount: 9,
		DefaultMessageTimeToLive: 30 * time.Minute, DeadLetteringOnMessageExpiration: true}
	must(t, b.UpdateSubscription("tp", wantS))
	must(t, b.SetStatus("off", broker.StatusDisabled))
	must(t, b.SetStatus("nosend", broker.StatusSendDisabled))
	must(t, b.SetStatus("tp", broker.StatusSendDisabled))
	must(t, b.SetStatus("tp/Subscriptions/norecv", broker.StatusReceiveDisabled))
	must(t, b.SetStatus("q", broker.StatusDisabled))
	must(t, b.SetStatus("q", broker.StatusActive)) // back to Active: Active after the restart too

	_, _, j2 := restartJournal(t, c, j)
	for i, b2 := range []*broker.Broker{nil, nil} {
		if i == 0 {
			b2, _ = restart(t, c, j)
		} else {
			b2, _ = restart(t, c, j2)
		}
		for path, want := range map[string]broker.Status{"off": broker.StatusDisabled, "nosend": broker.StatusSendDisabled,
			"tp": broker.StatusSendDisabled, "tp/Subscriptions/norecv": broker.StatusReceiveDisabled, "q": broker.StatusActive} {
			if info, err := b2.EntityInfo(path); err != nil || info.Status != want {
				t.Fatalf("restart %d: status of %s %v, %v; want %v", i+1, path, info.Status, err, want)
			}
		}
		if _, err := b2.Send("nosend", []*broker.Message{idMsg("x")}); !errors.Is(err, broker.ErrDisabled) {
			t.Fatalf("restart %d: send to a SendDisabled queue: %v; want ErrDisabled", i+1, err)
		}
		q, err := b2.QueueSettings("nosend")
		must(t, err)
		if q.LockDuration != wantQ.LockDuration || q.MaxDeliveryCount != wantQ.MaxDeliveryCount ||
			q.DefaultMessageTimeToLive != wantQ.DefaultMessageTimeToLive || !q.DeadLetteringOnMessageExpiration ||
			q.MaxSizeInMegabytes != wantQ.MaxSizeInMegabytes {
			t.Fatalf("restart %d: queue settings %+v; want %+v", i+1, q, wantQ)
		}
		tp, err := b2.TopicSettings("tp")
		must(t, err)
		if tp.DefaultMessageTimeToLive != wantT.DefaultMessageTimeToLive || tp.MaxSizeInMegabytes != wantT.MaxSizeInMegabytes {
			t.Fatalf("restart %d: topic settings %+v; want %+v", i+1, tp, wantT)
		}
		s, err := b2.SubscriptionSettings("tp", "norecv")
		must(t, err)
		if s.LockDuration != wantS.LockDuration || s.MaxDeliveryCount != wantS.MaxDeliveryCount ||
			s.DefaultMessageTimeToLive != wantS.DefaultMessageTimeToLive || !s.DeadLetteringOnMessageExpiration {
			t.Fatalf("restart %d: subscription settings %+v; want %+v", i+1, s, wantS)
		}
	}
}
