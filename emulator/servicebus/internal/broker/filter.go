package broker

import (
	"fmt"
	"math"
	"reflect"
)

// Filter decides whether a topic message is copied to a subscription. It
// must be safe for concurrent use and must not modify the message. SQL
// filters will be another implementation.
type Filter interface {
	Match(m *Message) bool
}

// TrueFilter matches every message (the filter of the $Default rule).
type TrueFilter struct{}

// Match implements Filter.
func (TrueFilter) Match(*Message) bool { return true }

// CorrelationFilter matches a message when every specified field equals the
// message's; a field left "" (or a nil/empty Properties map) is not
// specified. A specified system field never matches a message on which the
// field is absent. Strings compare exactly (case-sensitive); application
// properties compare with ValueEqual.
type CorrelationFilter struct {
	CorrelationID    string
	MessageID        string
	To               string
	ReplyTo          string
	Subject          string // .NET "Label"
	SessionID        string // properties.group-id
	ReplyToSessionID string // properties.reply-to-group-id
	ContentType      string
	// Properties are application properties that must all be present and
	// equal.
	Properties map[string]any
}

// Match implements Filter.
func (f *CorrelationFilter) Match(m *Message) bool {
	p := &m.Properties
	if f.CorrelationID != "" && !(p.Has(PropCorrelationID) && idEqual(p.CorrelationID, f.CorrelationID)) {
		return false
	}
	if f.MessageID != "" && !(p.Has(PropMessageID) && idEqual(p.MessageID, f.MessageID)) {
		return false
	}
	checks := [...]struct {
		want string
		bit  PropertyField
		got  string
	}{
		{f.To, PropTo, p.To},
		{f.ReplyTo, PropReplyTo, p.ReplyTo},
		{f.Subject, PropSubject, p.Subject},
		{f.SessionID, PropGroupID, p.GroupID},
		{f.ReplyToSessionID, PropReplyToGroupID, p.ReplyToGroupID},
		{f.ContentType, PropContentType, p.ContentType},
	}
	for _, c := range checks {
		if c.want != "" && (!p.Has(c.bit) || c.got != c.want) {
			return false
		}
	}
	for k, want := range f.Properties {
		got, ok := m.ApplicationProperties[k]
		if !ok || !ValueEqual(got, want) {
			return false
		}
	}
	return true
}

// idEqual compares a message/correlation id of any codec type with a filter
// string: strings compare exactly; other types (uuid, ulong) compare by
// their string form, which is how Service Bus shows them.
func idEqual(v any, want string) bool {
	switch x := v.(type) {
	case string:
		return x == want
	case nil, []byte:
		return false
	case fmt.Stringer:
		return x.String() == want
	default:
		return fmt.Sprint(x) == want
	}
}

// ValueEqual is the equality of correlation-filter property values: numbers
// compare by value across all integer and float types (1 == int64(1) ==
// 1.0), strings and booleans exactly, []byte by content, and anything else
// (codec-defined types, time.Time) with ==, or reflect.DeepEqual when not
// comparable.
func ValueEqual(a, b any) bool {
	if an, aok := number(a); aok {
		bn, bok := number(b)
		return bok && an.equal(bn)
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	case nil:
		return b == nil
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb {
		return false
	}
	if ta.Comparable() {
		return a == b
	}
	return reflect.DeepEqual(a, b)
}

// num is a number in one of three exact representations.
type num struct {
	kind byte // 'i' signed, 'u' unsigned, 'f' float
	i    int64
	u    uint64
	f    float64
}

func number(v any) (num, bool) {
	switch x := v.(type) {
	case int:
		return num{kind: 'i', i: int64(x)}, true
	case int8:
		return num{kind: 'i', i: int64(x)}, true
	case int16:
		return num{kind: 'i', i: int64(x)}, true
	case int32:
		return num{kind: 'i', i: int64(x)}, true
	case int64:
		return num{kind: 'i', i: x}, true
	case uint:
		return num{kind: 'u', u: uint64(x)}, true
	case uint8:
		return num{kind: 'u', u: uint64(x)}, true
	case uint16:
		return num{kind: 'u', u: uint64(x)}, true
	case uint32:
		return num{kind: 'u', u: uint64(x)}, true
	case uint64:
		return num{kind: 'u', u: x}, true
	case float32:
		return num{kind: 'f', f: float64(x)}, true
	case float64:
		return num{kind: 'f', f: x}, true
	}
	return num{}, false
}

func (a num) equal(b num) bool {
	if a.kind == 'f' || b.kind == 'f' {
		af, bf := a.float(), b.float()
		if a.kind == 'f' && b.kind == 'f' {
			return af == bf
		}
		// Integer vs float: equal only if the float is integral and the
		// integer converts exactly.
		f, n := af, b
		if b.kind == 'f' {
			f, n = bf, a
		}
		if f != math.Trunc(f) {
			return false
		}
		return n.float() == f && n.intEqualFloat(f)
	}
	if a.kind == b.kind {
		return a.i == b.i && a.u == b.u
	}
	s, u := a, b
	if a.kind == 'u' {
		s, u = b, a
	}
	return s.i >= 0 && uint64(s.i) == u.u
}

func (a num) float() float64 {
	switch a.kind {
	case 'i':
		return float64(a.i)
	case 'u':
		return float64(a.u)
	}
	return a.f
}

// intEqualFloat guards against float rounding making 2^53+1 equal 2^53.
func (a num) intEqualFloat(f float64) bool {
	if f < -(1<<63) || f >= 1<<64 {
		return false
	}
	switch a.kind {
	case 'i':
		return f < 1<<63 && int64(f) == a.i
	case 'u':
		return f >= 0 && uint64(f) == a.u
	}
	return false
}
