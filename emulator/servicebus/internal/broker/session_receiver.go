package broker

import (
	"context"
	"fmt"
	"time"
)

// SessionReceiver is the holder of one session of a session-enabled queue
// or subscription: it receives that session's messages in sequence order,
// driven like a Receiver (TryReceive plus Notify, or Receive). It holds the
// session lock until Close, until the lock expires (renew it with
// RenewLock), or until the entity is deleted; from then on TryReceive fails
// with ErrSessionLockLost (ErrNotFound once deleted). Safe for concurrent
// use.
type SessionReceiver struct {
	b      *Broker
	tg     target
	mode   ReceiveMode
	sess   *msgSession
	notify chan struct{}

	closed bool // guarded by the entity's mu
}

// AcceptSession locks session id of a session-enabled queue or
// subscription, whether or not it has messages yet. Errors: ErrNotFound;
// ErrNotAllowed for an entity without sessions or a dead-letter queue;
// ErrSessionLocked when another receiver holds the session.
func (b *Broker) AcceptSession(address, id string, mode ReceiveMode) (*SessionReceiver, error) {
	tg, err := lockTarget(b.sessionTarget(address))
	if err != nil {
		return nil, err
	}
	defer tg.ent.mu.Unlock()
	now := b.now()
	ss := tg.ent.sessions
	if m := ss.byID[id]; m != nil && m.owner != nil && !tg.s.sessionLockExpired(m, now) {
		return nil, fmt.Errorf("session %q of %s: %w", id, tg.addr.Path, ErrSessionLocked)
	}
	// Looked up again: ending an expired lock may have forgotten an empty session.
	return b.holdSession(tg, ss.get(id), mode, now), nil
}

// AcceptNextSession locks the free session (not held by a receiver) whose
// oldest available message is the oldest, waiting for one until ctx ends
// (ErrNoSession), the entity is deleted (ErrNotFound) or the broker stops
// (ErrStopped). Sessions without available messages are never picked.
func (b *Broker) AcceptNextSession(ctx context.Context, address string, mode ReceiveMode) (*SessionReceiver, error) {
	tg, err := b.sessionTarget(address)
	if err != nil {
		return nil, err
	}
	wake := make(chan struct{}, 1)
	for {
		if err := tg.lock(); err != nil {
			return nil, err
		}
		now := b.now()
		if m := tg.s.pickSession(now); m != nil {
			r := b.holdSession(tg, m, mode, now)
			tg.ent.mu.Unlock()
			return r, nil
		}
		// Registered under the entity lock: a session freed or filled after
		// this point signals wake, so no wake-up is lost.
		tg.ent.sessions.acceptors = append(tg.ent.sessions.acceptors, wake)
		tg.ent.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			tg.ent.mu.Lock()
			tg.ent.sessions.dropAcceptor(wake)
			tg.ent.mu.Unlock()
			return nil, fmt.Errorf("accepting the next session of %s: %w (%w)", tg.addr.Path, ErrNoSession, ctx.Err())
		case <-b.done:
			return nil, ErrStopped
		}
	}
}

// sessionTarget resolves a session-enabled queue or subscription.
func (b *Broker) sessionTarget(address string) (target, error) {
	tg, err := b.receivable(address)
	if err != nil {
		return tg, err
	}
	if tg.addr.DeadLetter || tg.ent.sessions == nil {
		return tg, fmt.Errorf("%s: It is not possible for an entity that does not require sessions to create a sessionful message receiver: %w",
			tg.addr.Path, ErrNotAllowed)
	}
	return tg, tg.receiveEnabled()
}

// holdSession makes a new receiver the holder of m; the entity's mu is held.
func (b *Broker) holdSession(tg target, m *msgSession, mode ReceiveMode, now time.Time) *SessionReceiver {
	r := &SessionReceiver{b: b, tg: tg, mode: mode, sess: m, notify: make(chan struct{}, 1)}
	tg.s.lockSession(m, r, now)
	return r
}

// SessionID is the id of the session the receiver holds.
func (r *SessionReceiver) SessionID() string { return r.sess.id }

// Address is the resolved address of the session's entity.
func (r *SessionReceiver) Address() Address { return r.tg.addr }

// Mode is the receiver's settlement mode.
func (r *SessionReceiver) Mode() ReceiveMode { return r.mode }

