package servicebus

import (
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// Message section descriptors (part 3, section 3.2).
const (
	secHeader              uint64 = 0x70
	secDeliveryAnnotations uint64 = 0x71
	secMessageAnnotations  uint64 = 0x72
	secProperties          uint64 = 0x73
	secApplicationProps    uint64 = 0x74
	secData                uint64 = 0x75
	secSequence            uint64 = 0x76
	secValue               uint64 = 0x77
	secFooter              uint64 = 0x78
)

// batchFormat is the message-format of a Service Bus batch: each data section holds a message.
const batchFormat uint32 = 0x80013700

// Service Bus annotations the broker owns (the client's values are replaced).
const (
	annSequenceNumber   = "x-opt-sequence-number"
	annEnqueuedTime     = "x-opt-enqueued-time"
	annLockedUntil      = "x-opt-locked-until"
	annEnqueueSequence  = "x-opt-enqueue-sequence-number"
	annMessageState     = "x-opt-message-state"
	annLockToken        = "x-opt-lock-token"
	annScheduled        = "x-opt-scheduled-enqueue-time"
	annPartitionKey     = "x-opt-partition-key"
	annDeadLetterSource = "x-opt-deadletter-source"
)

// parsedMessage is a decoded AMQP message: the sections the emulator reads, plus the body
// sections and footer kept verbatim.
type parsedMessage struct {
	msg   broker.Message
	body  []byte // body sections and footer, verbatim
	value any    // the amqp-value body, for RPC requests
	data  [][]byte
	// dec, when not nil, is the decoder to use (reused by sentScratch);
	// fields decodes the properties' fields.
	dec       *enc.Decoder
	fields    enc.Decoder
	hasHeader bool
	// viewIDs makes a string message-id a view of the payload, not a copy
	// (decodeSent: the broker copies what it stores before the payload's
	// buffer is reused).
	viewIDs bool
}

// parseMessage decodes the sections of an encoded AMQP message. Slices of payload are kept.
func parseMessage(payload []byte) (*parsedMessage, error) {
	p := &parsedMessage{}
	if err := p.parse(payload); err != nil {
		return nil, err
	}
	return p, nil
}

// parse is parseMessage into p, which must be zero (but for viewIDs and a
// reusable data slice). It lets decodeSent keep its parsedMessage on the
// stack.
func (p *parsedMessage) parse(payload []byte) error {
	d := p.dec
	if d == nil {
		d = enc.NewDecoder(payload)
	} else {
		d.Reset(payload)
	}
	bodyStart := -1
	for d.Len() > 0 {
		start := d.Offset()
		code, sym, err := d.Descriptor()
		if err != nil {
			return fmt.Errorf("reading section descriptor: %w", err)
		}
		if sym != "" {
			return fmt.Errorf("symbolic section descriptor %q: %w", sym, enc.ErrMalformed)
		}
		switch code {
		case secHeader:
			if err := p.parseHeader(d); err != nil {
				return err
			}
		case secDeliveryAnnotations, secMessageAnnotations, secApplicationProps:
			m, err := d.KeyedMap()
			if err != nil {
				return fmt.Errorf("reading section %#x: %w", code, err)
			}
			switch code {
			case secDeliveryAnnotations:
				p.msg.DeliveryAnnotations = m
			case secMessageAnnotations:
				p.takeAnnotations(m)
			default:
				if err := checkApplicationProperties(m); err != nil {
					return err
				}
				p.msg.ApplicationProperties = m
			}
		case secProperties:
			if err := parseProperties(d, &p.fields, &p.msg.Properties, p.viewIDs); err != nil {
				return err
			}
		case secData, secSequence, secValue, secFooter:
			if bodyStart < 0 {
				bodyStart = start
			}
			if code == secData {
				// A view, not a copy: the inner messages of a batch are
				// kept as slices of the transfer's buffer, one copy of
				// their bytes in all.
				b, err := d.BinaryView()
				if err != nil {
					return fmt.Errorf("reading data section: %w", err)
				}
				p.data = append(p.data, b)
				continue
			}
			v, err := d.Value()
			if err != nil {
				return fmt.Errorf("reading body section: %w", err)
			}
			if code == secValue {
				p.value = v
			}
		default:
			return fmt.Errorf("unknown section %#x: %w", code, enc.ErrMalformed)
		}
	}
	if bodyStart >= 0 {
		p.body = payload[bodyStart:]
	}
	p.msg.Body = p.body
	return nil
}

func (p *parsedMessage) parseHeader(d *enc.Decoder) error {
	fields, n, err := d.ListHeader()
	if err != nil {
		return fmt.Errorf("reading header: %w", err)
	}
	p.hasHeader = true
	for i := range n {
		v, err := fields.Value()
		if err != nil {
			return fmt.Errorf("reading header field %d: %w", i, err)
		}
		switch i {
		case 0:
			p.msg.Header.Durable, _ = v.(bool)
		case 1:
			if pr, ok := v.(uint8); ok {
				p.msg.Header.Priority = pr
			}
		case 2:
			if ttl, ok := v.(uint32); ok {
				p.msg.Header.TTL = time.Duration(ttl) * time.Millisecond
			}
		}
	}
	return nil
}

// takeAnnotations keeps the client's message annotations, moving the ones the broker owns into
// their fields.
func (p *parsedMessage) takeAnnotations(m map[string]any) {
	for key, v := range m {
		switch key {
		case annSequenceNumber, annEnqueuedTime, annLockedUntil, annEnqueueSequence, annMessageState, annLockToken:
			delete(m, key)
		case annScheduled:
			if t, ok := v.(time.Time); ok {
				p.msg.ScheduledEnqueueTime = t
			}
			delete(m, key)
		case annPartitionKey:
			if s, ok := v.(string); ok {
				p.msg.PartitionKey = s
				delete(m, key)
			}
		}
	}
	p.msg.Annotations = m
}

// checkApplicationProperties admits the simple types Service Bus allows in application
// properties: null, booleans, numbers, char, timestamp, uuid, string, symbol, binary, and a
// described simple value (the SDKs' com.microsoft:uri, datetime-offset and timespan). Lists,
// maps and arrays are refused, as Service Bus does.
func checkApplicationProperties(m map[string]any) error {
	for k, v := range m {
		if d, ok := v.(enc.Described); ok {
			if !simpleValue(d.Descriptor) {
				return fmt.Errorf("application property %q has a descriptor of type %T: %w", k, d.Descriptor, errPropertyType)
			}
			v = d.Value
		}
		if !simpleValue(v) {
			return fmt.Errorf("application property %q has type %s: %w", k, amqpTypeName(v), errPropertyType)
		}
	}
	return nil
}

func simpleValue(v any) bool {
	switch v.(type) {
	case []any, enc.Map, enc.Array, enc.Described:
		return false
	}
	return true
}

func amqpTypeName(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case enc.Map:
		return "map"
	case enc.Array:
		return "array"
	case enc.Described:
		return "described"
	}
	return fmt.Sprintf("%T", v)
}

