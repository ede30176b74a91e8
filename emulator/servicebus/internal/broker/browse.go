package broker

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ReceiveBySequenceNumber receives deferred messages by number. In PeekLock
// mode each is locked (it stays Deferred; settle it by its new LockToken);
// in ReceiveAndDelete mode each is removed. All or nothing: if any number
// does not name a deferred, unlocked message of the address, nothing
// happens and the error wraps ErrMessageNotFound. Duplicates count once.
func (b *Broker) ReceiveBySequenceNumber(address string, seqs []int64, mode ReceiveMode) ([]*Message, error) {
	tg, err := b.receivable(address)
	if err != nil {
		return nil, err
	}
	if err := tg.receiveEnabled(); err != nil {
		return nil, err
	}
	if err := tg.lock(); err != nil {
		return nil, err
	}
	defer tg.ent.mu.Unlock()
	return tg.s.receiveDeferred(seqs, mode, b.now(), nil)
}

// receiveDeferred implements ReceiveBySequenceNumber; when only is not nil,
// a message it rejects counts as not found. The entity's mu is held.
func (s *store) receiveDeferred(seqs []int64, mode ReceiveMode, now time.Time, only func(*Message) bool) ([]*Message, error) {
	// Every stored form is at hand before any message is delivered: a cold
	// one that cannot be read back (a log failure) fails the call with
	// nothing delivered.
	entries := make([]*entry, 0, len(seqs))
	datas := make([][]byte, 0, len(seqs))
	seen := make(map[int64]bool, len(seqs))
	for _, seq := range seqs {
		if seen[seq] {
			continue
		}
		seen[seq] = true
		e := s.all.get(seq)
		if e == nil || e.state != StateDeferred || e.lockToken() != uuid.Nil {
			return nil, fmt.Errorf("deferred message %d on %s: %w", seq, s.path, ErrMessageNotFound)
		}
		data, err := s.ent.b.stored(e)
		if err != nil {
			return nil, err
		}
		if only != nil && !only(e.message(data)) {
			return nil, fmt.Errorf("deferred message %d on %s: %w", seq, s.path, ErrMessageNotFound)
		}
		entries, datas = append(entries, e), append(datas, data)
	}
	out := make([]*Message, len(entries))
	for i, e := range entries {
		out[i] = s.deliverWith(e, datas[i], mode, now)
	}
	return out, nil
}

// Peek returns copies of up to count messages with sequence number ≥ from,
// in order, whatever their state (locked, deferred and scheduled included),
// without locking them and without their lock tokens.
func (b *Broker) Peek(address string, from int64, count int) ([]*Message, error) {
	tg, err := b.receivable(address)
	if err != nil {
		return nil, err
	}
	return peekTarget(tg, from, count, nil)
}

// peekTarget implements Peek and PeekSession on a resolved target.
func peekTarget(tg target, from int64, count int, keep func(*Message) bool) ([]*Message, error) {
	if count <= 0 {
		return nil, nil
	}
	if err := tg.lock(); err != nil {
		return nil, err
	}
	defer tg.ent.mu.Unlock()
	return tg.s.peek(from, count, keep), nil
}

// Stats are the message counts of a receivable address.
type Stats struct {
	// Active counts available (unlocked, Active) messages.
	Active int
	// Locked counts messages under a PeekLock lock, whatever their state.
	Locked    int
	Deferred  int
	Scheduled int
	// DeadLetter is the count in the entity's dead-letter queue (0 when the
	// address is itself a dead-letter queue).
	DeadLetter int
}

// Total is the number of messages counted in the address itself.
func (s Stats) Total() int { return s.Active + s.Locked + s.Deferred + s.Scheduled }

// Stats counts the messages of a queue, subscription or DLQ. It walks every
// message: meant for tests and the admin API, not the message path.
func (b *Broker) Stats(address string) (Stats, error) {
	tg, err := b.receivable(address)
	if err != nil {
		return Stats{}, err
	}
	if err := tg.lock(); err != nil {
		return Stats{}, err
	}
	defer tg.ent.mu.Unlock()
	st := tg.s.stats()
	if !tg.addr.DeadLetter {
		st.DeadLetter = tg.ent.dlq.all.len()
	}
	return st, nil
}
