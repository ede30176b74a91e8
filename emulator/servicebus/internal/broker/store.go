package broker

import (
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"
)

// Dead-letter reasons set by the broker itself.
const (
	ReasonMaxDeliveryCountExceeded = "MaxDeliveryCountExceeded"
	ReasonTTLExpired               = "TTLExpiredException"
)

// Application-property keys for the dead-letter reason and description.
const (
	PropDeadLetterReason           = "DeadLetterReason"
	PropDeadLetterErrorDescription = "DeadLetterErrorDescription"
)

// store holds the messages of one queue, subscription or dead-letter queue
// and implements the message state machine (see doc.go). Every method
// requires the owning entity's mu to be held.
//
// Indexes, so that no operation scans all messages:
//   - all:    every message by sequence number (Peek, receive by number);
//   - avail:  Active, unlocked messages by sequence number (availQueue;
//     one per session instead on a session-enabled store, see session.go);
//   - timers: min-heap of each entry's next deadline (lock expiry, TTL
//     expiry or scheduled activation);
//   - locks:  locked entries by lock token.
type store struct {
	ent     *entity
	dlq     bool
	path    string
	all     *skiplist
	avail   availQueue
	timers  timerHeap
	locks   map[uuid.UUID]*entry
	waiters []*Receiver
	alarm   alarm
	// hot is the stored bytes of its messages in memory; every message
	// numbered below coldTo is cold (cold.go).
	hot    int64
	coldTo int64
}

func newStore(ent *entity, dlq bool, path string) *store {
	s := &store{ent: ent, dlq: dlq, path: path, all: newSkiplist(), locks: make(map[uuid.UUID]*entry)}
	s.alarm.fire = ent.runTimers
	s.alarm.halt = &ent.b.stopped
	s.alarm.clock = ent.b.cfg.Clock
	return s
}

// deadlineOf is the next time something happens to e by itself.
func (s *store) deadlineOf(e *entry) time.Time {
	switch {
	case e.lockToken() != uuid.Nil:
		return e.lockedUntil()
	case e.state == StateScheduled:
		return e.scheduled()
	case e.state == StateActive && !s.dlq:
		return e.expiresAt()
	}
	// Deferred messages and DLQ messages never expire.
	return time.Time{}
}

// retime recomputes e's deadline and arms the alarm if it got earlier.
func (s *store) retime(e *entry, now time.Time) {
	d := s.deadlineOf(e)
	s.timers.set(e, d)
	if !d.IsZero() {
		s.alarm.arm(s.timers.next(), now)
	}
}

// add stores a new entry (fresh send, dead-letter arrival, scheduled
// message, or a message given back by Unreceive).
func (s *store) add(e *entry, now time.Time) {
	s.ent.touched(now)
	s.all.insert(e.seq, e)
	s.addHot(e, len(e.data))
	s.ent.quota.add(e)
	s.journalPut(e)
	if s.sessionless(e) {
		s.deadLetter(e, ReasonSessionIDNull, descriptionSessionIDNull, nil, now)
		return
	}
	s.ready(e, now)
}

// ready files an unlocked entry under its state: available, scheduled
// (timer only) or deferred (by number only). Expired messages are expired.
func (s *store) ready(e *entry, now time.Time) {
	if e.state == StateActive {
		if s.expired(e, now) {
			s.expire(e, now)
			return
		}
		if s.forwards() {
			m, err := s.ent.b.message(e)
			if err != nil {
				return // a log failure, reported: the message stays
			}
			s.drop(e)
			s.ent.queueForward(s.ent.forwardTo, m)
			return
		}
		s.makeAvailable(e)
	}
	s.retime(e, now)
}

func (s *store) expired(e *entry, now time.Time) bool {
	return !s.dlq && e.state == StateActive && !e.expiresAt().After(now)
}

// wake signals the receivers waiting for messages.
func (s *store) wake() {
	if len(s.waiters) == 0 {
		return
	}
	for i, r := range s.waiters {
		r.waiting = false
		select {
		case r.notify <- struct{}{}:
		default:
		}
		s.waiters[i] = nil
	}
	s.waiters = s.waiters[:0]
}

