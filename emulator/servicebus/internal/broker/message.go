package broker

import (
	"maps"
	"time"

	"github.com/google/uuid"
)

// State is the Service Bus message state, as sent in the x-opt-message-state
// annotation.
type State int32

// Message states; the numeric values are the wire values.
const (
	// StateActive: receivable in sequence-number order (unless locked).
	StateActive State = 0
	// StateDeferred: set aside by Defer; receivable only by sequence number.
	StateDeferred State = 1
	// StateScheduled: becomes Active at ScheduledEnqueueTime.
	StateScheduled State = 2
)

// String returns the SDK's name of the state.
func (s State) String() string {
	switch s {
	case StateActive:
		return "Active"
	case StateDeferred:
		return "Deferred"
	case StateScheduled:
		return "Scheduled"
	default:
		return "Unknown"
	}
}

// Header is the client-supplied part of the AMQP header section. The
// delivery-count field is broker-owned (Message.DeliveryCount).
type Header struct {
	Durable  bool
	Priority uint8
	// TTL is header.ttl; 0 means the client did not set one and the entity's
	// DefaultMessageTimeToLive applies. See Message.TimeToLive for the
	// effective value.
	TTL time.Duration
}

// PropertyField is one bit of Properties.Present.
type PropertyField uint16

// The properties-section fields, in AMQP order. A field whose bit is not set
// in Properties.Present is absent on the wire, whatever its Go value.
const (
	PropMessageID PropertyField = 1 << iota
	PropUserID
	PropTo
	PropSubject
	PropReplyTo
	PropCorrelationID
	PropContentType
	PropContentEncoding
	PropAbsoluteExpiryTime
	PropCreationTime
	PropGroupID
	PropGroupSequence
	PropReplyToGroupID
)

// Properties is the AMQP properties section. Present records which fields
// were on the wire so that re-encoding reproduces the sender's section
// exactly (an absent string and an empty one are different on the wire).
type Properties struct {
	// Present has one PropertyField bit per field that is present.
	Present PropertyField
	// GroupSequence sits next to Present so that the two share one word.
	GroupSequence uint32

	// MessageID and CorrelationID hold the codec's value (string, uint64,
	// uuid, []byte).
	MessageID          any
	UserID             []byte
	To                 string
	Subject            string
	ReplyTo            string
	CorrelationID      any
	ContentType        string
	ContentEncoding    string
	AbsoluteExpiryTime Timestamp
	CreationTime       Timestamp
	// GroupID is the Service Bus SessionId.
	GroupID string
	// ReplyToGroupID is the Service Bus ReplyToSessionId.
	ReplyToGroupID string
}

// Timestamp is an AMQP timestamp, milliseconds since the Unix epoch: all
// the wire carries, in 8 bytes where a time.Time takes 24 (per stored
// message). Whether it is present is Properties.Present's business.
type Timestamp int64

// TimestampOf returns t to the millisecond; 0 for the zero time (a
// journal record's absent field).
func TimestampOf(t time.Time) Timestamp {
	if t.IsZero() {
		return 0
	}
	return Timestamp(t.UnixMilli())
}

// Time returns ts as a UTC time.
func (ts Timestamp) Time() time.Time { return time.UnixMilli(int64(ts)).UTC() }

// Has reports whether field f is present.
func (p *Properties) Has(f PropertyField) bool { return p.Present&f != 0 }

