package broker

import (
	"fmt"
	"time"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// Journal receives the broker's durable state changes as records (see
// Config.Journal). Append is called with the owning entity's mutex held,
// so it must be quick (copy the record and return) and must not call back
// into the broker. A failed Append is logged and the change stays in
// memory: the journal's owner must then stop acknowledging (the server
// fails stop, see docs/servicebus-durability.md).
type Journal interface {
	Append(rec []byte) error
}

// Record kinds. A record is an AMQP list whose first element is the kind.
const (
	recPut     = "p" // a message's whole state at path (store or topic)
	recDel     = "d" // the message left path
	recLock    = "l" // the message at path was locked (a delivery started)
	recSeq     = "s" // the last sequence number of a queue or topic
	recDedup   = "u" // a MessageId accepted by a queue or topic, and when
	recSession = "t" // a session's state (null: cleared)
)

// journal appends rec if the broker has a journal. Every durable change
// goes through here, so nothing is written in memory mode and a failure is
// reported in one place.
// It returns the record's position when the journal is a ColdLog (0
// otherwise, or when the append failed).
func (b *Broker) journal(fields ...any) uint64 {
	if b.cfg.Journal == nil || b.replaying.Load() {
		return 0
	}
	rec, err := enc.AppendList(nil, fields)
	var pos uint64
	if err == nil {
		if b.cold != nil {
			pos, err = b.cold.AppendAt(rec)
		} else {
			err = b.cfg.Journal.Append(rec)
		}
	}
	if err != nil {
		b.cfg.Logger.Error("journal append failed; the change is not durable", "kind", fields[0], "err", err)
		return 0
	}
	return pos
}

// journalPut records e's whole state. A hot message's position becomes the
// new record's (evictable once the record is readable); a cold one keeps
// the one it has, whose record is readable and holds the same client part.
func (s *store) journalPut(e *entry) {
	b := s.ent.b
	if b.cfg.Journal == nil || b.replaying.Load() {
		// Replaying, nothing is journaled: a recovered cold message
		// need not be read back for a record that is not written.
		return
	}
	m, err := b.message(e)
	if err != nil {
		return // a log failure, reported: nothing more is durable
	}
	if pos := b.journal(messageRecord(s.path, m)...); pos != 0 && e.data != nil {
		e.pos = pos
	}
}

func (s *store) journalDel(e *entry) {
	if s.ent.b.cfg.Journal != nil {
		s.ent.b.journal(recDel, s.path, e.seq)
	}
}

func (s *store) journalLock(e *entry) {
	if s.ent.b.cfg.Journal != nil {
		s.ent.b.journal(recLock, s.path, e.seq)
	}
}

// journalDedup records that a queue or topic with duplicate detection
// accepted m's MessageId at now.
func (b *Broker) journalDedup(d *dedupLog, path string, m *Message, now time.Time) {
	if d == nil || b.cfg.Journal == nil || !m.Properties.Has(PropMessageID) {
		return
	}
	if v, ok := idString(m.Properties.MessageID); ok {
		b.journal(recDedup, path, v.(string), now.UnixNano())
	}
}

// nanos encodes a time exactly (AMQP timestamps have milliseconds only);
// the zero time is null.
func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNanos(v any) time.Time {
	n, ok := v.(int64)
	if !ok {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// messageRecord lists every field of m that survives a restart; the lock
// does not (a lock held at a crash expires, see recover).
func messageRecord(path string, m *Message) []any {
	p := &m.Properties
	var userID any
	if p.UserID != nil {
		userID = p.UserID
	}
	return []any{recPut, path, m.SequenceNumber,
		m.Header.Durable, m.Header.Priority, int64(m.Header.TTL),
		nilMap(m.DeliveryAnnotations), nilMap(m.Annotations),
		uint32(p.Present), p.MessageID, userID, p.To, p.Subject, p.ReplyTo, p.CorrelationID,
		p.ContentType, p.ContentEncoding, nanos(p.AbsoluteExpiryTime.Time()), nanos(p.CreationTime.Time()),
		p.GroupID, p.GroupSequence, p.ReplyToGroupID,
		nilMap(m.ApplicationProperties), m.Body, nanos(m.ScheduledEnqueueTime), m.PartitionKey,
		nanos(m.EnqueuedTime), m.EnqueueSequenceNumber, m.DeliveryCount, int32(m.State),
		m.DeadLetterSource, int64(m.TimeToLive), nanos(m.ExpiresAt()), int64(m.forwardHops),
	}
}

// appendMessageRecord appends to b the put record of e, whose client part
// is data, at path: the record messageRecord(path, e.message(data)) encodes,
// made without decoding the stored form's maps, which are copied as they
// are (the stored form holds each as the codec encodes a map, and a record
// decodes them alike). This is most of what a snapshot of a large backlog
// costs, hence the shortcut.
func appendMessageRecord(b []byte, path string, e *entry, data []byte) ([]byte, error) {
	var raw [3][]byte // delivery annotations, annotations, application properties
	fields := messageRecord(path, e.messageRaw(data, &raw))
	b, start := enc.BeginComposite(b)
	for i, v := range fields {
		k := -1
		switch i {
		case 6:
			k = 0
		case 7:
			k = 1
		case 22:
			k = 2
		}
		if k >= 0 && raw[k] != nil {
			b = append(b, raw[k]...)
			continue
		}
		var err error
		if b, err = enc.Append(b, v); err != nil {
			return b, err
		}
	}
	return enc.EndList(b, start, len(fields)), nil
}

// Fields of a put record: 0 kind, 1 path, 2 sequence number, then the
// client-supplied part (clientFirst to clientEnd-1: header, maps,
// properties, body, scheduled time, partition key, what a stored form
// holds), then the broker-owned fields.
const (
	clientFirst = 3
	clientEnd   = 26
)

// appendColdRecord appends to b the put record of e at path, made from rec,
// a put record of e read back from the journal: e's client part is the
// one in rec (a cold message's position is always such a record's), copied
// as it is; the other fields are e's now (its path, delivery count, state
// and the rest may have changed since rec was written). It fails for a
// record that is not a put of e.
func appendColdRecord(b []byte, path string, e *entry, rec []byte) ([]byte, error) {
	d := enc.NewDecoder(rec)
	l, n, err := d.ListHeader()
	if err != nil {
		return b, fmt.Errorf("journal record: %w", err)
	}
	if n != messageFields {
		return b, fmt.Errorf("journal record of %d fields for message %d: %w", n, e.seq, ErrInvalid)
	}
	kind, _ := l.Value()
	_ = l.Skip() // its path: e's may differ (a dead-lettered message's)
	seq, err := l.Value()
	if err != nil || kind != recPut || seq != e.seq {
		return b, fmt.Errorf("record of kind %v for message %v, want a put of %d: %w", kind, seq, e.seq, ErrInvalid)
	}
	rest := l.Rest()
	for i := clientFirst; i < clientEnd; i++ {
		// Checked as decodeRecord reads them, so that the snapshot never
		// writes a record recovery would refuse.
		if i == 6 || i == 7 || i == 22 {
			_, err = l.KeyedMap()
		} else {
			err = l.Skip()
		}
		if err != nil {
			return b, fmt.Errorf("journal record field %d: %w", i, err)
		}
	}
	client := rest[:len(rest)-l.Len()]
	var m Message
	e.brokerFields(&m)
	fields := messageRecord(path, &m)
	b, start := enc.BeginComposite(b)
	for i, v := range fields {
		if i == clientFirst {
			b = append(b, client...)
		}
		if i >= clientFirst && i < clientEnd {
			continue
		}
		if b, err = enc.Append(b, v); err != nil {
			return b, err
		}
	}
	return enc.EndList(b, start, len(fields)), nil
}

func nilMap(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

const messageFields = 34

// record is a decoded journal record.
type record struct {
	kind string
	path string
	seq  int64
	msg  *Message // recPut
	id   string   // recDedup, recSession; the name of a recEntity
	at   time.Time
	data []byte // recSession; the JSON definition of a recEntity
}

// decodeRecord parses a journal record.
func decodeRecord(rec []byte) (record, error) {
	d := enc.NewDecoder(rec)
	l, n, err := d.ListHeader()
	if err != nil {
		return record{}, fmt.Errorf("journal record: %w", err)
	}
	var vals []any
	var maps [3]map[string]any // delivery annotations, annotations, application properties
	for i := range n {
		var v any
		if (i == 6 || i == 7 || i == 22) && n == messageFields {
			m, err := l.KeyedMap()
			if err != nil {
				return record{}, fmt.Errorf("journal record field %d: %w", i, err)
			}
			maps[map[int]int{6: 0, 7: 1, 22: 2}[i]] = m
		} else if v, err = l.Value(); err != nil {
			return record{}, fmt.Errorf("journal record field %d: %w", i, err)
		}
		vals = append(vals, v)
	}
	if len(vals) < 2 {
		return record{}, fmt.Errorf("journal record of %d fields: %w", len(vals), ErrInvalid)
	}
	r := record{}
	r.kind, _ = vals[0].(string)
	r.path, _ = vals[1].(string)
	switch {
	case r.kind == recPut && len(vals) == messageFields:
		r.seq, _ = vals[2].(int64)
		r.msg = decodeMessage(vals, maps)
	case (r.kind == recDel || r.kind == recLock || r.kind == recSeq) && len(vals) == 3:
		r.seq, _ = vals[2].(int64)
	case r.kind == recDedup && len(vals) == 4:
		r.id, _ = vals[2].(string)
		r.at = fromNanos(vals[3])
	case r.kind == recEntity && len(vals) == 5: // kind, topic, name, definition
		r.path, _ = vals[2].(string) // the topic of a subscription
		r.id, _ = vals[3].(string)
		r.data, _ = vals[4].([]byte)
	case r.kind == recDelete && len(vals) == 2:
	case r.kind == recSession && len(vals) == 4:
		r.id, _ = vals[2].(string)
		r.data, _ = vals[3].([]byte)
	default:
		return record{}, fmt.Errorf("journal record kind %q with %d fields: %w", r.kind, len(vals), ErrInvalid)
	}
	return r, nil
}

func decodeMessage(v []any, maps [3]map[string]any) *Message {
	m := &Message{DeliveryAnnotations: maps[0], Annotations: maps[1], ApplicationProperties: maps[2]}
	m.SequenceNumber, _ = v[2].(int64)
	m.Header.Durable, _ = v[3].(bool)
	m.Header.Priority, _ = v[4].(uint8)
	ttl, _ := v[5].(int64)
	m.Header.TTL = time.Duration(ttl)
	p := &m.Properties
	present, _ := v[8].(uint32)
	p.Present = PropertyField(present)
	p.MessageID = v[9]
	p.UserID, _ = v[10].([]byte)
	p.To, _ = v[11].(string)
	p.Subject, _ = v[12].(string)
	p.ReplyTo, _ = v[13].(string)
	p.CorrelationID = v[14]
	p.ContentType, _ = v[15].(string)
	p.ContentEncoding, _ = v[16].(string)
	p.AbsoluteExpiryTime = TimestampOf(fromNanos(v[17]))
	p.CreationTime = TimestampOf(fromNanos(v[18]))
	p.GroupID, _ = v[19].(string)
	p.GroupSequence, _ = v[20].(uint32)
	p.ReplyToGroupID, _ = v[21].(string)
	m.Body, _ = v[23].([]byte)
	m.ScheduledEnqueueTime = fromNanos(v[24])
	m.PartitionKey, _ = v[25].(string)
	m.EnqueuedTime = fromNanos(v[26])
	m.EnqueueSequenceNumber, _ = v[27].(int64)
	m.DeliveryCount, _ = v[28].(uint32)
	st, _ := v[29].(int32)
	m.State = State(st)
	m.DeadLetterSource, _ = v[30].(string)
	ttl, _ = v[31].(int64)
	m.TimeToLive = time.Duration(ttl)
	// v[32] is ExpiresAt, written for the record format's sake and
	// computed from EnqueuedTime and TimeToLive (Message.ExpiresAt).
	hops, _ := v[33].(int64)
	m.forwardHops = int32(hops)
	return m
}
