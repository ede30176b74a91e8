package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/clock"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/wal"
)

// walJournal is the write-ahead log as the broker's ColdLog, as the
// server adapts it.
type walJournal struct {
	l      *wal.Log
	failed error
}

func (j *walJournal) Append(rec []byte) error { _, err := j.l.Append(rec); return err }
func (j *walJournal) AppendAt(rec []byte) (uint64, error) {
	_, p, err := j.l.AppendAt(rec)
	return uint64(p), err
}
func (j *walJournal) ReadableMark() func(uint64) bool {
	m := j.l.ReadableMark()
	return func(p uint64) bool { return m(wal.Pos(p)) }
}
func (j *walJournal) ReadAt(pos uint64) ([]byte, error) { return j.l.ReadAt(wal.Pos(pos)) }
func (j *walJournal) Fail(err error)                    { j.failed = err }

// checkHot fails unless each store's count of stored bytes in memory, and
// its cold prefix, agree with its messages.
func checkHot(t *testing.T, b *Broker) int64 {
	t.Helper()
	var total int64
	for _, ent := range b.snapshot() {
		ent.mu.Lock()
		for _, s := range []*store{ent.main, ent.dlq} {
			var sum int64
			s.all.ascend(0, func(e *entry) bool {
				sum += int64(len(e.data))
				if e.seq < s.coldTo && e.data != nil {
					t.Errorf("%s: message %d is in memory below coldTo %d", s.path, e.seq, s.coldTo)
				}
				return true
			})
			if sum != s.hot {
				t.Errorf("%s: %d stored bytes in memory, counted %d", s.path, sum, s.hot)
			}
			total += sum
		}
		ent.mu.Unlock()
	}
	return total
}

// TestEvictKeepsCountsAndBodies evicts every message, settles cold ones in
// every way (properties to modify and dead-lettering rewrite them in
// memory), evicts again, and checks the counts Evict relies on and every
// body read back.
func TestEvictKeepsCountsAndBodies(t *testing.T) {
	t.Parallel()
	l, err := wal.Open(filepath.Join(t.TempDir(), "log"), nil)
	mustNil(t, err)
	defer func() { mustNil(t, l.Close()) }()
	b := New(Config{Journal: &walJournal{l: l}})
	defer b.Stop()
	mustNil(t, b.CreateQueue(QueueConfig{Name: "q", MaxDeliveryCount: 2}))
	mustNil(t, b.CreateTopic(TopicConfig{Name: "t"}))
	mustNil(t, b.CreateSubscription("t", SubscriptionConfig{Name: "a"}))
	mustNil(t, b.CreateSubscription("t", SubscriptionConfig{Name: "b"}))
	body := func(i int) string { return fmt.Sprintf("message %d %0*d", i, 200+i%50, i) }
	var msgs []*Message
	for i := range 100 {
		msgs = append(msgs, &Message{Body: []byte(body(i)), ApplicationProperties: map[string]any{"i": int64(i)}})
	}
	_, err = b.Send("q", msgs)
	mustNil(t, err)
	_, err = b.Send("t", msgs[:20])
	mustNil(t, err)
	evict := func() {
		t.Helper()
		mustNil(t, l.Sync(context.Background()))
		if _, after := b.Evict(0); after != 0 {
			t.Fatalf("%d stored bytes in memory after Evict(0)", after)
		}
		if n := checkHot(t, b); n != 0 {
			t.Fatalf("%d stored bytes in memory after Evict(0), by the messages", n)
		}
	}
	check := func(m *Message) {
		t.Helper()
		i, _ := m.ApplicationProperties["i"].(int64)
		if string(m.Body) != body(int(i)) {
			t.Fatalf("message %d: body %q", i, m.Body)
		}
	}
	evict()
	r, err := b.NewReceiver("q", PeekLock)
	mustNil(t, err)
	defer r.Close()
	got, err := r.TryReceive(40)
	mustNil(t, err)
	for k, m := range got {
		check(m)
		mustNil(t, settleByTens(b, k, m))
	}
	if checkHot(t, b) == 0 {
		t.Fatal("no rewritten message is in memory: the test proved nothing")
	}
	evict()
	peeked, err := b.Peek("q", 0, 200)
	mustNil(t, err)
	if len(peeked) != 80 {
		t.Fatalf("peeked %d, want 80", len(peeked))
	}
	for _, m := range peeked {
		check(m)
		i := m.ApplicationProperties["i"].(int64)
		if (i < 10) != (m.ApplicationProperties["abandoned"] == true) || (i >= 10 && i < 20) != (m.ApplicationProperties["deferred"] == true) {
			t.Fatalf("message %d: properties %v", i, m.ApplicationProperties)
		}
	}
	dead, err := b.Peek("q/$DeadLetterQueue", 0, 100)
	mustNil(t, err)
	if len(dead) != 10 {
		t.Fatalf("%d dead-lettered", len(dead))
	}
	for _, m := range dead {
		check(m)
	}
	for _, sub := range []string{"t/Subscriptions/a", "t/Subscriptions/b"} {
		sm, err := b.Peek(sub, 0, 100)
		mustNil(t, err)
		if len(sm) != 20 {
			t.Fatalf("%s: %d messages", sub, len(sm))
		}
		for _, m := range sm {
			check(m)
		}
	}
	all, err := b.NewReceiver("q", ReceiveAndDelete)
	mustNil(t, err)
	defer all.Close()
	rest, err := all.TryReceive(100)
	mustNil(t, err)
	if len(rest) != 70 { // 80 − 10 deferred
		t.Fatalf("received %d, want 70", len(rest))
	}
	for _, m := range rest {
		check(m)
	}
	if n := checkHot(t, b); n != 0 {
		t.Fatalf("%d bytes counted in memory with only cold messages left", n)
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// recoverWithBudget recovers a broker from the log at path as a server
// starts (OpenAt with ApplyAt, Finish, the start's compaction), keeping at
// most budget stored bytes in memory during the fold (negative: all), at
// time now. It returns the broker, its log, the stored bytes in memory
// after Finish, and the snapshot's records decoded.
func recoverWithBudget(t *testing.T, path string, budget int64, now time.Time) (*Broker, *wal.Log, int64, []record) {
	t.Helper()
	j := &walJournal{}
	b := New(Config{Journal: j, Clock: clock.NewFake(now)})
	t.Cleanup(b.Stop)
	r := b.NewRecovery()
	r.SetHotBytes(budget)
	l, err := wal.OpenAt(path, func(rec []byte, p wal.Pos) error { return r.ApplyAt(rec, uint64(p)) })
	mustNil(t, err)
	t.Cleanup(func() { mustNil(t, l.Close()) })
	j.l = l
	r.Finish()
	hot := checkHot(t, b)
	var snap []record
	mustNil(t, l.CompactAt(func(emit func([]byte) (wal.Pos, error)) error {
		return b.SnapshotAt(func(rec []byte) (uint64, error) {
			x, err := decodeRecord(rec)
			if err != nil {
				return 0, err
			}
			snap = append(snap, x)
			p, err := emit(rec)
			return uint64(p), err
		})
	}))
	slices.SortFunc(snap, func(a, b record) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.path, b.path), cmp.Compare(a.seq, b.seq), cmp.Compare(a.id, b.id))
	})
	return b, l, hot, snap
}

