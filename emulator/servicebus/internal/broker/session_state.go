package broker

import (
	"fmt"
	"slices"
	"time"
)

// Session operations by session id, for the $management node: they do not
// check which receiver asks (the wire layer knows links, the broker does
// not), only that the session exists where that matters.

// SessionState returns the state of a session of a session-enabled queue or
// subscription; nil when none is set (including unknown sessions).
func (b *Broker) SessionState(address, id string) ([]byte, error) {
	tg, err := lockTarget(b.sessionTarget(address))
	if err != nil {
		return nil, err
	}
	defer tg.ent.mu.Unlock()
	if m := tg.ent.sessions.byID[id]; m != nil && m.state != nil {
		return slices.Clone(m.state), nil
	}
	return nil, nil
}

// SetSessionState stores a copy of state for the session; an empty or nil
// state clears it, as Service Bus does (SetSessionState(nil) sends an
// empty binary).
func (b *Broker) SetSessionState(address, id string, state []byte) error {
	tg, err := lockTarget(b.sessionTarget(address))
	if err != nil {
		return err
	}
	defer tg.ent.mu.Unlock()
	ss := tg.ent.sessions
	m := ss.get(id)
	m.state, m.stateAt = nil, b.now()
	if len(state) > 0 {
		m.state = slices.Clone(state)
	}
	b.journal(recSession, tg.ent.path, id, m.state)
	ss.gc(m)
	return nil
}

// RenewSessionLock extends the lock of a held session to now +
// LockDuration and returns the new expiry; ErrSessionLockLost when no
// receiver holds the session (or its lock already expired).
func (b *Broker) RenewSessionLock(address, id string) (time.Time, error) {
	tg, err := lockTarget(b.sessionTarget(address))
	if err != nil {
		return time.Time{}, err
	}
	defer tg.ent.mu.Unlock()
	now := b.now()
	m := tg.ent.sessions.byID[id]
	if m == nil || m.owner == nil || tg.s.sessionLockExpired(m, now) {
		return time.Time{}, fmt.Errorf("session %q of %s: %w", id, tg.addr.Path, ErrSessionLockLost)
	}
	return tg.s.renewSession(m, now), nil
}

// ListSessions returns, sorted, the ids of the sessions that have messages
// in the entity (any state, dead-letter queue excluded) or a state, skipping
// the first skip and returning at most top (top ≤ 0: all). When
// updatedAfter is not zero it lists instead the sessions whose state was
// set after that time. It walks every message: a management operation, not
// the message path.
func (b *Broker) ListSessions(address string, updatedAfter time.Time, skip, top int) ([]string, error) {
	tg, err := lockTarget(b.sessionTarget(address))
	if err != nil {
		return nil, err
	}
	defer tg.ent.mu.Unlock()
	seen := map[string]bool{}
	if updatedAfter.IsZero() {
		tg.s.all.ascend(0, func(e *entry) bool {
			id, _ := e.sessionID()
			seen[id] = true
			return true
		})
	}
	for id, m := range tg.ent.sessions.byID {
		if m.state != nil && (updatedAfter.IsZero() || m.stateAt.After(updatedAfter)) {
			seen[id] = true
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = ids[min(max(skip, 0), len(ids)):]
	if top > 0 && len(ids) > top {
		ids = ids[:top]
	}
	return ids, nil
}

// PeekSession is Peek restricted to the messages of one session (what a
// session receiver's peek sees).
func (b *Broker) PeekSession(address, id string, from int64, count int) ([]*Message, error) {
	tg, err := b.sessionTarget(address)
	if err != nil {
		return nil, err
	}
	return peekTarget(tg, from, count, func(m *Message) bool { return m.Properties.GroupID == id })
}
