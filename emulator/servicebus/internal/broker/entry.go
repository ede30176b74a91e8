package broker

import "time"

// entry is a message stored in a queue, subscription or DLQ, plus its
// positions in the store's indexes (-1 when not in them).
type entry struct {
	msg      *Message
	own      Message   // storage for msg when the entry was made by stampedEntry
	seq      int64     // msg.SequenceNumber, kept here for cache-friendly heaps
	availIdx int       // position in store.avail: heap index, inFIFO or notAvailable
	timerIdx int       // index in store.timers
	deadline time.Time // key in store.timers
}

// stampedEntry copies m (as Message.Clone does) into a new entry with one
// allocation for both.
func stampedEntry(m *Message) *entry {
	e := &entry{availIdx: -1, timerIdx: -1}
	e.own = *m
	e.own.cloneRefs(m)
	e.msg = &e.own
	return e
}

func newEntry(m *Message) *entry {
	return &entry{msg: m, seq: m.SequenceNumber, availIdx: -1, timerIdx: -1}
}