// TestRecoveryPastTheBudgetIsAHotRecovery recovers a log of messages in
// every state with a budget of a few messages, so most are recovered cold
// (and those Finish must change, or a topic keeps in memory, are read
// back), and compares the result with a recovery keeping every message in
// memory: the same snapshot records, the same messages read through the
// new log, while the fold kept no more than the budget in memory.
func TestRecoveryPastTheBudgetIsAHotRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	l, err := wal.Open(path, nil)
	mustNil(t, err)
	start := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	b := New(Config{Journal: &walJournal{l: l}, Clock: clock.NewFake(start)})
	mustNil(t, b.CreateQueue(QueueConfig{Name: "q", LockDuration: time.Minute, MaxDeliveryCount: 2}))
	mustNil(t, b.CreateQueue(QueueConfig{Name: "x", DefaultMessageTimeToLive: time.Minute, DeadLetteringOnMessageExpiration: true}))
	mustNil(t, b.CreateTopic(TopicConfig{Name: "t"}))
	mustNil(t, b.CreateSubscription("t", SubscriptionConfig{Name: "a"}))
	mustNil(t, b.CreateSubscription("t", SubscriptionConfig{Name: "b"}))
	body := func(i int) string { return fmt.Sprintf("message %d %0*d", i, 200+i%50, i) }
	batch := func(from, n int) []*Message {
		var msgs []*Message
		for i := from; i < from+n; i++ {
			msgs = append(msgs, &Message{Body: []byte(body(i)), ApplicationProperties: map[string]any{"i": int64(i)}})
		}
		return msgs
	}
	_, err = b.Send("q", batch(0, 200))
	mustNil(t, err)
	_, err = b.Send("x", batch(1000, 20)) // expired at the restart: dead-lettered
	mustNil(t, err)
	_, err = b.Send("t", batch(2000, 20))
	mustNil(t, err)
	scheduled := batch(3000, 5) // held at the topic until an hour from now
	for _, m := range scheduled {
		m.ScheduledEnqueueTime = start.Add(time.Hour)
	}
	_, err = b.Send("t", scheduled)
	mustNil(t, err)
	r, err := b.NewReceiver("q", PeekLock)
	mustNil(t, err)
	got, err := r.TryReceive(10)
	mustNil(t, err)
	for _, m := range got {
		mustNil(t, b.Abandon("q", m.LockToken, nil))
	}
	_, err = r.TryReceive(10) // locked at the crash at their last delivery: dead-lettered
	mustNil(t, err)
	got, err = r.TryReceive(50)
	mustNil(t, err)
	for k, m := range got {
		mustNil(t, settleByTens(b, k, m)) // the last ten stay locked: their delivery counts
	}
	r.Close()
	mustNil(t, l.Sync(context.Background()))
	b.Stop()
	mustNil(t, l.Close())
	raw, err := os.ReadFile(path)
	mustNil(t, err)
	mustNil(t, os.WriteFile(path+".hot", raw, 0o600))

	restart := start.Add(2 * time.Minute)
	const budget = 2000 // about eight messages
	cold, _, coldHot, coldSnap := recoverWithBudget(t, path, budget, restart)
	hot, _, hotHot, hotSnap := recoverWithBudget(t, path+".hot", -1, restart)
	// What Finish dead-lettered was rewritten in memory, on top of the
	// budget (and one message past it).
	if limit := int64(budget + 400 + 30*300); coldHot > limit || hotHot < 5*limit {
		t.Fatalf("stored bytes in memory after Finish: %d with budget %d (want ≤ %d), %d with none", coldHot, budget, limit, hotHot)
	}
	if len(coldSnap) != len(hotSnap) {
		t.Fatalf("snapshot of %d records, want %d", len(coldSnap), len(hotSnap))
	}
	for i := range hotSnap {
		if !reflect.DeepEqual(coldSnap[i], hotSnap[i]) {
			t.Fatalf("snapshot record %d:\n got %+v %+v\nwant %+v %+v", i, coldSnap[i], coldSnap[i].msg, hotSnap[i], hotSnap[i].msg)
		}
	}
	peeked := 0
	for _, path := range []string{"q", "q/$DeadLetterQueue", "x", "x/$DeadLetterQueue", "t/Subscriptions/a", "t/Subscriptions/b"} {
		cm, err := cold.Peek(path, 0, 1000)
		mustNil(t, err)
		hm, err := hot.Peek(path, 0, 1000)
		mustNil(t, err)
		if len(cm) != len(hm) {
			t.Fatalf("%s: %d messages, want %d", path, len(cm), len(hm))
		}
		for k := range hm {
			if !reflect.DeepEqual(cm[k], hm[k]) {
				t.Fatalf("%s: message %d read back differs:\n got %+v\nwant %+v", path, k, cm[k], hm[k])
			}
			if i, _ := hm[k].ApplicationProperties["i"].(int64); string(hm[k].Body) != body(int(i)) {
				t.Fatalf("%s: message %d: body %q", path, i, hm[k].Body)
			}
		}
		peeked += len(hm)
	}
	if peeked != 190+20+40 { // q: 200 − 10 completed (20 dead-lettered); x: 20; t: 20 × 2
		t.Fatalf("peeked %d messages", peeked)
	}
}

