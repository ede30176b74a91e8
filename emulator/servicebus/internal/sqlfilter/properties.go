package sqlfilter

import (
	"sort"
	"strings"
	"time"
)

// Properties is the read-only view of a message that a Filter evaluates and
// an Action reads. The broker's message implements it.
type Properties interface {
	// System returns the value of the system property with the given
	// canonical name (one of the Sys* constants); ok is false when the
	// message does not carry it, which the language treats as NULL.
	//
	// Value types: the string properties (MessageId, CorrelationId, ...) as
	// Go strings (ids of other AMQP types in the string form Service Bus
	// shows), SequenceNumber / EnqueuedSequenceNumber / Size as int64,
	// DeliveryCount as an integer, the *Utc properties as time.Time,
	// TimeToLive as time.Duration, LockToken as a 16-byte uuid, State as its
	// name ("Active", ...), ForcePersistence as bool.
	System(name string) (value any, ok bool)
	// UserProperties returns the application properties. Filters and actions
	// only read the map; names are matched case-insensitively, an exact
	// match winning.
	UserProperties() map[string]any
}

// MutableProperties is what an Action changes. Apply computes every change
// first and calls these methods only when all statements succeeded.
type MutableProperties interface {
	Properties
	// SetSystem sets a settable system property (see SystemPropertySettable).
	// The value has the documented type of that property, or is nil, which
	// means "clear" (absent on the wire).
	SetSystem(name string, value any)
	// SetUser sets the application property key; key is the message's
	// existing spelling when one matched case-insensitively.
	SetUser(key string, value any)
	// RemoveUser deletes the application property key.
	RemoveUser(key string)
}

// Canonical system property names: the public properties of the .NET
// BrokeredMessage class, which the service's SQL language exposes under
// "sys." (service-bus-messaging-sql-filter, "Arguments"; table in
// service-bus-messages-payloads). Names are matched case-insensitively; the
// Azure.Messaging.ServiceBus spellings (Subject, EnqueuedTime, ...) are
// accepted as aliases because the filter-examples page tells users to use
// them.
const (
	SysContentType             = "ContentType"
	SysCorrelationID           = "CorrelationId"
	SysDeadLetterSource        = "DeadLetterSource"
	SysDeliveryCount           = "DeliveryCount"
	SysEnqueuedSequenceNumber  = "EnqueuedSequenceNumber"
	SysEnqueuedTimeUtc         = "EnqueuedTimeUtc"
	SysExpiresAtUtc            = "ExpiresAtUtc"
	SysForcePersistence        = "ForcePersistence"
	SysLabel                   = "Label"
	SysLockedUntilUtc          = "LockedUntilUtc"
	SysLockToken               = "LockToken"
	SysMessageID               = "MessageId"
	SysPartitionKey            = "PartitionKey"
	SysReplyTo                 = "ReplyTo"
	SysReplyToSessionID        = "ReplyToSessionId"
	SysScheduledEnqueueTimeUtc = "ScheduledEnqueueTimeUtc"
	SysSequenceNumber          = "SequenceNumber"
	SysSessionID               = "SessionId"
	SysSize                    = "Size"
	SysState                   = "State"
	SysTimeToLive              = "TimeToLive"
	SysTo                      = "To"
	SysViaPartitionKey         = "ViaPartitionKey"
)

// sysKind is the value type a settable system property accepts.
type sysKind uint8

const (
	sysString sysKind = iota
	sysTime
	sysDuration
	sysBool
	sysReadOnly
)

// sysProps maps lower-case names and aliases to the canonical name and the
// settable type. Read-only ones are the properties the payloads table marks
// "read-only" (set by the broker).
var sysProps = map[string]struct {
	name string
	kind sysKind
}{
	"contenttype":             {SysContentType, sysString},
	"correlationid":           {SysCorrelationID, sysString},
	"deadlettersource":        {SysDeadLetterSource, sysReadOnly},
	"deliverycount":           {SysDeliveryCount, sysReadOnly},
	"enqueuedsequencenumber":  {SysEnqueuedSequenceNumber, sysReadOnly},
	"enqueuedtimeutc":         {SysEnqueuedTimeUtc, sysReadOnly},
	"enqueuedtime":            {SysEnqueuedTimeUtc, sysReadOnly},
	"expiresatutc":            {SysExpiresAtUtc, sysReadOnly},
	"expiresat":               {SysExpiresAtUtc, sysReadOnly},
	"forcepersistence":        {SysForcePersistence, sysBool},
	"label":                   {SysLabel, sysString},
	"subject":                 {SysLabel, sysString},
	"lockeduntilutc":          {SysLockedUntilUtc, sysReadOnly},
	"lockeduntil":             {SysLockedUntilUtc, sysReadOnly},
	"locktoken":               {SysLockToken, sysReadOnly},
	"messageid":               {SysMessageID, sysString},
	"partitionkey":            {SysPartitionKey, sysString},
	"replyto":                 {SysReplyTo, sysString},
	"replytosessionid":        {SysReplyToSessionID, sysString},
	"scheduledenqueuetimeutc": {SysScheduledEnqueueTimeUtc, sysTime},
	"scheduledenqueuetime":    {SysScheduledEnqueueTimeUtc, sysTime},
	"sequencenumber":          {SysSequenceNumber, sysReadOnly},
	"sessionid":               {SysSessionID, sysString},
	"size":                    {SysSize, sysReadOnly},
	"state":                   {SysState, sysReadOnly},
	"timetolive":              {SysTimeToLive, sysDuration},
	"to":                      {SysTo, sysString},
	"viapartitionkey":         {SysViaPartitionKey, sysString},
	"transactionpartitionkey": {SysViaPartitionKey, sysString},
}

// SystemPropertyName returns the canonical name for a system property name
// or alias, matched case-insensitively.
func SystemPropertyName(name string) (canonical string, ok bool) {
	p, ok := sysProps[strings.ToLower(name)]
	return p.name, ok
}

// SystemPropertySettable reports whether an action may SET the system
// property (canonical name): the ones a sender can set on a message.
func SystemPropertySettable(canonical string) bool {
	p, ok := sysProps[strings.ToLower(canonical)]
	return ok && p.kind != sysReadOnly
}

// lookupUser finds name in props: the exact key, else the smallest key equal
// under Unicode case folding (property names are case-insensitive).
func lookupUser(props map[string]any, name string) (key string, value any, ok bool) {
	if v, ok := props[name]; ok {
		return name, v, true
	}
	var keys []string
	for k := range props {
		if strings.EqualFold(k, name) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", nil, false
	}
	sort.Strings(keys) // deterministic when several spellings exist
	return keys[0], props[keys[0]], true
}

// checkSysValue applies C# implicit conversion rules for assigning v to a
// system property of kind k: only identity conversions exist between the
// language's value types and string / DateTime / TimeSpan / bool, and NULL
// clears (all of these are nullable on the wire).
func checkSysValue(k sysKind, v any) bool {
	switch v.(type) {
	case nil:
		return true
	case string:
		return k == sysString
	case time.Time:
		return k == sysTime
	case time.Duration:
		return k == sysDuration
	case bool:
		return k == sysBool
	}
	return false
}