func keyString(k any) string {
	switch t := k.(type) {
	case string:
		return t
	case enc.Symbol:
		return string(t)
	case uint64:
		return strconv.FormatUint(t, 10)
	}
	return fmt.Sprint(k)
}

// mapToProps converts an AMQP map with string or symbol keys to a Go map.
func mapToProps(m enc.Map) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for _, kv := range m {
		out[keyString(kv.Key)] = kv.Value
	}
	return out
}

// parseProperties reads a properties section from d, its fields with the decoder fields.
func parseProperties(d, fields *enc.Decoder, p *broker.Properties, viewID bool) error {
	n, err := d.ListHeaderInto(fields)
	if err != nil {
		return fmt.Errorf("reading properties: %w", err)
	}
	for i := range n {
		if fields.IsNull() {
			if err := fields.Skip(); err != nil {
				return err
			}
			continue
		}
		var err error
		switch i {
		case 0:
			var id string
			var ok bool
			if viewID {
				id, ok, err = fields.StringView()
			}
			if ok {
				p.MessageID = id
			} else if err == nil {
				p.MessageID, err = fields.Value()
			}
		case 1:
			p.UserID, _, err = fields.Binary()
		case 2:
			p.To, _, err = fields.Text()
		case 3:
			p.Subject, _, err = fields.Text()
		case 4:
			p.ReplyTo, _, err = fields.Text()
		case 5:
			p.CorrelationID, err = fields.Value()
		case 6:
			p.ContentType, _, err = fields.Text()
		case 7:
			p.ContentEncoding, _, err = fields.Text()
		case 8:
			var t time.Time
			t, _, err = fields.Timestamp()
			p.AbsoluteExpiryTime = broker.Timestamp(t.UnixMilli())
		case 9:
			var t time.Time
			t, _, err = fields.Timestamp()
			p.CreationTime = broker.Timestamp(t.UnixMilli())
		case 10:
			p.GroupID, _, err = fields.Text()
		case 11:
			p.GroupSequence, _, err = fields.Uint()
		case 12:
			p.ReplyToGroupID, _, err = fields.Text()
		default:
			err = fields.Skip()
		}
		if err != nil {
			return fmt.Errorf("properties field %d: %w", i, err)
		}
		if i <= 12 {
			p.Present |= broker.PropertyField(1 << i)
		}
	}
	return nil
}