// failingJournal is a walJournal whose reads back fail, as a log's do when
// its disk fails: the log fails.
type failingJournal struct{ walJournal }

func (j *failingJournal) ReadAt(pos uint64) ([]byte, error) {
	err := fmt.Errorf("reading %d: %w", pos, wal.ErrUnreadable)
	j.l.Fail(err)
	return nil, err
}

// TestRecoveryReadBackFailureStopsTheStart: a cold message that recovery
// must read back (one scheduled at a topic, which a topic keeps in memory)
// and cannot is a log failure: the start's compaction refuses to replace
// the log, which stays as it was.
func TestRecoveryReadBackFailureStopsTheStart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	l, err := wal.Open(path, nil)
	mustNil(t, err)
	start := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	b := New(Config{Journal: &walJournal{l: l}, Clock: clock.NewFake(start)})
	mustNil(t, b.CreateTopic(TopicConfig{Name: "t"}))
	_, err = b.Send("t", []*Message{{Body: []byte("later"), ScheduledEnqueueTime: start.Add(time.Hour)}})
	mustNil(t, err)
	b.Stop()
	mustNil(t, l.Close())
	before, err := os.ReadFile(path)
	mustNil(t, err)

	j := &failingJournal{}
	b = New(Config{Journal: j, Clock: clock.NewFake(start)})
	defer b.Stop()
	r := b.NewRecovery()
	r.SetHotBytes(0)
	l, err = wal.OpenAt(path, func(rec []byte, p wal.Pos) error { return r.ApplyAt(rec, uint64(p)) })
	mustNil(t, err)
	j.l = l
	r.Finish()
	if err := l.Compact(b.Snapshot); !errors.Is(err, wal.ErrUnreadable) {
		t.Fatalf("compaction after a failed read-back: %v, want ErrUnreadable", err)
	}
	if err := l.Close(); !errors.Is(err, wal.ErrUnreadable) {
		t.Fatalf("Close: %v, want the read-back's failure", err)
	}
	after, err := os.ReadFile(path)
	mustNil(t, err)
	if string(after) != string(before) {
		t.Fatal("the log changed after a failed start")
	}
}

// settleByTens settles the k-th message of q received in a batch by its
// tens: abandoned (with a property), deferred (with a property),
// dead-lettered, completed; from the fortieth on it stays locked.
func settleByTens(b *Broker, k int, m *Message) error {
	switch k / 10 {
	case 0:
		return b.Abandon("q", m.LockToken, map[string]any{"abandoned": true})
	case 1:
		return b.Defer("q", m.LockToken, map[string]any{"deferred": true})
	case 2:
		return b.DeadLetter("q", m.LockToken, "why", "because", nil)
	case 3:
		return b.Complete("q", m.LockToken)
	}
	return nil
}
