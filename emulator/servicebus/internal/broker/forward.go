package broker

import (
	"fmt"
	"strings"
	"sync"
)

// Auto-forwarding (ForwardTo and ForwardDeadLetteredTo), with Service Bus's
// rules:
//
//   - A queue or subscription with ForwardTo moves each message to the
//     destination queue or topic as soon as it becomes active there (a
//     scheduled message waits in the source until due). The source's main
//     queue cannot be received from ("After you set this property on a
//     queue, messages cannot be directly received from that queue"); its
//     dead-letter queue can.
//   - ForwardDeadLetteredTo sends what would enter the dead-letter queue to
//     the destination instead; DeadLetterReason, DeadLetterErrorDescription
//     and DeadLetterSource travel with the message.
//   - The destination must exist when the source is created and must be a
//     queue or topic. Session-enabled entities cannot use ForwardTo ("not
//     supported for session-enabled queues or subscriptions"); their
//     dead-letter queue, which has no sessions, may forward.
//   - A chain that leads back to the new entity (through either setting, or
//     a topic's subscriptions) is refused at creation with ErrInvalid.
//   - At run time each forward counts a hop; a message that would make a
//     fifth hop ("Messages that exceed four hops are dead-lettered") goes to
//     the dead-letter queue of the entity it is in (the transfer dead-letter
//     queue is for send-via, which this broker does not have), with reason
//     MaxTransferHopCountExceeded, the reason Service Bus uses. A destination deleted meanwhile sends the
//     message there too, with reason ForwardingDestinationNotFound (the
//     emulator's own code: the service's is not documented). Such messages
//     are not forwarded again, even with ForwardDeadLetteredTo, and that
//     dead-letter queue can be received from (the .NET docs say a queue
//     with ForwardDeadLetteredMessagesTo refuses it; here it only ever
//     holds these failures).
//   - A forwarded message gets a new sequence number in the destination but
//     keeps EnqueueSequenceNumber from where it was first sent; duplicate
//     detection of the destination applies.
//
// Mechanics: operations under an entity's lock only queue messages in the
// lock's outbox; Unlock sends them after releasing the lock, so forwarding
// never holds two entity locks and never nests a topic lock (callers must
// not unlock an entity while holding a topic or registry lock).

// MaxForwardHops is the number of auto-forwarding hops a message may make.
const MaxForwardHops = 4

// Dead-letter reasons of auto-forwarding failures.
const (
	ReasonMaxTransferHopCountExceeded = "MaxTransferHopCountExceeded"
	ReasonForwardingDestinationGone   = "ForwardingDestinationNotFound"
)

// forwarded is a message waiting in an entity's outbox.
type forwarded struct {
	dest string
	msg  *Message
}

// entityLock is an entity's mutex plus its forwarding outbox.
type entityLock struct {
	sync.Mutex
	outbox   []forwarded
	flushing bool // a goroutine is sending the outbox
	flush    func([]forwarded)
}

// Unlock releases the lock, then forwards what the critical section queued.
// One goroutine at a time sends an entity's outbox, until it is empty, so
// messages leave in the order they were queued ("Source queue tries to
// forward messages to the destination ... in the same order it got").
func (l *entityLock) Unlock() {
	if len(l.outbox) == 0 || l.flushing || l.flush == nil {
		l.Mutex.Unlock()
		return
	}
	l.flushing = true
	for {
		out := l.outbox
		l.outbox = nil
		l.Mutex.Unlock()
		l.flush(out)
		l.Mutex.Lock()
		if len(l.outbox) == 0 {
			l.flushing = false
			l.Mutex.Unlock()
			return
		}
	}
}

// queueForward hands m (no longer in any store) to the outbox. Requires
// e.mu.
func (e *entity) queueForward(dest string, m *Message) {
	e.mu.outbox = append(e.mu.outbox, forwarded{dest: dest, msg: m})
}

// forwards reports whether active messages of s leave for ForwardTo.
func (s *store) forwards() bool { return !s.dlq && s.ent.forwardTo != "" }

// deadLetterDest is where s's dead letters go: "" for its own DLQ.
func (s *store) deadLetterDest() string { return s.ent.forwardDLQ }

// flushForwards sends an entity's outbox, called without any lock held.
func (b *Broker) flushForwards(from *entity, out []forwarded) {
	for _, f := range out {
		m := f.msg
		m.forwardHops++
		if m.forwardHops > MaxForwardHops {
			b.transferDeadLetter(from, m, ReasonMaxTransferHopCountExceeded,
				fmt.Sprintf("The message exceeded the maximum of %d auto-forwarding hops on its way to %s.", MaxForwardHops, f.dest))
			continue
		}
		if _, err := b.send(f.dest, []*Message{m}, true, false); err != nil {
			b.cfg.Logger.Warn("auto-forwarding failed; message dead-lettered", "from", from.path, "to", f.dest, "err", err)
			b.transferDeadLetter(from, m, ReasonForwardingDestinationGone, fmt.Sprintf("Auto-forwarding to %s failed: %v", f.dest, err))
		}
	}
}