func text(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case enc.Symbol:
		return string(t), true
	}
	return "", false
}

// decodeSent turns one transfer into the messages to enqueue: a batch (format 0x80013700) holds
// one encoded message per data section; anything else is a single message. The messages are
// views of payload (bodies, string message-ids): valid until payload's buffer is reused.
func decodeSent(payload []byte, format uint32) ([]*broker.Message, error) {
	var s sentScratch
	return s.decode(payload, format)
}

// sentScratch is a sender link's reusable decoding state. The broker copies what it stores
// (Broker.SendOwned encodes each message into a stored form of its own), so a transfer's
// buffer and its decoded messages are garbage once the send returns: reusing them instead
// makes a stored message cost its stored bytes and nothing more. Without the reuse each
// message would leave about its own size of garbage behind, and the collector lets the heap
// grow by what was live plus that garbage, about a third more resident memory under a
// growing backlog (docs/servicebus-durability.md).
type sentScratch struct {
	msgs []broker.Message
	ptrs []*broker.Message
	data [][]byte
	dec  enc.Decoder
}

// decode is decodeSent with s's buffers; the result is valid until s.reset.
func (s *sentScratch) decode(payload []byte, format uint32) ([]*broker.Message, error) {
	p := parsedMessage{viewIDs: true, data: s.data[:0], dec: &s.dec}
	err := p.parse(payload)
	s.data = p.data
	if err != nil {
		return nil, err
	}
	if format != batchFormat {
		p.msg.Size = int32(len(payload))
		s.msgs = append(s.msgs[:0], p.msg)
	} else {
		s.msgs = slices.Grow(s.msgs[:0], len(p.data))
		for i, inner := range p.data {
			ip := parsedMessage{viewIDs: true, dec: &s.dec}
			if err := ip.parse(inner); err != nil {
				s.reset()
				return nil, fmt.Errorf("batch message %d: %w", i, err)
			}
			ip.msg.Size = int32(len(inner))
			s.msgs = append(s.msgs, ip.msg)
		}
	}
	s.ptrs = s.ptrs[:0]
	for i := range s.msgs {
		s.ptrs = append(s.ptrs, withMessageID(&s.msgs[i]))
	}
	return s.ptrs, nil
}

// reset drops every reference to the last payload, so that nothing can read a reused buffer
// through s (and s keeps no maps or payload alive).
func (s *sentScratch) reset() {
	clear(s.msgs)
	clear(s.ptrs)
	clear(s.data)
	s.msgs, s.ptrs, s.data = s.msgs[:0], s.ptrs[:0], s.data[:0]
}

// withMessageID gives a message without message-id one, as Service Bus does: a GUID in its
// 32-digit form. Clients (the JavaScript SDK's lock renewal, for one) key on it.
func withMessageID(m *broker.Message) *broker.Message {
	if !m.Properties.Has(broker.PropMessageID) || m.Properties.MessageID == nil {
		id := uuid.New()
		m.Properties.MessageID = hex.EncodeToString(id[:])
		m.Properties.Present |= broker.PropMessageID
	}
	return m
}