// LockedUntil is when the session lock expires unless renewed; zero once
// the lock is lost.
func (r *SessionReceiver) LockedUntil() time.Time {
	r.tg.ent.mu.Lock()
	defer r.tg.ent.mu.Unlock()
	if r.sess.owner != r {
		return time.Time{}
	}
	return r.sess.lockedUntil
}

// Notify returns a channel that receives a value when the session may have
// new messages or the receiver's state changed (lock lost, entity deleted):
// call TryReceive again. Wake-ups may be spurious.
func (r *SessionReceiver) Notify() <-chan struct{} { return r.notify }

func (r *SessionReceiver) signal() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// held locks the entity and checks that r still holds its session; on
// success the caller must unlock the entity's mu.
func (r *SessionReceiver) held(now time.Time) error {
	if err := r.tg.lock(); err != nil {
		return err
	}
	switch {
	case r.closed:
		r.tg.ent.mu.Unlock()
		return ErrClosed
	case r.sess.owner != r || r.tg.s.sessionLockExpired(r.sess, now):
		r.tg.ent.mu.Unlock()
		return fmt.Errorf("session %q of %s: %w", r.sess.id, r.tg.addr.Path, ErrSessionLockLost)
	}
	return nil
}

// TryReceive returns up to max messages of the session without blocking:
// locked copies in PeekLock mode, removed messages in ReceiveAndDelete.
// Errors: ErrClosed, ErrSessionLockLost, ErrNotFound.
func (r *SessionReceiver) TryReceive(max int) ([]*Message, error) {
	now := r.b.now()
	if err := r.held(now); err != nil {
		return nil, err
	}
	defer r.tg.ent.mu.Unlock()
	if err := r.tg.receiveEnabled(); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, nil
	}
	return r.tg.s.takeFrom(&r.sess.avail, max, r.mode, now), nil
}

// Receive blocks until at least one message of the session is available
// (returning up to max), ctx ends, the lock is lost, the receiver is closed
// or the broker stops (ErrStopped).
func (r *SessionReceiver) Receive(ctx context.Context, max int) ([]*Message, error) {
	return r.b.waitReceive(ctx, max, r.TryReceive, r.notify, fmt.Sprintf("session %q of %s", r.sess.id, r.tg.addr.Path))
}

// Unreceive gives back messages that TryReceive returned but the caller
// could not deliver, as Receiver.Unreceive does.
func (r *SessionReceiver) Unreceive(msgs []*Message) { r.b.unreceive(r.tg, msgs, r.mode) }

// RenewLock extends the session lock to now + LockDuration and returns the
// new expiry. ErrSessionLockLost if the receiver no longer holds it.
func (r *SessionReceiver) RenewLock() (time.Time, error) {
	now := r.b.now()
	if err := r.held(now); err != nil {
		return time.Time{}, err
	}
	defer r.tg.ent.mu.Unlock()
	return r.tg.s.renewSession(r.sess, now), nil
}

// Close releases the session (its message locks are released without
// counting a delivery, so the next acceptor gets those messages again).
// Later TryReceive calls return ErrClosed. Idempotent.
func (r *SessionReceiver) Close() {
	r.tg.ent.mu.Lock()
	defer r.tg.ent.mu.Unlock()
	r.closed = true
	if r.sess.owner == r {
		r.tg.s.unlockSession(r.sess, r.b.now())
	}
	r.signal()
}

func (s *store) renewSession(m *msgSession, now time.Time) time.Time {
	m.lockedUntil = now.Add(s.ent.limits.lockDuration)
	s.alarm.arm(m.lockedUntil, now)
	return m.lockedUntil
}

// ReceiveDeferred is ReceiveBySequenceNumber for the held session: numbers
// of other sessions' messages are not found (ErrMessageNotFound).
// ErrSessionLockLost once the session is no longer held.
func (r *SessionReceiver) ReceiveDeferred(seqs []int64, mode ReceiveMode) ([]*Message, error) {
	now := r.b.now()
	if err := r.held(now); err != nil {
		return nil, err
	}
	defer r.tg.ent.mu.Unlock()
	if err := r.tg.receiveEnabled(); err != nil {
		return nil, err
	}
	id := r.sess.id
	return r.tg.s.receiveDeferred(seqs, mode, now, func(m *Message) bool { return m.Properties.GroupID == id })
}
