package broker

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Settlement is by lock token on the entity: locks belong to the entity,
// not to the receiver or link that got the message, so any link (or the
// $management node) may settle. An unknown or expired token gives an error
// wrapping ErrLockLost; an expired lock is processed (the message returns,
// counted) at that moment.

// settle runs op on the entry locked by tok at address.
func (b *Broker) settle(address string, tok uuid.UUID, op func(s *store, e *entry, now time.Time) error) error {
	tg, err := b.receivable(address)
	if err != nil {
		return err
	}
	if err := tg.lock(); err != nil {
		return err
	}
	defer tg.ent.mu.Unlock()
	now := b.now()
	e, err := tg.s.locked(tok, now)
	if err != nil {
		return err
	}
	return op(tg.s, e, now)
}

// Complete deletes the message locked by tok.
func (b *Broker) Complete(address string, tok uuid.UUID) error {
	return b.settle(address, tok, func(s *store, e *entry, _ time.Time) error {
		s.complete(e)
		return nil
	})
}

// Abandon unlocks the message, merges props into its application
// properties and counts the delivery: DeliveryCount+1, or, when the
// abandoned delivery was the MaxDeliveryCount-th, the message moves to the
// DLQ with reason MaxDeliveryCountExceeded and its DeliveryCount unchanged.
// A deferred message stays deferred. In a DLQ nothing is counted.
func (b *Broker) Abandon(address string, tok uuid.UUID, props map[string]any) error {
	return b.settle(address, tok, func(s *store, e *entry, now time.Time) error {
		s.abandon(e, props, now)
		return nil
	})
}

// Defer unlocks the message, merges props and makes it Deferred: from then
// on only ReceiveBySequenceNumber returns it, and it never expires. The
// delivery counts (DeliveryCount+1, as Azure does; not in a DLQ), but Defer
// never dead-letters.
func (b *Broker) Defer(address string, tok uuid.UUID, props map[string]any) error {
	return b.settle(address, tok, func(s *store, e *entry, now time.Time) error {
		s.deferMsg(e, props, now)
		return nil
	})
}

// DeadLetter moves the message to the entity's dead-letter queue: props are
// merged, then application properties DeadLetterReason and
// DeadLetterErrorDescription are set to reason and description ("" when not
// given), DeadLetterSource to the entity path. DeliveryCount is unchanged.
// A message already in a DLQ cannot be dead-lettered (ErrNotAllowed).
func (b *Broker) DeadLetter(address string, tok uuid.UUID, reason, description string, props map[string]any) error {
	return b.settle(address, tok, func(s *store, e *entry, now time.Time) error {
		if s.dlq {
			return fmt.Errorf("dead-letter a message of %s: %w", s.path, ErrNotAllowed)
		}
		s.deadLetter(e, reason, description, props, now)
		return nil
	})
}

// Release unlocks the message without counting a delivery (AMQP
// "released", sent by the SDK for messages it received but did not hand
// to the application).
func (b *Broker) Release(address string, tok uuid.UUID) error {
	return b.settle(address, tok, func(s *store, e *entry, now time.Time) error {
		s.release(e, now)
		return nil
	})
}

// RenewLock extends each lock to now + LockDuration and returns the new
// LockedUntil times in order. All or nothing: if any token is lost, no
// lock is renewed.
func (b *Broker) RenewLock(address string, toks []uuid.UUID) ([]time.Time, error) {
	tg, err := lockTarget(b.receivable(address))
	if err != nil {
		return nil, err
	}
	defer tg.ent.mu.Unlock()
	now := b.now()
	entries := make([]*entry, len(toks))
	for i, tok := range toks {
		if entries[i], err = tg.s.locked(tok, now); err != nil {
			return nil, err
		}
	}
	out := make([]time.Time, len(toks))
	for i, e := range entries {
		out[i] = tg.s.renew(e, now)
	}
	return out, nil
}
