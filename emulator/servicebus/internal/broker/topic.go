package broker

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// topic numbers messages and copies each to the subscriptions whose rules
// match. Scheduled messages wait at the topic (so that one cancel removes
// every future copy) and fan out when they become due.
//
// Lock order: topic.mu before a subscription's entity.mu, never the reverse;
// the fan-out itself runs without topic.mu, because unlocking a subscription
// may auto-forward to another topic (forward.go).
type topic struct {
	b     *Broker
	name  string
	ttl   time.Duration
	dedup *dedupLog // guarded by mu; nil when duplicate detection is off
	quota *quota    // shared with the subscriptions; counts scheduled messages too

	// slab holds the stored forms of the messages sent to the topic,
	// shared by their subscription copies.
	slab slab

	mu      sync.Mutex
	seq     int64
	subs    map[string]*entity // by lower-case name
	subList []*entity          // copy-on-write snapshot for Send
	deleted bool

	scheduled *skiplist // by sequence number
	timers    timerHeap
	alarm     alarm

	admin adminState // timestamps and status (status.go)
}

func newTopic(b *Broker, cfg TopicConfig, ttl time.Duration, q *quota) *topic {
	t := &topic{b: b, name: cfg.Name, ttl: ttl, quota: q, subs: make(map[string]*entity), scheduled: newSkiplist(),
		dedup: newDedupLog(cfg.RequiresDuplicateDetection, cfg.DuplicateDetectionHistoryTimeWindow)}
	t.alarm.fire = t.runTimers
	t.alarm.halt = &b.stopped
	t.alarm.clock = b.cfg.Clock
	t.admin.init(b.now())
	return t
}

func (t *topic) addSub(sub *entity, name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.deleted {
		return fmt.Errorf("topic %s: %w", t.name, ErrNotFound)
	}
	key := strings.ToLower(name)
	if _, ok := t.subs[key]; ok {
		return fmt.Errorf("subscription %s/Subscriptions/%s: %w", t.name, name, ErrExists)
	}
	t.subs[key] = sub
	t.subList = append(slices.Clip(t.subList), sub)
	return nil
}

func (t *topic) removeSub(name string) (*entity, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := strings.ToLower(name)
	sub, ok := t.subs[key]
	if !ok {
		return nil, fmt.Errorf("subscription %s/Subscriptions/%s: %w", t.name, name, ErrNotFound)
	}
	delete(t.subs, key)
	t.subList = slices.DeleteFunc(slices.Clone(t.subList), func(e *entity) bool { return e == sub })
	return sub, nil
}

func (t *topic) sub(name string) *entity {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.subs[strings.ToLower(name)]
}

// send numbers msgs (copies), drops duplicates, keeps the scheduled ones and
// fans out the rest. fwd marks auto-forwarded messages.
func (t *topic) send(msgs []*Message, data [][]byte, now time.Time, fwd, owned bool) ([]int64, error) {
	seqs := make([]int64, len(msgs))
	var due []dueMessage
	t.mu.Lock()
	if t.deleted {
		t.mu.Unlock()
		return nil, fmt.Errorf("topic %s: %w", t.name, ErrNotFound)
	}
	if !fwd {
		if err := t.quota.admit(t.name, msgs); err != nil {
			t.mu.Unlock()
			return nil, err
		}
	}
	subs := t.subList
	t.admin.touch(now)
	for i, m := range msgs {
		t.seq++
		seqs[i] = t.seq
		if t.dedup.duplicate(m, now) {
			continue
		}
		t.b.journalDedup(t.dedup, t.name, m, now)
		var c *Message
		if owned { // never with fwd (see Broker.send)
			c = m
		} else {
			c = m.Clone()
		}
		stamp(c, t.seq, now, t.ttl)
		if fwd {
			keepForwarded(c, m)
		}
		if c.State == StateScheduled {
			e, _ := newEntry(c, data[i]) // data given: cannot fail
			t.scheduled.insert(c.SequenceNumber, e)
			t.quota.add(e)
			t.timers.set(e, c.ScheduledEnqueueTime)
			t.journalPut(c)
			continue
		}
		due = append(due, dueMessage{c, data[i]})
	}
	t.b.journal(recSeq, t.name, t.seq)
	t.alarm.arm(t.timers.next(), now)
	t.mu.Unlock()
	t.fanOut(subs, due, now)
	return seqs, nil
}

