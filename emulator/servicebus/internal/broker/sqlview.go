package broker

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
)

// timeSpanDescriptor is the AMQP descriptor Service Bus uses for a .NET
// TimeSpan in application properties (Service Bus AMQP guide, "Message
// annotations and application properties": TimeSpan is a described long of
// ticks, descriptor com.microsoft:timespan).
const timeSpanDescriptor enc.Symbol = "com.microsoft:timespan"

// sqlView is a message as the SQL filter language sees it
// (sqlfilter.MutableProperties): "sys." names map to the properties
// section, Service Bus annotations and broker-owned fields; user names to
// the application properties.
type sqlView struct{ m *Message }

var _ sqlfilter.MutableProperties = sqlView{}

// System implements sqlfilter.Properties. Ids of any codec type are shown
// as strings (uuid in its canonical form, ulong in decimal, binary in hex).
// Size is the encoded body length (the service counts the whole message).
// ForcePersistence and ViaPartitionKey are never present.
func (v sqlView) System(name string) (any, bool) {
	m, p := v.m, &v.m.Properties
	str := func(bit PropertyField, s string) (any, bool) {
		if !p.Has(bit) {
			return nil, false
		}
		return s, true
	}
	switch name {
	case sqlfilter.SysMessageID:
		if !p.Has(PropMessageID) {
			return nil, false
		}
		return idString(p.MessageID)
	case sqlfilter.SysCorrelationID:
		if !p.Has(PropCorrelationID) {
			return nil, false
		}
		return idString(p.CorrelationID)
	case sqlfilter.SysTo:
		return str(PropTo, p.To)
	case sqlfilter.SysReplyTo:
		return str(PropReplyTo, p.ReplyTo)
	case sqlfilter.SysLabel:
		return str(PropSubject, p.Subject)
	case sqlfilter.SysSessionID:
		return str(PropGroupID, p.GroupID)
	case sqlfilter.SysReplyToSessionID:
		return str(PropReplyToGroupID, p.ReplyToGroupID)
	case sqlfilter.SysContentType:
		return str(PropContentType, p.ContentType)
	case sqlfilter.SysPartitionKey:
		return m.PartitionKey, m.PartitionKey != ""
	case sqlfilter.SysScheduledEnqueueTimeUtc:
		return m.ScheduledEnqueueTime, !m.ScheduledEnqueueTime.IsZero()
	case sqlfilter.SysTimeToLive:
		return m.TimeToLive, m.TimeToLive > 0
	case sqlfilter.SysDeadLetterSource:
		return m.DeadLetterSource, m.DeadLetterSource != ""
	case sqlfilter.SysDeliveryCount:
		return int64(m.DeliveryCount), true
	case sqlfilter.SysEnqueuedSequenceNumber:
		return m.EnqueueSequenceNumber, m.EnqueueSequenceNumber != 0
	case sqlfilter.SysSequenceNumber:
		return m.SequenceNumber, m.SequenceNumber != 0
	case sqlfilter.SysEnqueuedTimeUtc:
		return m.EnqueuedTime, !m.EnqueuedTime.IsZero()
	case sqlfilter.SysExpiresAtUtc:
		return m.ExpiresAt(), !m.ExpiresAt().IsZero()
	case sqlfilter.SysLockedUntilUtc:
		return m.LockedUntil, !m.LockedUntil.IsZero()
	case sqlfilter.SysLockToken:
		return m.LockToken, m.LockToken != uuid.Nil
	case sqlfilter.SysSize:
		return int64(len(m.Body)), true
	case sqlfilter.SysState:
		return m.State.String(), true
	}
	return nil, false
}

// idString is the string form of a message-id or correlation-id value.
func idString(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		return x, true
	case enc.UUID:
		return uuid.UUID(x).String(), true
	case uuid.UUID:
		return x.String(), true
	case []byte:
		return hex.EncodeToString(x), true
	default:
		return fmt.Sprint(x), true
	}
}

// UserProperties implements sqlfilter.Properties.
func (v sqlView) UserProperties() map[string]any { return v.m.ApplicationProperties }

// SetSystem implements sqlfilter.MutableProperties: nil clears the field
// (absent on the wire). TimeToLive sets the header TTL and can shorten
// (never extend) the copy's effective TTL and expiry;
// ScheduledEnqueueTimeUtc only changes the annotation (the copy is
// already enqueued); ForcePersistence has no effect in memory.
func (v sqlView) SetSystem(name string, value any) {
	m, p := v.m, &v.m.Properties
	setStr := func(bit PropertyField, dst *string) {
		s, ok := value.(string)
		if !ok {
			p.Present &^= bit
			*dst = ""
			return
		}
		p.Present |= bit
		*dst = s
	}
	switch name {
	case sqlfilter.SysMessageID:
		p.MessageID = nil
		p.Present &^= PropMessageID
		if s, ok := value.(string); ok {
			p.MessageID, p.Present = s, p.Present|PropMessageID
		}
	case sqlfilter.SysCorrelationID:
		p.CorrelationID = nil
		p.Present &^= PropCorrelationID
		if s, ok := value.(string); ok {
			p.CorrelationID, p.Present = s, p.Present|PropCorrelationID
		}
	case sqlfilter.SysTo:
		setStr(PropTo, &p.To)
	case sqlfilter.SysReplyTo:
		setStr(PropReplyTo, &p.ReplyTo)
	case sqlfilter.SysLabel:
		setStr(PropSubject, &p.Subject)
	case sqlfilter.SysSessionID:
		setStr(PropGroupID, &p.GroupID)
	case sqlfilter.SysReplyToSessionID:
		setStr(PropReplyToGroupID, &p.ReplyToGroupID)
	case sqlfilter.SysContentType:
		setStr(PropContentType, &p.ContentType)
	case sqlfilter.SysPartitionKey:
		m.PartitionKey, _ = value.(string)
	case sqlfilter.SysScheduledEnqueueTimeUtc:
		m.ScheduledEnqueueTime, _ = value.(time.Time)
	case sqlfilter.SysTimeToLive:
		d, _ := value.(time.Duration)
		m.Header.TTL = max(d, 0)
		if d > 0 {
			m.TimeToLive = min(m.TimeToLive, d)
		}
	}
}

// SetUser implements sqlfilter.MutableProperties, converting the values the
// language produces that the AMQP codec has no direct type for: a Guid
// (newid()) becomes an AMQP uuid, a TimeSpan the described
// com.microsoft:timespan long of 100 ns ticks that Service Bus uses.
func (v sqlView) SetUser(key string, value any) {
	switch x := value.(type) {
	case uuid.UUID:
		value = enc.UUID(x)
	case time.Duration:
		value = enc.Described{Descriptor: timeSpanDescriptor, Value: int64(x / 100)}
	}
	if v.m.ApplicationProperties == nil {
		v.m.ApplicationProperties = make(map[string]any)
	}
	v.m.ApplicationProperties[key] = value
}

// RemoveUser implements sqlfilter.MutableProperties.
func (v sqlView) RemoveUser(key string) { delete(v.m.ApplicationProperties, key) }
