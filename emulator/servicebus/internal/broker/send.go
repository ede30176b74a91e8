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

// SendOwned is Send without the copy: the broker takes msgs over, and the
// caller must not use them (nor their maps) afterwards, whatever the
// result. The wire layer uses it for the messages it has just decoded, so
// that a stored message is the decoded one and not a second copy of it.
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
	now := b.now()
	if tg.top != nil {
		return tg.top.send(msgs, now, fwd, owned)
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
		var e *entry
		if owned { // never with fwd: keepForwarded reads m after stamp
			e = newEntry(m)
		} else {
			e = stampedEntry(m)
		}
		stamp(e.msg, q.seq, now, q.limits.ttl)
		if fwd {
			keepForwarded(e.msg, m)
		}
		e.seq = q.seq
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
		if e := s.all.get(seq); e == nil || e.msg.State != StateScheduled {
			return fmt.Errorf("scheduled message %d on %s: %w", seq, tg.addr.Path, ErrMessageNotFound)
		}
	}
	for _, seq := range slices.Compact(slices.Sorted(slices.Values(seqs))) {
		s.drop(s.all.get(seq))
	}
	return nil
}
