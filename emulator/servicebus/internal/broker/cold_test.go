package broker

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

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
		switch k / 10 {
		case 0:
			err = b.Abandon("q", m.LockToken, map[string]any{"abandoned": true})
		case 1:
			err = b.Defer("q", m.LockToken, map[string]any{"deferred": true})
		case 2:
			err = b.DeadLetter("q", m.LockToken, "why", "because", nil)
		case 3:
			err = b.Complete("q", m.LockToken)
		}
		mustNil(t, err)
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
