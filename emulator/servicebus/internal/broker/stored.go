package broker

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// The stored form of a message's client-supplied part (Message's first
// group of fields): one pointer-free byte slice per message, so that the
// collector never scans it and a stored message costs its bytes plus a
// small record (entry). It is written once, when the message is stored,
// shared by every subscription copy of a topic message, and never modified
// in place: a settlement that changes properties writes a new one.
//
// Layout: the body's length (uvarint), a flags word (uvarint, the stored*
// bits), the header fields that are set, the properties' Present bits
// (uvarint) and each present field, the maps that are not nil (AMQP maps,
// as the journal writes them), the scheduled enqueue time and partition key
// when set, and last the body, verbatim.
const (
	storedDurable = 1 << iota
	storedPriority
	storedTTL
	storedDeliveryAnnotations
	storedAnnotations
	storedApplicationProperties
	storedScheduled
	storedPartitionKey
	// storedIDHex: the message-id is a string of 32 lower-case hex
	// digits (what the emulator gives a message sent without one),
	// stored as its 16 bytes; storedIDGUID: a string in the canonical
	// lower-case GUID form (what most clients send), stored likewise.
	storedIDHex
	storedIDGUID
)

// appendStored appends m's client-supplied part in its stored form. It
// fails only for a map value or id the AMQP codec cannot encode.
func appendStored(b []byte, m *Message) ([]byte, error) {
	var flags uint64
	set := func(on bool, bit uint64) {
		if on {
			flags |= bit
		}
	}
	set(m.Header.Durable, storedDurable)
	set(m.Header.Priority != 0, storedPriority)
	set(m.Header.TTL != 0, storedTTL)
	set(m.DeliveryAnnotations != nil, storedDeliveryAnnotations)
	set(m.Annotations != nil, storedAnnotations)
	set(m.ApplicationProperties != nil, storedApplicationProperties)
	set(!m.ScheduledEnqueueTime.IsZero(), storedScheduled)
	set(m.PartitionKey != "", storedPartitionKey)
	var compactID [16]byte
	if id, ok := m.Properties.MessageID.(string); ok && m.Properties.Has(PropMessageID) {
		switch kind := compactMessageID(id, &compactID); kind {
		case storedIDHex, storedIDGUID:
			flags |= uint64(kind)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(m.Body)))
	b = binary.AppendUvarint(b, flags)
	if flags&storedPriority != 0 {
		b = append(b, m.Header.Priority)
	}
	if flags&storedTTL != 0 {
		b = binary.AppendVarint(b, int64(m.Header.TTL))
	}
	p := &m.Properties
	b = binary.AppendUvarint(b, uint64(p.Present))
	var err error
	for f := PropMessageID; f <= PropReplyToGroupID; f <<= 1 {
		if !p.Has(f) {
			continue
		}
		switch f {
		case PropMessageID:
			if flags&(storedIDHex|storedIDGUID) != 0 {
				b = append(b, compactID[:]...)
			} else {
				b, err = enc.Append(b, storedID(p.MessageID))
			}
		case PropUserID:
			b = appendStoredBytes(b, p.UserID)
		case PropTo:
			b = appendStoredString(b, p.To)
		case PropSubject:
			b = appendStoredString(b, p.Subject)
		case PropReplyTo:
			b = appendStoredString(b, p.ReplyTo)
		case PropCorrelationID:
			b, err = enc.Append(b, storedID(p.CorrelationID))
		case PropContentType:
			b = appendStoredString(b, p.ContentType)
		case PropContentEncoding:
			b = appendStoredString(b, p.ContentEncoding)
		case PropAbsoluteExpiryTime:
			b = binary.AppendVarint(b, int64(p.AbsoluteExpiryTime))
		case PropCreationTime:
			b = binary.AppendVarint(b, int64(p.CreationTime))
		case PropGroupID:
			b = appendStoredString(b, p.GroupID)
		case PropGroupSequence:
			b = binary.AppendUvarint(b, uint64(p.GroupSequence))
		case PropReplyToGroupID:
			b = appendStoredString(b, p.ReplyToGroupID)
		}
		if err != nil {
			return nil, fmt.Errorf("properties field %d: %w", f, err)
		}
	}
	for i, mp := range [...]map[string]any{m.DeliveryAnnotations, m.Annotations, m.ApplicationProperties} {
		if mp == nil {
			continue
		}
		if b, err = enc.AppendStringMap(b, mp); err != nil {
			return nil, fmt.Errorf("message map %d: %w", i, err)
		}
	}
	if flags&storedScheduled != 0 {
		b = binary.AppendVarint(b, m.ScheduledEnqueueTime.UnixNano())
	}
	if flags&storedPartitionKey != 0 {
		b = appendStoredString(b, m.PartitionKey)
	}
	return append(b, m.Body...), nil
}

