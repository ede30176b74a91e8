package broker

import (
	"container/heap"
	"fmt"
	"slices"
	"time"
)

// Sessions (RequiresSession). A session-enabled queue or subscription keeps
// its available messages per session id (group-id) instead of in one queue:
// each session has its own availQueue, so order is FIFO within a session and
// sessions are independent. At most one SessionReceiver holds a session at
// a time, under a session lock of the entity's LockDuration that the holder
// renews; the lock ends when it expires or the receiver closes, and then
// every message lock taken under the session is released (no delivery
// counted) so the next acceptor gets those messages again. Message locks
// inside a session are otherwise ordinary locks. The dead-letter queue of a
// session entity is not session-enabled.

// Dead-letter reason and description for a topic message without session
// id copied to a session-enabled subscription, as Service Bus words them.
const (
	ReasonSessionIDNull      = "Session id is null."
	descriptionSessionIDNull = "Session enabled entity doesn't allow a message whose session identifier is null."
)

// msgSession is one session of a session-enabled entity. It exists while
// it has available messages, state or a holder (sessionSet.gc).
type msgSession struct {
	id          string
	avail       availQueue
	owner       *SessionReceiver // nil when unlocked
	lockedUntil time.Time
	state       []byte
	stateAt     time.Time // when state was last set

	// Position in sessionSet.free (-1 when not there) and its key there,
	// the sequence number of the oldest available message.
	freeIdx int
	headSeq int64
}

// sessionSet is the session bookkeeping of an entity; guarded by the
// entity's mu.
type sessionSet struct {
	byID      map[string]*msgSession
	locked    map[*msgSession]struct{}
	free      freeHeap        // sessions without holder that have available messages
	acceptors []chan struct{} // AcceptNextSession calls waiting for a session
}

func newSessionSet() *sessionSet {
	return &sessionSet{byID: map[string]*msgSession{}, locked: map[*msgSession]struct{}{}}
}

func (ss *sessionSet) get(id string) *msgSession {
	m := ss.byID[id]
	if m == nil {
		m = &msgSession{id: id, freeIdx: -1}
		ss.byID[id] = m
	}
	return m
}

// gc forgets a session that has nothing left to remember.
func (ss *sessionSet) gc(m *msgSession) {
	if m.owner == nil && m.state == nil && m.avail.peek() == nil {
		delete(ss.byID, m.id)
	}
}

// refresh files m in the free heap, or takes it out, after its holder or
// its available messages changed.
func (ss *sessionSet) refresh(m *msgSession) {
	head := m.avail.peek()
	switch {
	case m.owner != nil || head == nil:
		if m.freeIdx >= 0 {
			heap.Remove(&ss.free, m.freeIdx)
		}
	case m.freeIdx < 0:
		m.headSeq = head.seq
		heap.Push(&ss.free, m)
	case m.headSeq != head.seq:
		m.headSeq = head.seq
		heap.Fix(&ss.free, m.freeIdx)
	}
}

// freeHeap is a min-heap of sessions by the sequence number of their oldest
// available message, so accept-next takes the longest-waiting one.
type freeHeap []*msgSession

func (h freeHeap) Len() int           { return len(h) }
func (h freeHeap) Less(i, j int) bool { return h[i].headSeq < h[j].headSeq }
func (h freeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].freeIdx = i
	h[j].freeIdx = j
}

func (h *freeHeap) Push(x any) {
	m := x.(*msgSession)
	m.freeIdx = len(*h)
	*h = append(*h, m)
}

func (h *freeHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	m.freeIdx = -1
	return m
}

// wakeAcceptors signals every waiting AcceptNextSession; a wake-up may be
// spurious (another acceptor won).
func (ss *sessionSet) wakeAcceptors() {
	for i, ch := range ss.acceptors {
		select {
		case ch <- struct{}{}:
		default:
		}
		ss.acceptors[i] = nil
	}
	ss.acceptors = ss.acceptors[:0]
}

func (ss *sessionSet) dropAcceptor(ch chan struct{}) {
	ss.acceptors = slices.DeleteFunc(ss.acceptors, func(c chan struct{}) bool { return c == ch })
}

// sessionsOn reports whether s keeps its available messages per session.
func (s *store) sessionsOn() bool { return !s.dlq && s.ent.sessions != nil }

// makeAvailable files an available entry: in its session's queue on a
// session-enabled store (waking its holder, or the acceptors when the
// session is free), otherwise in s.avail (waking the receivers).
func (s *store) makeAvailable(e *entry) {
	if !s.sessionsOn() {
		s.avail.add(e)
		s.wake()
		return
	}
	id, _ := e.sessionID()
	m := s.ent.sessions.get(id)
	m.avail.add(e)
	s.ent.sessions.refresh(m)
	if m.owner != nil {
		m.owner.signal()
		return
	}
	s.ent.sessions.wakeAcceptors()
}

