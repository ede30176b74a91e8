package broker

import "time"

// entry is a message stored in a queue, subscription or DLQ, plus its
// positions in the store's indexes (-1 when not in them).
type entry struct {
	msg      *Message
	seq      int64     // msg.SequenceNumber, kept here for cache-friendly heaps
	availIdx int       // position in store.avail: heap index, inFIFO or notAvailable
	timerIdx int       // index in store.timers
	deadline time.Time // key in store.timers
}

// ownedEntry is an entry allocated together with its message.
type ownedEntry struct {
	entry
	own Message
}

// stampedEntry copies m (as Message.Clone does) into a new entry with one
// allocation for both.
func stampedEntry(m *Message) *entry {
	o := &ownedEntry{entry: entry{availIdx: -1, timerIdx: -1}, own: *m}
	o.own.cloneRefs(m)
	o.msg = &o.own
	return &o.entry
}

// newEntry makes an entry for m, which the store takes over.
func newEntry(m *Message) *entry {
	return &entry{msg: m, seq: m.SequenceNumber, availIdx: -1, timerIdx: -1}
}
