package broker

import (
	"fmt"
	"slices"
)

// Send enqueues copies of msgs on a queue or topic and returns their
// sequence numbers, in order. Only the client-supplied fields of msgs are
// used. A message whose ScheduledEnqueueTime is in the future is Scheduled
// until then. On a topic, each subscription gets what its rules select
// (rule.go: one copy for the matching rules without action, one more per
// matching rule with an action); a message no rule selects is dropped.
//
// Errors: ErrNotFound for an unknown address; ErrNotAllowed for a
// subscription or dead-letter queue, and for a message without session id
// sent to a session-enabled queue; ErrQuotaExceeded when the messages do not
// fit in the entity's MaxSizeInMegabytes (nothing is enqueued then).
//
// With duplicate detection, a message whose MessageId the queue or topic
// accepted within its window gets a sequence number but is dropped.
func (b *Broker) Send(address string, msgs []*Message) ([]int64, error) {
	return b.send(address, msgs, false, false)
}

// SendOwned is Send for messages the caller gives up: the broker may
// modify them while it stores them (a topic stamps them instead of
// stamping a copy), and the caller must not use them afterwards, whatever
// the result. Nothing of them is kept once SendOwned returns: what is
// stored is a stored form of its own (entry.go), so the wire layer reuses
// the buffers its messages were decoded from.
func (b *Broker) SendOwned(address string, msgs []*Message) ([]int64, error) {
	return b.send(address, msgs, false, true)
}

// send is Send; fwd marks messages being auto-forwarded (forward.go), owned
// those the broker may keep as they are (SendOwned). The two exclude each
// other: forwarding reads the source message after stamping the copy.
func (b *Broker) send(address string, msgs []*Message, fwd, owned bool) ([]int64, error) {
	tg, err := b.resolve(address)
	if err != nil {
		return nil, err
	}
	if !tg.addr.CanSend() {
		return nil, fmt.Errorf("cannot send to %s %s: %w", tg.addr.Kind, tg.addr.Path, ErrNotAllowed)
	}
	if err := tg.sendEnabled(); err != nil {
		return nil, err
	}
	for i, m := range msgs {
		if m == nil {
			return nil, fmt.Errorf("send to %s: message %d is nil: %w", tg.addr.Path, i, ErrInvalid)
		}
	}
	// Each message's client part is stored in one allocation of its own
	// (encodeStored), written here, before any lock, and shared by every
	// subscription copy of a topic message: what the caller passed in
	// (slices of its transfer buffer, for the wire layer) is not kept.
	var sl *slab // a subscription's copies share the topic's
	if tg.top != nil {
		sl = &tg.top.slab
	} else {
		sl = &tg.ent.slab
	}
	data := make([][]byte, len(msgs))
	for i, m := range msgs {
		if data[i], err = encodeStored(m, sl); err != nil {
			return nil, fmt.Errorf("send to %s: message %d: %w", tg.addr.Path, i, err)
		}
	}
	now := b.now()
	if tg.top != nil {
		return tg.top.send(msgs, data, now, fwd, owned)
	}
	// An auto-forwarded message without session id is not refused: the
	// session-enabled destination dead-letters it (store.add).
	if err := tg.ent.requireSessionIDs(msgs); err != nil && !fwd {
		return nil, err
	}
	// A forwarded message is not refused: it already left its source.
	if !fwd {
		if err := tg.ent.quota.admit(tg.addr.Path, msgs); err != nil {
			return nil, err
		}
	}
	if err := tg.lock(); err != nil {
		return nil, err
	}
	defer tg.ent.mu.Unlock()
	q := tg.ent
	seqs := make([]int64, len(msgs))
	for i, m := range msgs {
		q.seq++
		seqs[i] = q.seq
		if q.dedup.duplicate(m, now) {
			continue
		}
		b.journalDedup(q.dedup, q.path, m, now)
		e := stampedEntry(m, data[i], q.seq, now, q.limits.ttl)
		if fwd {
			keepForwardedEntry(e, m)
		}
		q.main.add(e, now)
	}
	b.journal(recSeq, q.path, q.seq)
	return seqs, nil
}

// CancelScheduled removes scheduled messages of a queue or topic by
// sequence number. All or nothing: if any number does not name a message
// that is still Scheduled, nothing is removed and the error wraps
// ErrMessageNotFound.
func (b *Broker) CancelScheduled(address string, seqs []int64) error {
	tg, err := b.resolve(address)
	if err != nil {
		return err
	}
	if !tg.addr.CanSend() {
		return fmt.Errorf("cannot cancel scheduled messages on %s %s: %w", tg.addr.Kind, tg.addr.Path, ErrNotAllowed)
	}
	if tg.top != nil {
		return tg.top.cancel(seqs)
	}
	if err := tg.lock(); err != nil {
		return err
	}
	defer tg.ent.mu.Unlock()
	s := tg.s
	for _, seq := range seqs {
		if e := s.all.get(seq); e == nil || e.state != StateScheduled {
			return fmt.Errorf("scheduled message %d on %s: %w", seq, tg.addr.Path, ErrMessageNotFound)
		}
	}
	for _, seq := range slices.Compact(slices.Sorted(slices.Values(seqs))) {
		s.drop(s.all.get(seq))
	}
	return nil
}