// compactMessageID returns storedIDHex or storedIDGUID with id's 16 bytes
// in out when id has one of those forms exactly (it must come back
// unchanged), 0 otherwise.
func compactMessageID(id string, out *[16]byte) int {
	switch {
	case len(id) == 32 && lowerHex(id, out[:]):
		return storedIDHex
	case len(id) == 36 && id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-':
		var digits [32]byte
		copy(digits[:], id[:8])
		copy(digits[8:], id[9:13])
		copy(digits[12:], id[14:18])
		copy(digits[16:], id[19:23])
		copy(digits[20:], id[24:])
		if lowerHex(string(digits[:]), out[:]) {
			return storedIDGUID
		}
	}
	return 0
}

// lowerHex decodes s, lower-case hex digits only (so that encoding gives
// s back), into out (len(s)/2 bytes).
func lowerHex(s string, out []byte) bool {
	val := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		}
		return 0, false
	}
	for i := range out {
		hi, ok1 := val(s[2*i])
		lo, ok2 := val(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		out[i] = hi<<4 | lo
	}
	return true
}

// storedID is an id as the codec encodes it: a uuid.UUID (what a caller of
// Send may pass) is the codec's UUID.
func storedID(v any) any {
	if u, ok := v.(uuid.UUID); ok {
		return enc.UUID(u)
	}
	return v
}

func appendStoredString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendStoredBytes(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// storedBodyLen is the length of the body in data, read without decoding
// the rest.
func storedBodyLen(data []byte) int {
	n, _ := binary.Uvarint(data)
	return int(n)
}

// storedReader reads a stored form; the first error sticks.
type storedReader struct {
	b   []byte
	err error
}

func (r *storedReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("stored message: truncated %s: %w", what, ErrInvalid)
	}
}

func (r *storedReader) uvarint(what string) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *storedReader) varint(what string) int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *storedReader) bytes(what string) []byte {
	n := r.uvarint(what)
	if n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *storedReader) string(what string) string { return string(r.bytes(what)) }

// value reads one AMQP value (an id).
func (r *storedReader) value(what string) any {
	if r.err != nil {
		return nil
	}
	d := enc.NewDecoder(r.b)
	v, err := d.Value()
	if err != nil {
		r.err = fmt.Errorf("stored message %s: %w", what, err)
		return nil
	}
	r.b = r.b[d.Offset():]
	return v
}

func (r *storedReader) keyedMap(what string) map[string]any {
	if r.err != nil {
		return nil
	}
	d := enc.NewDecoder(r.b)
	v, err := d.KeyedMap()
	if err != nil {
		r.err = fmt.Errorf("stored message %s: %w", what, err)
		return nil
	}
	r.b = r.b[d.Offset():]
	if v == nil {
		v = map[string]any{}
	}
	return v
}