// transferDeadLetter puts a message that could not be forwarded in from's
// own dead-letter queue (never forwarded from there).
func (b *Broker) transferDeadLetter(from *entity, m *Message, reason, description string) {
	from.mu.Lock()
	defer from.mu.Unlock()
	if from.deleted {
		b.cfg.Logger.Warn("message lost with its deleted entity", "entity", from.path, "reason", reason)
		return
	}
	setDeadLetterReason(m, reason, description)
	m.DeadLetterSource = from.path
	m.State = StateActive
	from.dlq.add(mustEntry(m), b.now())
}

// keepForwarded restores on dst, a stamped copy of the forwarded message
// src, what forwarding preserves.
func keepForwarded(dst, src *Message) {
	dst.EnqueueSequenceNumber = src.EnqueueSequenceNumber
	dst.DeadLetterSource = src.DeadLetterSource
	dst.forwardHops = src.forwardHops
}

// keepForwardedEntry is keepForwarded for a stamped entry.
func keepForwardedEntry(dst *entry, src *Message) {
	if src.EnqueueSequenceNumber != dst.seq {
		dst.x().enqueueSeq = src.EnqueueSequenceNumber
	}
	if src.DeadLetterSource != "" {
		dst.x().deadLetterSource = src.DeadLetterSource
	}
	dst.forwardHops = src.forwardHops
}

// refuseForwardingReceive refuses receivers on the main queue of a
// forwarding entity.
func (tg target) refuseForwardingReceive() error {
	if tg.ent == nil || tg.addr.DeadLetter {
		return nil
	}
	tg.ent.mu.Lock()
	fwd := tg.ent.forwardTo // UpdateQueue may change it
	tg.ent.mu.Unlock()
	if fwd != "" {
		return fmt.Errorf("%s forwards to %s; receive from the destination: %w", tg.addr.Path, fwd, ErrNotAllowed)
	}
	return nil
}

// checkForwardLocked validates the forwarding settings of a new queue (self
// = its name) or subscription (self = its topic's name, since reaching the
// topic reaches the subscription). Requires b.mu.
func (b *Broker) checkForwardLocked(what, self string, session bool, fwd, fwdDLQ string) error {
	self = strings.ToLower(self)
	if session && fwd != "" {
		return fmt.Errorf("%s: ForwardTo is not supported on session-enabled entities: %w", what, ErrInvalid)
	}
	for _, d := range []string{fwd, fwdDLQ} {
		if d == "" {
			continue
		}
		key := strings.ToLower(d)
		if b.queues[key] == nil && b.topics[key] == nil && key != self {
			return fmt.Errorf("%s: auto-forwarding destination %q is not an existing queue or topic: %w", what, d, ErrInvalid)
		}
		if path, loop := b.reaches(key, self, map[string]bool{}); loop {
			return fmt.Errorf("%s: auto-forwarding loop %s -> %s: %w", what, what, strings.Join(path, " -> "), ErrInvalid)
		}
	}
	return nil
}

// reaches reports whether forwarding from entity name leads to target, and
// the chain of names. Requires b.mu.
func (b *Broker) reaches(name, target string, seen map[string]bool) ([]string, bool) {
	if name == target {
		return []string{name}, true
	}
	if seen[name] {
		return nil, false
	}
	seen[name] = true
	var next []*entity
	if q := b.queues[name]; q != nil {
		next = []*entity{q}
	} else if t := b.topics[name]; t != nil {
		t.mu.Lock()
		next = append(next, t.subList...)
		t.mu.Unlock()
	}
	for _, e := range next {
		for _, d := range []string{e.forwardTo, e.forwardDLQ} {
			if d == "" {
				continue
			}
			if path, ok := b.reaches(strings.ToLower(d), target, seen); ok {
				return append([]string{e.path}, path...), true
			}
		}
	}
	return nil, false
}

// addSubscription adds sub to t; with forwarding, the loop check and the
// insertion happen under the registry lock so that two concurrent
// creations cannot close a loop.
func (b *Broker) addSubscription(t *topic, sub *entity, cfg SubscriptionConfig) error {
	if cfg.ForwardTo == "" && cfg.ForwardDeadLetteredTo == "" {
		return t.addSub(sub, cfg.Name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkForwardLocked("subscription "+sub.path, t.name, cfg.RequiresSession, cfg.ForwardTo, cfg.ForwardDeadLetteredTo); err != nil {
		return err
	}
	return t.addSub(sub, cfg.Name)
}