// Message is one Service Bus message as stored by the broker. The first group
// of fields is supplied by the client (the wire layer fills it from the
// decoded transfer); the second group is owned by the broker and ignored on
// Send.
//
// Map values are the wire codec's Go representation of AMQP values; the
// broker treats them as opaque except in correlation-filter equality.
//
// Ownership: the broker does not store Messages. Send encodes the
// client-supplied fields into a stored form (stored.go) and keeps it with
// the broker-owned fields in a small record (entry.go); every message the
// broker returns is decoded from those, fresh, so neither side shares maps
// with the other. Body is the one exception: a returned message's Body is
// a slice of the stored form, shared with other deliveries of the same
// message, and must be treated as read-only (the broker never modifies a
// stored form in place).
//
// Values in the maps and ids must be ones the AMQP codec encodes (the
// wire codec's Go values); Send refuses others with ErrInvalid. A value
// comes back as the codec decodes it (an int as an int64, a uuid.UUID as
// the codec's UUID).
type Message struct {
	// Client-supplied.

	Header Header
	// DeliveryAnnotations are the client's delivery annotations (string keys).
	DeliveryAnnotations map[string]any
	// Annotations are the client's message annotations minus the
	// broker-owned x-opt-* keys, which the wire layer strips and re-adds.
	Annotations map[string]any
	Properties  Properties
	// ApplicationProperties (string keys). DeadLetter sets DeadLetterReason
	// and DeadLetterErrorDescription here; Abandon/Defer/DeadLetter merge
	// their properties-to-modify here.
	ApplicationProperties map[string]any
	// Body is the encoded body sections and footer exactly as received;
	// opaque to the broker and read-only.
	Body []byte
	// Size is the message's encoded size as the client sent it, counted against the entity's
	// MaxSizeInMegabytes; 0 means len(Body). int32 as a message is bounded
	// far below 2 GiB by the link's max-message-size.
	Size int32
	// forwardHops counts the auto-forwarding hops made so far (forward.go),
	// broker-owned; next to Size so the two share a word.
	forwardHops int32
	// ScheduledEnqueueTime, when in the future at Send, makes the message
	// Scheduled until then (x-opt-scheduled-enqueue-time).
	ScheduledEnqueueTime time.Time
	// PartitionKey is x-opt-partition-key; "" means absent.
	PartitionKey string

	// Broker-owned.

	// SequenceNumber is unique and monotonic (from 1) per queue or topic;
	// all subscription copies of a topic message share the topic's number,
	// and a dead-lettered message keeps its number in the DLQ.
	SequenceNumber int64
	// EnqueuedTime is when the message became (or becomes, if scheduled)
	// part of the entity: max(send time, ScheduledEnqueueTime).
	EnqueuedTime time.Time
	// EnqueueSequenceNumber equals SequenceNumber, except on an
	// auto-forwarded message, where it is the number first assigned.
	EnqueueSequenceNumber int64
	// LockToken is the current lock (RFC 4122 byte order); zero when not
	// locked. The wire layer does the .NET byte swap for delivery tags.
	LockToken uuid.UUID
	// LockedUntil is the lock's expiry; zero when not locked.
	LockedUntil time.Time
	// State is Active, Deferred or Scheduled.
	State State
	// DeliveryCount is the number of previous deliveries: it goes on the
	// wire as header.delivery-count, and the SDK shows it plus one.
	DeliveryCount uint32
	// DeadLetterSource is the path of the entity a dead-lettered message
	// came from ("" elsewhere).
	DeadLetterSource string
	// TimeToLive is the effective TTL: Header.TTL capped by the entity's
	// DefaultMessageTimeToLive (the entity default when Header.TTL is 0).
	TimeToLive time.Duration
}

// ExpiresAt is EnqueuedTime + TimeToLive, zero on a message not yet
// enqueued. It is computed, not stored: one time.Time less per stored
// message.
func (m *Message) ExpiresAt() time.Time {
	if m.EnqueuedTime.IsZero() {
		return time.Time{}
	}
	return m.EnqueuedTime.Add(m.TimeToLive)
}

// Clone returns a copy that shares nothing mutable with m except Body (which
// is read-only by contract). Map values themselves are copied shallowly:
// they are immutable codec values.
func (m *Message) Clone() *Message {
	c := *m
	c.cloneRefs(m)
	return &c
}

// cloneRefs gives m its own copies of src's maps and slices (m is a
// shallow copy of src), Body excepted.
func (m *Message) cloneRefs(src *Message) {
	m.DeliveryAnnotations = maps.Clone(src.DeliveryAnnotations)
	m.Annotations = maps.Clone(src.Annotations)
	m.ApplicationProperties = maps.Clone(src.ApplicationProperties)
	if src.Properties.UserID != nil {
		m.Properties.UserID = append([]byte(nil), src.Properties.UserID...)
	}
}