// rawMap returns the next value, a map as AppendStringMap wrote it, without
// decoding it: a map's header says how long it is.
func (r *storedReader) rawMap(what string) []byte {
	if r.err != nil {
		return nil
	}
	var n uint64
	switch {
	case len(r.b) >= 2 && r.b[0] == enc.TypeMap8:
		n = 2 + uint64(r.b[1])
	case len(r.b) >= 5 && r.b[0] == enc.TypeMap32:
		n = 5 + uint64(binary.BigEndian.Uint32(r.b[1:5]))
	default:
		d := enc.NewDecoder(r.b)
		if err := d.Skip(); err != nil {
			r.err = fmt.Errorf("stored message %s: %w", what, err)
			return nil
		}
		n = uint64(d.Offset())
	}
	if n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// decodeStored fills m's client-supplied fields from data. Body is a
// slice of data (read-only, as Message documents); everything else is a
// copy.
func decodeStored(data []byte, m *Message) error { return decodeStoredRaw(data, m, nil) }

// decodeStoredRaw is decodeStored that, with raw set, leaves m's three
// maps (delivery annotations, annotations, application properties) nil and
// puts their encoded bytes in raw instead (slices of data; nil for a map
// not set): what a journal record holds as they are (appendMessageRecord).
func decodeStoredRaw(data []byte, m *Message, raw *[3][]byte) error {
	r := storedReader{b: data}
	bodyLen := r.uvarint("body length")
	flags := r.uvarint("flags")
	m.Header.Durable = flags&storedDurable != 0
	if flags&storedPriority != 0 {
		if len(r.b) == 0 {
			r.fail("priority")
		} else {
			m.Header.Priority, r.b = r.b[0], r.b[1:]
		}
	}
	if flags&storedTTL != 0 {
		m.Header.TTL = time.Duration(r.varint("ttl"))
	}
	p := &m.Properties
	p.Present = PropertyField(r.uvarint("properties"))
	for f := PropMessageID; f <= PropReplyToGroupID; f <<= 1 {
		if !p.Has(f) {
			continue
		}
		switch f {
		case PropMessageID:
			switch {
			case flags&(storedIDHex|storedIDGUID) == 0:
				p.MessageID = r.value("message-id")
			case len(r.b) < 16:
				r.fail("message-id")
			case flags&storedIDHex != 0:
				p.MessageID, r.b = hex.EncodeToString(r.b[:16]), r.b[16:]
			default:
				p.MessageID, r.b = uuid.UUID(r.b[:16]).String(), r.b[16:]
			}
		case PropUserID:
			p.UserID = append([]byte{}, r.bytes("user-id")...)
		case PropTo:
			p.To = r.string("to")
		case PropSubject:
			p.Subject = r.string("subject")
		case PropReplyTo:
			p.ReplyTo = r.string("reply-to")
		case PropCorrelationID:
			p.CorrelationID = r.value("correlation-id")
		case PropContentType:
			p.ContentType = r.string("content-type")
		case PropContentEncoding:
			p.ContentEncoding = r.string("content-encoding")
		case PropAbsoluteExpiryTime:
			p.AbsoluteExpiryTime = Timestamp(r.varint("absolute-expiry-time"))
		case PropCreationTime:
			p.CreationTime = Timestamp(r.varint("creation-time"))
		case PropGroupID:
			p.GroupID = r.string("group-id")
		case PropGroupSequence:
			p.GroupSequence = uint32(r.uvarint("group-sequence"))
		case PropReplyToGroupID:
			p.ReplyToGroupID = r.string("reply-to-group-id")
		}
	}
	for i, mp := range [...]struct {
		flag uint64
		dst  *map[string]any
		what string
	}{
		{storedDeliveryAnnotations, &m.DeliveryAnnotations, "delivery annotations"},
		{storedAnnotations, &m.Annotations, "annotations"},
		{storedApplicationProperties, &m.ApplicationProperties, "application properties"},
	} {
		switch {
		case flags&mp.flag == 0:
		case raw != nil:
			raw[i] = r.rawMap(mp.what)
		default:
			*mp.dst = r.keyedMap(mp.what)
		}
	}
	if flags&storedScheduled != 0 {
		m.ScheduledEnqueueTime = time.Unix(0, r.varint("scheduled enqueue time")).UTC()
	}
	if flags&storedPartitionKey != 0 {
		m.PartitionKey = r.string("partition key")
	}
	if r.err == nil && uint64(len(r.b)) != bodyLen {
		r.err = fmt.Errorf("stored message: %d bytes of body, want %d: %w", len(r.b), bodyLen, ErrInvalid)
	}
	if r.err != nil {
		return r.err
	}
	if bodyLen > 0 {
		m.Body = r.b[:len(r.b):len(r.b)]
	}
	return nil
}