// drop removes e from every index.
func (s *store) drop(e *entry) {
	s.journalDel(e)
	if s.all.remove(e.seq) {
		s.ent.quota.drop(e)
		s.hot -= int64(len(e.data))
	}
	s.unavail(e)
	s.timers.set(e, time.Time{})
	s.unlock(e)
}

func (s *store) unlock(e *entry) {
	if tok := e.lockToken(); tok != uuid.Nil {
		delete(s.locks, tok)
		e.ext.lockToken = uuid.Nil
		e.ext.lockedUntil = time.Time{}
	}
}

// take removes up to max available messages in sequence order and returns
// copies: locked ones in PeekLock mode, deleted ones in ReceiveAndDelete.
func (s *store) take(max int, mode ReceiveMode, now time.Time) []*Message {
	return s.takeFrom(&s.avail, max, mode, now)
}

// deliver locks or deletes e and returns the delivered copy. It fails
// only when a cold message cannot be read back (a log failure, reported):
// then e is left as it was.
func (s *store) deliver(e *entry, mode ReceiveMode, now time.Time) (*Message, error) {
	data, err := s.ent.b.stored(e)
	if err != nil {
		return nil, err
	}
	return s.deliverWith(e, data, mode, now), nil
}

// deliverWith is deliver with e's stored form already at hand.
func (s *store) deliverWith(e *entry, data []byte, mode ReceiveMode, now time.Time) *Message {
	s.ent.touched(now)
	if mode == ReceiveAndDelete {
		s.drop(e)
		return e.message(data)
	}
	s.lock(e, now)
	return e.message(data)
}

func (s *store) lock(e *entry, now time.Time) {
	tok := uuid.New()
	x := e.x()
	x.lockToken = tok
	x.lockedUntil = now.Add(s.ent.limits.lockDuration)
	s.locks[tok] = e
	s.journalLock(e)
	s.retime(e, now)
}

// locked returns the entry locked by tok. An expired lock is processed on
// the spot (so the answer does not depend on timer latency) and reported
// as lost.
func (s *store) locked(tok uuid.UUID, now time.Time) (*entry, error) {
	e := s.locks[tok]
	if e == nil {
		return nil, fmt.Errorf("lock token %s on %s: %w", tok, s.path, ErrLockLost)
	}
	if !e.lockedUntil().After(now) {
		s.lockExpired(e, now)
		return nil, fmt.Errorf("lock token %s on %s expired: %w", tok, s.path, ErrLockLost)
	}
	return e, nil
}

func (s *store) complete(e *entry) { s.drop(e) }

// abandon ends a delivery that counts: the message goes back (Active or
// still Deferred) with DeliveryCount+1, or to the DLQ when that delivery
// was the MaxDeliveryCount-th. In a DLQ nothing is counted.
func (s *store) abandon(e *entry, props map[string]any, now time.Time) {
	s.merge(e, props)
	s.unlock(e)
	if !s.dlq {
		if int(e.deliveryCount)+1 >= s.ent.limits.maxDeliveryCount {
			s.deadLetter(e, ReasonMaxDeliveryCountExceeded,
				fmt.Sprintf("Message could not be consumed after %d delivery attempts.", s.ent.limits.maxDeliveryCount), nil, now)
			return
		}
		e.deliveryCount++
	}
	s.journalPut(e)
	s.ready(e, now)
}

func (s *store) lockExpired(e *entry, now time.Time) { s.abandon(e, nil, now) }

// release ends a delivery that does not count (the SDK's releaser).
func (s *store) release(e *entry, now time.Time) {
	s.unlock(e)
	s.journalPut(e)
	s.ready(e, now)
}

// deferMsg sets the message aside; only ReceiveBySequenceNumber gets it.
// The delivery counts, as on Azure (a deferred message received by number
// carries header delivery-count 1 after one receive), but never
// dead-letters: the limit applies when a deferred message is abandoned.
func (s *store) deferMsg(e *entry, props map[string]any, now time.Time) {
	s.merge(e, props)
	s.unlock(e)
	if !s.dlq {
		e.deliveryCount++
	}
	e.state = StateDeferred
	s.journalPut(e)
	s.retime(e, now)
}