// encodeDelivered encodes a broker message as the SDK reads it (servicebus-amqp 4.2):
// header with delivery-count and the effective TTL, Service Bus annotations with their exact
// types, a properties section always, and the body verbatim. locked adds the lock annotations.
func encodeDelivered(m *broker.Message, locked bool) ([]byte, error) {
	b := make([]byte, 0, 256+len(m.Body))
	b = appendHeader(b, m)

	var err error
	if len(m.DeliveryAnnotations) > 0 || locked {
		b = enc.AppendDescriptor(b, secDeliveryAnnotations)
		var start int
		b, start = enc.BeginComposite(b)
		n := 0
		for k, v := range m.DeliveryAnnotations {
			if k == annLockToken {
				continue
			}
			b = enc.AppendSymbol(b, k)
			if b, err = enc.Append(b, v); err != nil {
				return nil, fmt.Errorf("delivery annotation %q: %w", k, err)
			}
			n++
		}
		if locked {
			b = enc.AppendUUID(enc.AppendSymbol(b, annLockToken), enc.UUID(m.LockToken))
			n++
		}
		b = enc.EndMap(b, start, 2*n)
	}

	b = enc.AppendDescriptor(b, secMessageAnnotations)
	var start int
	b, start = enc.BeginComposite(b)
	n := 0
	for k, v := range m.Annotations {
		if k == annDeadLetterSource && m.DeadLetterSource != "" {
			continue
		}
		b = enc.AppendSymbol(b, k)
		if b, err = enc.Append(b, v); err != nil {
			return nil, fmt.Errorf("message annotation %q: %w", k, err)
		}
		n++
	}
	b = enc.AppendLong(enc.AppendSymbol(b, annSequenceNumber), m.SequenceNumber)
	b = enc.AppendTimestamp(enc.AppendSymbol(b, annEnqueuedTime), m.EnqueuedTime)
	b = enc.AppendLong(enc.AppendSymbol(b, annEnqueueSequence), m.EnqueueSequenceNumber)
	b = enc.AppendInt(enc.AppendSymbol(b, annMessageState), int32(m.State))
	n += 4
	if locked {
		b = enc.AppendTimestamp(enc.AppendSymbol(b, annLockedUntil), m.LockedUntil)
		n++
	}
	if !m.ScheduledEnqueueTime.IsZero() {
		b = enc.AppendTimestamp(enc.AppendSymbol(b, annScheduled), m.ScheduledEnqueueTime)
		n++
	}
	if m.PartitionKey != "" {
		b = enc.AppendString(enc.AppendSymbol(b, annPartitionKey), m.PartitionKey)
		n++
	}
	if m.DeadLetterSource != "" {
		b = enc.AppendString(enc.AppendSymbol(b, annDeadLetterSource), m.DeadLetterSource)
		n++
	}
	b = enc.EndMap(b, start, 2*n)

	if b, err = appendProperties(b, &m.Properties); err != nil {
		return nil, err
	}
	if len(m.ApplicationProperties) > 0 {
		b = enc.AppendDescriptor(b, secApplicationProps)
		if b, err = enc.AppendStringMap(b, m.ApplicationProperties); err != nil {
			return nil, fmt.Errorf("application properties: %w", err)
		}
	}
	if len(m.Body) == 0 {
		// The SDK expects a body; an empty data section is what it sends for a nil body.
		return enc.AppendBinary(enc.AppendDescriptor(b, secData), nil), nil
	}
	return append(b, m.Body...), nil
}

func appendHeader(b []byte, m *broker.Message) []byte {
	b = enc.AppendDescriptor(b, secHeader)
	b, start := enc.BeginComposite(b)
	b = enc.AppendBool(b, m.Header.Durable)
	if m.Header.Priority != 0 {
		b = append(b, enc.TypeUbyte, m.Header.Priority)
	} else {
		b = append(b, enc.TypeNull)
	}
	if ms := m.TimeToLive.Milliseconds(); ms > 0 && ms <= math.MaxUint32 {
		b = enc.AppendUint(b, uint32(ms))
	} else {
		b = append(b, enc.TypeNull)
	}
	b = append(b, enc.TypeNull) // first-acquirer
	b = enc.AppendUint(b, m.DeliveryCount)
	return enc.EndList(b, start, 5)
}

func appendProperties(b []byte, p *broker.Properties) ([]byte, error) {
	b = enc.AppendDescriptor(b, secProperties)
	b, start := enc.BeginComposite(b)
	fields := [...]any{
		p.MessageID, p.UserID, p.To, p.Subject, p.ReplyTo, p.CorrelationID,
		enc.Symbol(p.ContentType), enc.Symbol(p.ContentEncoding), p.AbsoluteExpiryTime.Time(), p.CreationTime.Time(),
		p.GroupID, p.GroupSequence, p.ReplyToGroupID,
	}
	keepLen, keepN := len(b), 0
	var err error
	for i, v := range fields {
		if !p.Has(broker.PropertyField(1<<i)) || v == nil {
			b = append(b, enc.TypeNull)
			continue
		}
		if b, err = enc.Append(b, v); err != nil {
			return nil, fmt.Errorf("properties field %d: %w", i, err)
		}
		keepLen, keepN = len(b), i+1
	}
	return enc.EndList(b[:keepLen], start, keepN), nil
}

// lockTokenOf converts an AMQP uuid to the broker's token.
func lockTokenOf(v any) (uuid.UUID, bool) {
	u, ok := v.(enc.UUID)
	return uuid.UUID(u), ok
}
