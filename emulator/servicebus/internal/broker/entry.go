package broker

import (
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
)

// entry is a message stored in a queue, subscription, DLQ or a topic's
// schedule: its client-supplied part in stored form (stored.go) and the
// broker-owned fields, plus its positions in the store's indexes (-1 when
// not in them). It is what a stored message costs besides its bytes, so it
// is kept small: times as Unix nanoseconds, 4-byte fields paired, and the
// fields most messages never use (lock, session id, dead-letter source, a
// forwarded message's first sequence number, scheduled time) behind ext.
// Message is made from it on demand (message).
type entry struct {
	// data is the client-supplied part (stored.go); shared by the
	// subscription copies of a topic message, never modified in place.
	data []byte
	ext  *entryExt // nil while none of its fields is set
	seq  int64     // SequenceNumber
	// enqueued is EnqueuedTime in Unix nanoseconds.
	enqueued int64
	ttl      time.Duration // TimeToLive
	// deadlineSec and deadlineNsec are the key in store.timers (0, 0 when
	// none): seconds and nanoseconds, as an expiry may lie past 2262,
	// where Unix nanoseconds end.
	deadlineSec int64
	// pos is where the journal has a put record of this message with its
	// current client-supplied part (ColdLog; 0: none known). A cold
	// message has data nil and is read back from there (Broker.stored).
	pos uint64
	// int32 indexes (a store never holds 2^31 entries, quota.go).
	availIdx      int32 // position in store.avail: heap index, inFIFO or notAvailable
	timerIdx      int32 // index in store.timers
	deliveryCount uint32
	size          int32 // what the message counts against its entity's quota
	state         State
	forwardHops   int32
	deadlineNsec  int32
	// coldBody is the body's length while data is nil (a cold message),
	// for the administration API's sizes; it fills what was padding.
	coldBody uint32
	// sl are its links in the skip list of its store (all) or topic
	// (scheduled).
	sl slLinks
}

// entryExt holds the broker-owned fields few stored messages have.
type entryExt struct {
	lockToken   uuid.UUID
	lockedUntil time.Time
	// scheduled is the client's ScheduledEnqueueTime (also in data), kept
	// here for the timers.
	scheduled time.Time
	// enqueueSeq is EnqueueSequenceNumber when it differs from seq (an
	// auto-forwarded message).
	enqueueSeq       int64
	deadLetterSource string
	sessionID        string // Properties.GroupID
	hasSession       bool   // PropGroupID is present
}

func (e *entry) x() *entryExt {
	if e.ext == nil {
		e.ext = &entryExt{}
	}
	return e.ext
}

func (e *entry) lockToken() uuid.UUID {
	if e.ext == nil {
		return uuid.Nil
	}
	return e.ext.lockToken
}

func (e *entry) lockedUntil() time.Time {
	if e.ext == nil {
		return time.Time{}
	}
	return e.ext.lockedUntil
}

func (e *entry) scheduled() time.Time {
	if e.ext == nil {
		return time.Time{}
	}
	return e.ext.scheduled
}

func (e *entry) sessionID() (string, bool) {
	if e.ext == nil {
		return "", false
	}
	return e.ext.sessionID, e.ext.hasSession
}

// bodyLen is the length of the message's body.
func (e *entry) bodyLen() int {
	if e.data == nil {
		return int(e.coldBody)
	}
	return storedBodyLen(e.data)
}

func (e *entry) enqueuedTime() time.Time { return fromUnixNano(e.enqueued) }

// expiresAt is Message.ExpiresAt.
func (e *entry) expiresAt() time.Time {
	if e.enqueued == 0 {
		return time.Time{}
	}
	return e.enqueuedTime().Add(e.ttl)
}

// unixNano is t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// setFields copies m's broker-owned fields (and the client fields the
// store indexes) into e's record.
func (e *entry) setFields(m *Message) {
	e.seq = m.SequenceNumber
	e.enqueued = unixNano(m.EnqueuedTime)
	e.ttl = m.TimeToLive
	e.deliveryCount = m.DeliveryCount
	e.size = int32(m.size())
	e.state = m.State
	e.forwardHops = m.forwardHops
	e.ext = nil
	if m.LockToken != uuid.Nil || !m.LockedUntil.IsZero() {
		e.x().lockToken, e.x().lockedUntil = m.LockToken, m.LockedUntil
	}
	if !m.ScheduledEnqueueTime.IsZero() {
		e.x().scheduled = m.ScheduledEnqueueTime
	}
	if m.EnqueueSequenceNumber != m.SequenceNumber {
		e.x().enqueueSeq = m.EnqueueSequenceNumber
	}
	if m.DeadLetterSource != "" {
		e.x().deadLetterSource = m.DeadLetterSource
	}
	if m.Properties.Has(PropGroupID) {
		e.x().sessionID, e.x().hasSession = m.Properties.GroupID, true
	}
}

// message returns a new Message holding e's state, whose client-supplied
// part is data (e.data, or what Broker.stored read back for a cold
// message). Its Body is a slice of data (read-only); everything else is
// its own.
func (e *entry) message(data []byte) *Message { return e.messageRaw(data, nil) }

// messageRaw is message that, with raw set, leaves the maps in raw as
// they are encoded in data (decodeStoredRaw).
func (e *entry) messageRaw(data []byte, raw *[3][]byte) *Message {
	m := new(Message)
	if err := decodeStoredRaw(data, m, raw); err != nil {
		// data was written by appendStored and is never modified.
		panic(fmt.Sprintf("broker: stored message %d unreadable: %v", e.seq, err))
	}
	e.brokerFields(m)
	return m
}

