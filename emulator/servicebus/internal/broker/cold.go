package broker

import (
	"fmt"
)

// ColdLog is a Journal that can give back its records: with one, the
// broker keeps a stored message's position in the journal and may drop the
// message's bytes from memory (Broker.Evict), reading them back when it
// needs them (delivery, peek, forwarding, dead-lettering, a snapshot).
// Config.Journal is used as a ColdLog when it implements it.
type ColdLog interface {
	Journal
	// AppendAt is Append that returns where the record will be (never 0).
	AppendAt(rec []byte) (pos uint64, err error)
	// ReadableMark returns a test of whether a position from AppendAt
	// can be read now (the record is written); positions it answers true
	// for stay readable until a snapshot (SnapshotAt) replaced them.
	ReadableMark() func(pos uint64) bool
	// ReadAt returns the record at pos, whole and checked, or an error:
	// then the log has failed (its owner fails stop), as for a failed
	// append.
	ReadAt(pos uint64) ([]byte, error)
	// Fail reports that a record read back is not what its position
	// should hold: a log failure too.
	Fail(err error)
}

// stored returns e's stored form: e.data, or for a cold message the
// stored form of its client-supplied part read back from the journal.
// It is called with e's store's lock held, which a snapshot takes to
// replace e.pos, so the position stays readable during the read.
func (b *Broker) stored(e *entry) ([]byte, error) {
	if e.data != nil {
		return e.data, nil
	}
	rec, err := b.readBack(e)
	if err != nil {
		return nil, err
	}
	r, err := decodeRecord(rec)
	if err == nil && (r.kind != recPut || r.msg == nil || r.seq != e.seq) {
		err = fmt.Errorf("record of kind %q for message %d: %w", r.kind, r.seq, ErrInvalid)
	}
	if err != nil {
		// The journal checked the record's checksum: a record that is not
		// this message's put is a wrong position, never to be delivered.
		err = fmt.Errorf("reading back message %d at %d: %w", e.seq, e.pos, err)
		b.cfg.Logger.Error("journal read gave the wrong record", "err", err)
		b.cold.Fail(err)
		return nil, err
	}
	return encodeStored(r.msg, nil)
}

// readBack returns the journal record at cold e's position, as stored does
// (the caller checks that it is e's put record).
func (b *Broker) readBack(e *entry) ([]byte, error) {
	if b.cold == nil || e.pos == 0 {
		return nil, fmt.Errorf("message %d has neither bytes nor a journal position: %w", e.seq, ErrInvalid)
	}
	rec, err := b.cold.ReadAt(e.pos)
	if err != nil {
		err = fmt.Errorf("reading back message %d: %w", e.seq, err)
		b.cfg.Logger.Error("journal read failed", "err", err)
		return nil, err
	}
	return rec, nil
}

// appendRecord appends e's put record at path to buf: from its stored form
// when it is in memory, from its record read back when it is cold (the
// client part copied as it is, not decoded: what a snapshot of a cold
// backlog, the start's above all, costs per message). Called with e's
// store's lock held, as stored.
func (b *Broker) appendRecord(buf []byte, path string, e *entry) ([]byte, error) {
	if e.data != nil {
		return appendMessageRecord(buf, path, e, e.data)
	}
	rec, err := b.readBack(e)
	if err != nil {
		return buf, err
	}
	out, err := appendColdRecord(buf, path, e, rec)
	if err != nil {
		// As in stored: a checked record that is not this message's.
		err = fmt.Errorf("reading back message %d at %d: %w", e.seq, e.pos, err)
		b.cfg.Logger.Error("journal read gave the wrong record", "err", err)
		b.cold.Fail(err)
		return buf, err
	}
	return out, nil
}

// message is e.message with e's stored form from stored.
func (b *Broker) message(e *entry) (*Message, error) {
	data, err := b.stored(e)
	if err != nil {
		return nil, err
	}
	return e.message(data), nil
}

// addHot counts n stored bytes of e, now in s, in memory.
func (s *store) addHot(e *entry, n int) {
	s.hot += int64(n)
	if n > 0 && e.seq < s.coldTo {
		s.coldTo = e.seq
	}
}

// Evict drops from memory the stored bytes of messages whose journal
// record is readable, the oldest (lowest sequence number) of each queue,
// subscription and dead-letter queue first, until the stored bytes still
// in memory are at most budget; each store gives up the same share of
// what it holds, so a topic's subscriptions drop the same messages and
// the slab chunks those share are freed. Without a ColdLog it does
// nothing. It returns the stored bytes in memory before and after.
//
// A stored form shared by a topic's subscriptions counts once per
// subscription; a message scheduled at a topic is always in memory. Each
// store counts its bytes in memory as messages come and go, and knows
// below which number all are cold, so a pass costs the messages it
// evicts, not the backlog.
func (b *Broker) Evict(budget int64) (before, after int64) {
	if b.cold == nil {
		return 0, 0
	}
	ents := b.snapshot()
	hot := make([]int64, len(ents))
	for i, ent := range ents {
		ent.mu.Lock()
		hot[i] = ent.main.hot + ent.dlq.hot
		ent.mu.Unlock()
		before += hot[i]
	}
	after = before
	if before <= budget {
		return before, after
	}
	readable := b.cold.ReadableMark()
	for i, ent := range ents {
		// This entity's share of what must go, rounded up.
		goal := (hot[i]*(before-budget) + before - 1) / before
		ent.mu.Lock()
		for _, s := range []*store{ent.main, ent.dlq} {
			n := s.evict(goal, readable)
			goal -= n
			after -= n
		}
		ent.mu.Unlock()
	}
	return before, after
}

// evict drops the stored bytes of s's oldest messages whose records are
// readable until at least goal bytes went, and returns how many did.
func (s *store) evict(goal int64, readable func(uint64) bool) int64 {
	var n int64
	contiguous := true // every message from coldTo to here is cold
	s.all.ascend(s.coldTo, func(e *entry) bool {
		if n >= goal {
			return false
		}
		if e.data != nil && e.pos != 0 && readable(e.pos) {
			size := int64(len(e.data))
			e.coldBody = uint32(storedBodyLen(e.data))
			e.data = nil
			s.hot -= size
			n += size
		}
		if contiguous = contiguous && e.data == nil; contiguous {
			s.coldTo = e.seq + 1
		}
		return true
	})
	return n
}
