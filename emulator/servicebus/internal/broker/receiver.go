package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Receiver is a consumer of a queue, subscription or dead-letter queue,
// driven by the link layer as credit allows: call TryReceive(credit); when
// it returns fewer messages than asked, wait on Notify (or use Receive,
// which does both). Competing receivers on one entity get distinct
// messages, in sequence-number order among those available.
//
// A Receiver owns no messages: PeekLock locks belong to the entity and
// survive Close (settle them through the Broker by lock token). Safe for
// concurrent use.
type Receiver struct {
	b      *Broker
	tg     target
	mode   ReceiveMode
	notify chan struct{}

	// Guarded by the entity's mu.
	waiting bool
	closed  bool
}

// NewReceiver returns a consumer of a queue, subscription or DLQ.
// ErrNotFound for unknown addresses, ErrNotAllowed for topics and for
// session-enabled entities (their DLQ is fine).
func (b *Broker) NewReceiver(address string, mode ReceiveMode) (*Receiver, error) {
	tg, err := b.receivable(address)
	if err != nil {
		return nil, err
	}
	if tg.ent.sessions != nil && !tg.addr.DeadLetter {
		return nil, fmt.Errorf("%s: It is not possible for an entity that requires sessions to create a non-sessionful message receiver: %w",
			tg.addr.Path, ErrNotAllowed)
	}
	if err := tg.refuseForwardingReceive(); err != nil {
		return nil, err
	}
	if err := tg.receiveEnabled(); err != nil {
		return nil, err
	}
	return &Receiver{b: b, tg: tg, mode: mode, notify: make(chan struct{}, 1)}, nil
}

// Address is the resolved address the receiver consumes.
func (r *Receiver) Address() Address { return r.tg.addr }

// Mode is the receiver's settlement mode.
func (r *Receiver) Mode() ReceiveMode { return r.mode }

// Notify returns a channel that receives a value when messages may have
// become available after a TryReceive returned fewer than asked. A wake-up
// may be spurious (another receiver won the race): just call TryReceive
// again.
func (r *Receiver) Notify() <-chan struct{} { return r.notify }

// TryReceive returns up to max messages without blocking: locked copies in
// PeekLock mode (with fresh LockToken and LockedUntil), removed messages in
// ReceiveAndDelete mode. Errors: ErrClosed, or ErrNotFound once the entity
// is deleted.
func (r *Receiver) TryReceive(max int) ([]*Message, error) {
	if err := r.tg.lock(); err != nil {
		return nil, err
	}
	defer r.tg.ent.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if err := r.tg.receiveEnabled(); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, nil
	}
	s := r.tg.s
	out := s.take(max, r.mode, r.b.now())
	if len(out) < max && !r.waiting {
		// Registered under the entity lock, so a message made available
		// after this point is sure to signal us: no lost wake-up.
		r.waiting = true
		s.waiters = append(s.waiters, r)
	}
	return out, nil
}

// Receive blocks until at least one message is available (returning up to
// max), ctx ends, the receiver is closed or the broker stops (ErrStopped).
func (r *Receiver) Receive(ctx context.Context, max int) ([]*Message, error) {
	return r.b.waitReceive(ctx, max, r.TryReceive, r.notify, r.tg.addr.Path)
}

// waitReceive calls try until it returns messages or an error, waiting for
// notify between attempts, until ctx ends (the error names from) or the
// broker stops (ErrStopped). Receivers and session receivers share it.
func (b *Broker) waitReceive(ctx context.Context, max int, try func(int) ([]*Message, error), notify <-chan struct{}, from string) ([]*Message, error) {
	for {
		msgs, err := try(max)
		if err != nil || len(msgs) > 0 || max <= 0 {
			return msgs, err
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return nil, fmt.Errorf("receive from %s: %w", from, ctx.Err())
		case <-b.done:
			return nil, ErrStopped
		}
	}
}

// Unreceive gives back messages that TryReceive returned but the caller
// could not deliver (e.g. the link detached first), so that nothing is lost:
// PeekLock messages are released (no delivery counted) if still locked;
// ReceiveAndDelete messages are put back with their sequence numbers.
func (r *Receiver) Unreceive(msgs []*Message) { r.b.unreceive(r.tg, msgs, r.mode) }

// unreceive implements Unreceive for receivers and session receivers.
func (b *Broker) unreceive(tg target, msgs []*Message, mode ReceiveMode) {
	if tg.lock() != nil {
		return
	}
	defer tg.ent.mu.Unlock()
	tg.s.giveBack(msgs, mode, b.now())
}

// giveBack implements Unreceive; the entity's mu is held.
func (s *store) giveBack(msgs []*Message, mode ReceiveMode, now time.Time) {
	for _, m := range msgs {
		if mode == PeekLock {
			if e := s.locks[m.LockToken]; e != nil && m.LockToken != uuid.Nil {
				s.release(e, now)
			}
			continue
		}
		if s.all.get(m.SequenceNumber) == nil {
			e := mustEntry(m)
			if e.ext != nil {
				e.ext.lockToken, e.ext.lockedUntil = uuid.Nil, time.Time{}
			}
			s.add(e, now)
		}
	}
}

// Close stops the receiver; later TryReceive calls return ErrClosed and a
// blocked Receive returns it. Locks it handed out stay valid until they
// expire or are settled. Idempotent.
func (r *Receiver) Close() {
	r.tg.ent.mu.Lock()
	defer r.tg.ent.mu.Unlock()
	r.closed = true
	select {
	case r.notify <- struct{}{}:
	default:
	}
}
