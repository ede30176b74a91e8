package broker

import (
	"fmt"
	"slices"
)

// Send enqueues copies of msgs on a queue or topic and returns their
// sequence numbers, in order. Only the client-supplied fields of msgs are
// used. A message whose ScheduledEnqueueTime is in the future is Scheduled
// until then. On a topic, each message is copied once to every subscription
// with at least one matching rule (and dropped if there is none).
//
// Errors: ErrNotFound for an unknown address; ErrNotAllowed for a
// subscription or dead-letter queue.
func (b *Broker) Send(address string, msgs []*Message) ([]int64, error) {
	tg, err := b.resolve(address)
	if err != nil {
		return nil, err
	}
	if !tg.addr.CanSend() {
		return nil, fmt.Errorf("cannot send to %s %s: %w", tg.addr.Kind, tg.addr.Path, ErrNotAllowed)
	}
	for i, m := range msgs {
		if m == nil {
			return nil, fmt.Errorf("send to %s: message %d is nil: %w", tg.addr.Path, i, ErrInvalid)
		}
	}
	now := b.now()
	if tg.top != nil {
		return tg.top.send(msgs, now)
	}
	if err := tg.lock(); err != nil {
		return nil, err
	}
	defer tg.ent.mu.Unlock()
	q := tg.ent
	seqs := make([]int64, len(msgs))
	for i, m := range msgs {
		q.seq++
		e := stampedEntry(m)
		stamp(e.msg, q.seq, now, q.limits.ttl)
		e.seq = q.seq
		q.main.add(e, now)
		seqs[i] = q.seq
	}
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