// brokerFields sets m's broker-owned fields (and Size) from e's record.
func (e *entry) brokerFields(m *Message) {
	m.Size = e.size
	m.forwardHops = e.forwardHops
	m.SequenceNumber = e.seq
	m.EnqueuedTime = e.enqueuedTime()
	m.EnqueueSequenceNumber = e.seq
	m.DeliveryCount = e.deliveryCount
	m.State = e.state
	m.TimeToLive = e.ttl
	if x := e.ext; x != nil {
		m.LockToken, m.LockedUntil = x.lockToken, x.lockedUntil
		if x.enqueueSeq != 0 {
			m.EnqueueSequenceNumber = x.enqueueSeq
		}
		m.DeadLetterSource = x.deadLetterSource
	}
}

// rewrite changes e's client-supplied part with edit (a settlement's
// properties to modify, a dead-letter reason): the rare path that writes
// a new stored form. Subscription copies sharing the old one keep it. It
// fails only when a cold message cannot be read back (a log failure:
// e is left as it was).
func (b *Broker) rewrite(e *entry, edit func(m *Message)) error {
	old, err := b.stored(e)
	if err != nil {
		return err
	}
	m := new(Message)
	if err := decodeStored(old, m); err != nil {
		panic(fmt.Sprintf("broker: stored message %d unreadable: %v", e.seq, err))
	}
	edit(m)
	data, err := encodeStored(m, nil)
	if err != nil {
		// The edits are strings and values that were decoded or checked
		// by the wire layer: they encode.
		panic(fmt.Sprintf("broker: stored message %d: %v", e.seq, err))
	}
	e.data, e.pos = data, 0 // no record has the new one yet
	return nil
}

// scratch buffers for appendStored: the stored form is written once into
// one of these and copied into an exact-size allocation.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// encodeStored returns m's client-supplied part in stored form, of exactly
// its size, cut from sl (nil: an allocation of its own).
func encodeStored(m *Message, sl *slab) ([]byte, error) {
	bp := scratch.Get().(*[]byte)
	defer scratch.Put(bp)
	b, err := appendStored((*bp)[:0], m)
	if err != nil {
		return nil, fmt.Errorf("message %v: %w: %w", m.Properties.MessageID, ErrInvalid, err)
	}
	*bp = b
	return sl.copyOf(b), nil
}

// newEntry makes an entry for m: its stored form (data, from encodeStored;
// nil to encode it here) and its broker-owned fields. m is not kept.
func newEntry(m *Message, data []byte) (*entry, error) {
	if data == nil {
		var err error
		if data, err = encodeStored(m, nil); err != nil {
			return nil, err
		}
	}
	e := &entry{data: data, availIdx: -1, timerIdx: -1}
	e.setFields(m)
	return e, nil
}

// coldEntry makes a cold entry for m, whose put record is at pos: no
// stored form, only the broker-owned fields and the body's length, as an
// evicted message has (Broker.stored reads it back). m is not kept.
func coldEntry(m *Message, pos uint64) *entry {
	e := &entry{pos: pos, coldBody: uint32(len(m.Body)), availIdx: -1, timerIdx: -1}
	e.setFields(m)
	return e
}

// mustEntry is newEntry for a message whose client part was stored
// before (a message taken from a store, recovered or given back).
func mustEntry(m *Message) *entry {
	e, err := newEntry(m, nil)
	if err != nil {
		panic(fmt.Sprintf("broker: message %d: %v", m.SequenceNumber, err))
	}
	return e
}

// moved returns a copy of e for another store, out of every index: e may
// still have a stale slot in its old store's FIFO (availQueue), which must
// not come alive again.
func (e *entry) moved() *entry {
	c := *e
	c.availIdx, c.timerIdx, c.deadlineSec, c.deadlineNsec = notAvailable, -1, 0, 0
	c.sl = slLinks{}
	if e.ext != nil {
		x := *e.ext
		c.ext = &x
	}
	return &c
}

// deadlineTime is the timer key as a time.
func (e *entry) deadlineTime() time.Time {
	if e.deadlineSec == 0 && e.deadlineNsec == 0 {
		return time.Time{}
	}
	return time.Unix(e.deadlineSec, int64(e.deadlineNsec))
}

// setDeadline sets the timer key; reports whether it changed.
func (e *entry) setDeadline(d time.Time) bool {
	var sec int64
	var nsec int32
	if !d.IsZero() {
		sec, nsec = d.Unix(), int32(d.Nanosecond())
	}
	if sec == e.deadlineSec && nsec == e.deadlineNsec {
		return false
	}
	e.deadlineSec, e.deadlineNsec = sec, nsec
	return true
}

// deadlineBefore orders timer keys.
func (e *entry) deadlineBefore(o *entry) bool {
	if e.deadlineSec != o.deadlineSec {
		return e.deadlineSec < o.deadlineSec
	}
	return e.deadlineNsec < o.deadlineNsec
}

// stampedEntry is the entry of a message just sent, numbered seq at now
// (stamp's rules, on the record): data is m's stored form, m is not kept.
func stampedEntry(m *Message, data []byte, seq int64, now time.Time, entityTTL time.Duration) *entry {
	e := &entry{data: data, availIdx: -1, timerIdx: -1, seq: seq, size: int32(m.size()),
		state: StateActive, enqueued: now.UnixNano(), ttl: entityTTL}
	if at := m.ScheduledEnqueueTime; at.After(now) {
		e.state = StateScheduled
		e.enqueued = at.UnixNano()
		e.x().scheduled = at
	}
	if m.Header.TTL > 0 && m.Header.TTL < entityTTL {
		e.ttl = m.Header.TTL
	}
	if m.Properties.Has(PropGroupID) {
		e.x().sessionID, e.ext.hasSession = m.Properties.GroupID, true
	}
	return e
}
