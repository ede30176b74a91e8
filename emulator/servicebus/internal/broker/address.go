package broker

import (
	"fmt"
	"strings"
)

// EntityKind tells what an address resolves to.
type EntityKind uint8

// Entity kinds.
const (
	KindQueue EntityKind = iota + 1
	KindTopic
	KindSubscription
)

// String returns the kind's name.
func (k EntityKind) String() string {
	switch k {
	case KindQueue:
		return "queue"
	case KindTopic:
		return "topic"
	case KindSubscription:
		return "subscription"
	}
	return "unknown"
}

// Path pieces, in the SDK's spelling. Addresses match case-insensitively.
const (
	deadLetterSuffix   = "/$DeadLetterQueue"
	subscriptionsInfix = "/Subscriptions/"
)

// Address is a resolved entity address.
type Address struct {
	Kind EntityKind
	// Path is the canonical path with the names' case as created: "queue",
	// "topic" or "topic/Subscriptions/sub", plus "/$DeadLetterQueue" when
	// DeadLetter.
	Path string
	// DeadLetter is true for a dead-letter sub-queue.
	DeadLetter bool
}

// CanSend reports whether messages may be sent to the address (queues and
// topics, not subscriptions or dead-letter queues).
func (a Address) CanSend() bool {
	return !a.DeadLetter && (a.Kind == KindQueue || a.Kind == KindTopic)
}

// CanReceive reports whether the address can be received from, peeked and
// settled on (queues, subscriptions and their dead-letter queues).
func (a Address) CanReceive() bool { return a.Kind == KindQueue || a.Kind == KindSubscription }

// target is a resolved address with its internals.
type target struct {
	addr Address
	ent  *entity // queue or subscription
	s    *store  // ent.main or ent.dlq
	top  *topic  // topic addresses only
}

// Resolve parses address case-insensitively ("queue", "topic",
// "topic/Subscriptions/sub", each optionally + "/$DeadLetterQueue"; topics
// have no DLQ) and finds its entity, or returns ErrNotFound.
func (b *Broker) Resolve(address string) (Address, error) {
	tg, err := b.resolve(address)
	return tg.addr, err
}

func (b *Broker) resolve(address string) (target, error) {
	lower := strings.ToLower(address)
	dlq := false
	if base, ok := strings.CutSuffix(lower, strings.ToLower(deadLetterSuffix)); ok {
		lower, dlq = base, true
	}
	notFound := func() (target, error) {
		return target{}, fmt.Errorf("messaging entity %q: %w", address, ErrNotFound)
	}
	b.mu.RLock()
	q, t := b.queues[lower], b.topics[lower]
	var parent *topic
	var subName string
	if q == nil && t == nil {
		if i := strings.LastIndex(lower, strings.ToLower(subscriptionsInfix)); i > 0 {
			parent = b.topics[lower[:i]]
			subName = lower[i+len(subscriptionsInfix):]
		}
	}
	b.mu.RUnlock()
	switch {
	case q != nil:
		return newTarget(q, dlq), nil
	case t != nil:
		if dlq {
			return notFound()
		}
		return target{addr: Address{Kind: KindTopic, Path: t.name}, top: t}, nil
	case parent != nil:
		if sub := parent.sub(subName); sub != nil {
			return newTarget(sub, dlq), nil
		}
	}
	return notFound()
}

func newTarget(e *entity, dlq bool) target {
	tg := target{addr: Address{Kind: e.kind, Path: e.path, DeadLetter: dlq}, ent: e, s: e.main}
	if dlq {
		tg.addr.Path += deadLetterSuffix
		tg.s = e.dlq
	}
	return tg
}

// receivable resolves an address that must be a queue, subscription or DLQ.
func (b *Broker) receivable(address string) (target, error) {
	tg, err := b.resolve(address)
	if err != nil {
		return tg, err
	}
	if !tg.addr.CanReceive() {
		return tg, fmt.Errorf("%s %s cannot be received from: %w", tg.addr.Kind, tg.addr.Path, ErrNotAllowed)
	}
	return tg, nil
}

// lockTarget locks the entity of a target just resolved, passing the
// resolver's error through: tg, err := lockTarget(b.receivable(address)).
// Unless it returns an error, the caller unlocks tg.ent.mu.
func lockTarget(tg target, err error) (target, error) {
	if err != nil {
		return tg, err
	}
	return tg, tg.lock()
}

// lock locks the target's entity, failing if it was deleted meanwhile.
func (tg target) lock() error {
	tg.ent.mu.Lock()
	if tg.ent.deleted {
		tg.ent.mu.Unlock()
		return fmt.Errorf("messaging entity %q: %w", tg.addr.Path, ErrNotFound)
	}
	return nil
}