// unavail takes e out of the available messages (no-op if it is not there).
func (s *store) unavail(e *entry) {
	if !s.sessionsOn() {
		s.avail.remove(e)
		return
	}
	id, _ := e.sessionID()
	if m := s.ent.sessions.byID[id]; m != nil {
		m.avail.remove(e)
		s.ent.sessions.refresh(m)
		s.ent.sessions.gc(m)
	}
}

// sessionless reports whether e may not live in s: a session-enabled store
// takes only messages with a session id (queues refuse them at Send; topic
// copies are dead-lettered by add).
func (s *store) sessionless(e *entry) bool {
	_, has := e.sessionID()
	return s.sessionsOn() && !has
}

// lockSession gives m to r until now + LockDuration.
func (s *store) lockSession(m *msgSession, r *SessionReceiver, now time.Time) {
	m.owner = r
	m.lockedUntil = now.Add(s.ent.limits.lockDuration)
	s.ent.sessions.locked[m] = struct{}{}
	s.ent.sessions.refresh(m)
	s.alarm.arm(m.lockedUntil, now)
}

// unlockSession ends m's session lock: the holder is told (its next
// receive fails with ErrSessionLockLost), the message locks taken under the
// session are released without counting a delivery, and acceptors are woken
// if the session has messages.
func (s *store) unlockSession(m *msgSession, now time.Time) {
	if m.owner == nil {
		return
	}
	m.owner.signal()
	m.owner, m.lockedUntil = nil, time.Time{}
	delete(s.ent.sessions.locked, m)
	s.ent.sessions.refresh(m)
	var held []*entry
	for _, e := range s.locks {
		if id, _ := e.sessionID(); id == m.id {
			held = append(held, e)
		}
	}
	// Release in sequence order so the session's FIFO heap gets them back
	// in a deterministic way.
	slices.SortFunc(held, func(a, b *entry) int { return int(a.seq - b.seq) })
	for _, e := range held {
		s.release(e, now)
	}
	if m.avail.peek() != nil {
		s.ent.sessions.wakeAcceptors()
	}
	s.ent.sessions.gc(m)
}

// sessionLockExpired reports whether m is held under an expired lock, and
// if so ends that lock on the spot, so results never depend on timer
// latency.
func (s *store) sessionLockExpired(m *msgSession, now time.Time) bool {
	if m.owner == nil || m.lockedUntil.After(now) {
		return false
	}
	s.unlockSession(m, now)
	return true
}

// runSessionTimers ends the session locks due at now and re-arms the alarm
// for the next one. Called with the entity's mu held.
func (s *store) runSessionTimers(now time.Time) {
	if !s.sessionsOn() {
		return
	}
	var next time.Time
	for m := range s.ent.sessions.locked {
		if s.sessionLockExpired(m, now) {
			continue
		}
		if next.IsZero() || m.lockedUntil.Before(next) {
			next = m.lockedUntil
		}
	}
	s.alarm.arm(next, now)
}

// killSessions wakes every holder and acceptor of a deleted entity.
func (ss *sessionSet) kill() {
	for m := range ss.locked {
		m.owner.signal()
	}
	ss.wakeAcceptors()
}

// pickSession returns the free session whose oldest available message is
// the oldest, or nil. Expired session locks are ended first, so the answer
// does not depend on timer latency: O(held sessions + log sessions).
func (s *store) pickSession(now time.Time) *msgSession {
	ss := s.ent.sessions
	for m := range ss.locked {
		s.sessionLockExpired(m, now)
	}
	if len(ss.free) == 0 {
		return nil
	}
	return ss.free[0]
}

// takeFrom removes up to max available messages of q in sequence order and
// returns copies: locked ones in PeekLock mode, deleted ones in
// ReceiveAndDelete. Expired messages met on the way are expired.
func (s *store) takeFrom(q *availQueue, max int, mode ReceiveMode, now time.Time) []*Message {
	var out []*Message
	for len(out) < max {
		e := q.peek()
		if e == nil {
			break
		}
		q.remove(e)
		if s.expired(e, now) {
			s.expire(e, now)
			continue
		}
		m, err := s.deliver(e, mode, now)
		if err != nil {
			// A log failure, reported (the emulator fails stop): the
			// message is left out of the queue until the restart.
			break
		}
		out = append(out, m)
	}
	return out
}

// enableSessions makes a new entity session-enabled when on is true.
func (e *entity) enableSessions(on bool) {
	if on {
		e.sessions = newSessionSet()
	}
}

// requireSessionIDs refuses a send to a session-enabled queue when a
// message has no session id, with Service Bus's wording.
func (e *entity) requireSessionIDs(msgs []*Message) error {
	if e.sessions == nil {
		return nil
	}
	for i, m := range msgs {
		if !m.Properties.Has(PropGroupID) {
			return fmt.Errorf("send to %s: message %d: The SessionId was not set on a message, and it cannot be sent to the entity. "+
				"Entities that have session support enabled can only receive messages that have the SessionId set to a valid value: %w",
				e.path, i, ErrNotAllowed)
		}
	}
	return nil
}