// deadLetter moves e to the entity's DLQ. DeliveryCount is unchanged.
func (s *store) deadLetter(e *entry, reason, description string, props map[string]any, now time.Time) {
	if err := s.rewrite(e, func(m *Message) {
		mergeProps(m, props)
		setDeadLetterReason(m, reason, description)
	}); err != nil {
		return // a log failure, reported: the message stays
	}
	s.drop(e)
	e.x().deadLetterSource = s.path
	e.state = StateActive
	if dest := s.deadLetterDest(); dest != "" {
		s.ent.queueForward(dest, e.message(e.data)) // rewritten: hot
		return
	}
	s.ent.dlq.add(e.moved(), now)
}

// expire removes an expired message or dead-letters it.
func (s *store) expire(e *entry, now time.Time) {
	if s.ent.limits.dlqOnExpiration {
		s.deadLetter(e, ReasonTTLExpired, "The message expired and was dead lettered.", nil, now)
		return
	}
	s.drop(e)
}

func (s *store) renew(e *entry, now time.Time) time.Time {
	e.x().lockedUntil = now.Add(s.ent.limits.lockDuration)
	s.retime(e, now)
	return e.ext.lockedUntil
}

// runTimers processes every deadline ≤ now, then re-arms the alarm.
func (s *store) runTimers(now time.Time) {
	for {
		e := s.timers.peek()
		if e == nil || e.deadlineTime().After(now) {
			break
		}
		s.timers.set(e, time.Time{})
		switch {
		case e.lockToken() != uuid.Nil:
			s.lockExpired(e, now)
		case e.state == StateScheduled:
			e.state = StateActive
			s.ready(e, now)
		case s.expired(e, now):
			s.unavail(e)
			s.expire(e, now)
		}
	}
	s.alarm.arm(s.timers.next(), now)
}

// peek returns copies of up to count messages with seq ≥ from, whatever
// their state, without lock tokens; keep, when not nil, selects which.
func (s *store) peek(from int64, count int, keep func(*Message) bool) []*Message {
	var out []*Message
	s.all.ascend(from, func(e *entry) bool {
		if len(out) >= count {
			return false
		}
		c, err := s.ent.b.message(e)
		if err != nil {
			return false // a log failure, reported: the peek ends here
		}
		if keep == nil || keep(c) {
			c.LockToken = uuid.Nil
			out = append(out, c)
		}
		return true
	})
	return out
}

func (s *store) stats() Stats {
	var st Stats
	s.all.ascend(0, func(e *entry) bool {
		switch {
		case e.lockToken() != uuid.Nil:
			st.Locked++
		case e.state == StateActive:
			st.Active++
		case e.state == StateDeferred:
			st.Deferred++
		case e.state == StateScheduled:
			st.Scheduled++
		}
		return true
	})
	return st
}

// merge applies properties-to-modify to e's application properties.
// A cold message that cannot be read back (a log failure, reported) keeps
// its properties.
func (s *store) merge(e *entry, props map[string]any) {
	if len(props) == 0 {
		return
	}
	_ = s.rewrite(e, func(m *Message) { mergeProps(m, props) })
}

// rewrite is Broker.rewrite for e in s: its new stored form is in memory.
func (s *store) rewrite(e *entry, edit func(m *Message)) error {
	old := len(e.data)
	if err := s.ent.b.rewrite(e, edit); err != nil {
		return err
	}
	if s.all.get(e.seq) == e {
		s.hot -= int64(old)
		s.addHot(e, len(e.data))
	}
	return nil
}

// mergeProps applies properties-to-modify to m's application properties.
func mergeProps(m *Message, props map[string]any) {
	if len(props) == 0 {
		return
	}
	if m.ApplicationProperties == nil {
		m.ApplicationProperties = make(map[string]any, len(props))
	}
	maps.Copy(m.ApplicationProperties, props)
}

// setDeadLetterReason sets the dead-letter reason and description
// application properties.
func setDeadLetterReason(m *Message, reason, description string) {
	if m.ApplicationProperties == nil {
		m.ApplicationProperties = make(map[string]any, 2)
	}
	m.ApplicationProperties[PropDeadLetterReason] = reason
	m.ApplicationProperties[PropDeadLetterErrorDescription] = description
}