// fanOut gives each subscription what its rules route to it (rule.go): the
// first copy of a message keeps the topic's sequence number, further copies
// (from rules with actions) get new ones. The messages are the topic's own
// (already stamped) copies and are not modified; the copies that are a
// message itself share its stored form. Called without t.mu.
func (t *topic) fanOut(subs []*entity, msgs []dueMessage, now time.Time) {
	if len(msgs) == 0 {
		return
	}
	var routed []*Message
	for _, sub := range subs {
		var picked []*entry
		for _, d := range msgs {
			routed = sub.route(d.msg, routed[:0])
			for k, c := range routed {
				if k > 0 { // clones made by route
					c.SequenceNumber = t.nextSeq()
				}
				var data []byte
				if c == d.msg {
					data = d.data
				}
				e, err := newEntry(c, data)
				if err != nil {
					t.b.cfg.Logger.Warn("rule action made a message that cannot be stored; dropped",
						"subscription", sub.path, "sequenceNumber", c.SequenceNumber, "err", err)
					continue
				}
				e.ttl = min(e.ttl, sub.limits.ttl)
				picked = append(picked, e)
			}
		}
		clear(routed)
		if len(picked) == 0 {
			continue
		}
		sub.mu.Lock()
		if !sub.deleted {
			for _, e := range picked {
				sub.main.add(e, now)
			}
		}
		sub.mu.Unlock()
	}
}

// dueMessage is a stamped topic message to fan out and its stored form.
type dueMessage struct {
	msg  *Message
	data []byte
}

func (t *topic) cancel(seqs []int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, seq := range seqs {
		if t.scheduled.get(seq) == nil {
			return fmt.Errorf("scheduled message %d on topic %s: %w", seq, t.name, ErrMessageNotFound)
		}
	}
	for _, seq := range seqs {
		if e := t.scheduled.get(seq); e != nil {
			t.b.journal(recDel, t.name, seq)
			t.scheduled.remove(seq)
			t.quota.drop(e)
			t.timers.set(e, time.Time{})
		}
	}
	return nil
}

// runTimers fans out the scheduled messages that are due.
func (t *topic) runTimers() {
	t.mu.Lock()
	if t.deleted {
		t.mu.Unlock()
		return
	}
	now := t.b.now()
	var due []dueMessage
	for {
		e := t.timers.peek()
		if e == nil || e.deadlineTime().After(now) {
			break
		}
		t.timers.set(e, time.Time{})
		t.scheduled.remove(e.seq)
		t.b.journal(recDel, t.name, e.seq)
		t.quota.drop(e)
		e.state = StateActive
		due = append(due, dueMessage{e.message(e.data), e.data}) // scheduled at a topic: always hot
	}
	t.alarm.arm(t.timers.next(), now)
	subs := t.subList
	t.mu.Unlock()
	// The due messages already left t.scheduled, so a cancel from here on
	// finds nothing to cancel, as if it came after the fan-out.
	t.fanOut(subs, due, now)
}

// journalPut records a scheduled message kept at the topic.
func (t *topic) journalPut(m *Message) {
	if t.b.cfg.Journal != nil {
		t.b.journal(messageRecord(t.name, m)...)
	}
}

// nextSeq allocates a sequence number for an extra subscription copy.
func (t *topic) nextSeq() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	return t.seq
}

func (t *topic) kill() []*entity {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deleted = true
	t.alarm.stop()
	return t.subList
}

// stamp sets the broker-owned fields of a message being sent.
func stamp(m *Message, seq int64, now time.Time, entityTTL time.Duration) {
	m.SequenceNumber = seq
	m.EnqueueSequenceNumber = seq
	m.DeliveryCount = 0
	m.LockToken = [16]byte{}
	m.LockedUntil = time.Time{}
	m.DeadLetterSource = ""
	m.forwardHops = 0
	m.State = StateActive
	m.EnqueuedTime = now
	if m.ScheduledEnqueueTime.After(now) {
		m.State = StateScheduled
		m.EnqueuedTime = m.ScheduledEnqueueTime
	}
	m.TimeToLive = entityTTL
	if m.Header.TTL > 0 && m.Header.TTL < entityTTL {
		m.TimeToLive = m.Header.TTL
	}
}
