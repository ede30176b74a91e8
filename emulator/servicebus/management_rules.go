package servicebus

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// Rule management over $management (add-rule, remove-rule, enumerate-rules), as the JavaScript
// SDK's ServiceBusRuleManager and the .NET SDK use it (docs/servicebus-rules-amqp.md). It needs
// the Manage claim (auth.go) and works on subscriptions only.

// Descriptor codes of the rule description types (Service Bus vendor types 0x137:...).
const (
	descRuleDescription   uint64 = 0x0000013700000004
	descEmptyRuleAction   uint64 = 0x0000013700000005
	descSQLRuleAction     uint64 = 0x0000013700000006
	descSQLFilter         uint64 = 0x0000001370000006
	descTrueFilter        uint64 = 0x0000001370000007
	descFalseFilter       uint64 = 0x0000001370000008
	descCorrelationFilter uint64 = 0x0000001370000009
)

// maxRuleNameLength is Service Bus's limit on rule names.
const maxRuleNameLength = 50

// sqlCompatibilityLevel is the only level Service Bus has.
const sqlCompatibilityLevel = int32(20)

// manageRules answers the rule operations; nil for other operations.
func (c *conn) manageRules(op string, entity broker.Address, args map[string]any) *response {
	switch op {
	case opAddRule, opRemoveRule, opEnumerateRules:
	default:
		return nil
	}
	topic, sub, isSub := splitSubscription(entity)
	if !isSub {
		return &response{code: 400, desc: fmt.Sprintf("'%s' is not a subscription: rules belong to subscriptions", entity.Path)}
	}
	b := c.srv.broker
	switch op {
	case opAddRule:
		name, _ := text(args["rule-name"])
		rule, err := ruleFromDescription(name, args["rule-description"])
		if err != nil {
			return badRequest(err)
		}
		if err := b.AddRule(topic, sub, rule); err != nil {
			if errors.Is(err, broker.ErrExists) {
				return &response{code: 409, desc: fmt.Sprintf("The messaging entity '%s/Rules/%s' already exists.", entity.Path, name)}
			}
			return errResponse(err)
		}
		return &response{code: 200, desc: "OK"}
	case opRemoveRule:
		name, _ := text(args["rule-name"])
		if name == "" {
			return badRequest(errors.New("rule-name is required"))
		}
		if err := b.RemoveRule(topic, sub, name); err != nil {
			if errors.Is(err, broker.ErrNotFound) {
				// Service Bus's wording, which the JavaScript SDK turns into MessagingEntityNotFound.
				return &response{code: 404, desc: fmt.Sprintf("The messaging entity '%s/Rules/%s' could not be found.", entity.Path, name)}
			}
			return errResponse(err)
		}
		return &response{code: 200, desc: "OK"}
	}
	rules, err := b.Rules(topic, sub)
	if err != nil {
		return errResponse(err)
	}
	skip, _ := int64Of(args["skip"])
	top, hasTop := int64Of(args["top"])
	rules = rules[min(max(skip, 0), int64(len(rules))):]
	if hasTop && top >= 0 && top < int64(len(rules)) {
		rules = rules[:top]
	}
	if len(rules) == 0 {
		return &response{code: 204, desc: "No rules"}
	}
	list := make([]any, len(rules))
	for i, r := range rules {
		list[i] = enc.Map{{Key: "rule-description", Value: ruleDescription(r)}}
	}
	return ok(enc.Map{{Key: "rules", Value: list}})
}

// splitSubscription splits a subscription's path into topic and subscription names.
func splitSubscription(a broker.Address) (topic, sub string, ok bool) {
	if a.Kind != broker.KindSubscription || a.DeadLetter {
		return "", "", false
	}
	i := strings.Index(strings.ToLower(a.Path), "/subscriptions/")
	if i < 0 {
		return "", "", false
	}
	return a.Path[:i], a.Path[i+len("/subscriptions/"):], true
}

// ruleFromDescription reads the rule-description map of add-rule: one of sql-filter
// {expression} or correlation-filter {correlation-id, message-id, to, reply-to, label,
// session-id, reply-to-session-id, content-type, properties}, and optionally sql-rule-action
// {expression}.
func ruleFromDescription(name string, v any) (broker.Rule, error) {
	switch {
	case strings.TrimSpace(name) == "":
		return broker.Rule{}, errors.New("rule-name is required")
	case len(name) > maxRuleNameLength:
		return broker.Rule{}, fmt.Errorf("rule name %q is longer than %d characters", name, maxRuleNameLength)
	}
	desc, isMap := v.(enc.Map)
	if !isMap {
		return broker.Rule{}, fmt.Errorf("rule-description of type %T: want a map", v)
	}
	d := mapToProps(desc)
	r := broker.Rule{Name: name}
	sqlArgs, hasSQL := d["sql-filter"].(enc.Map)
	corrArgs, hasCorr := d["correlation-filter"].(enc.Map)
	switch {
	case hasSQL && hasCorr:
		return broker.Rule{}, errors.New("rule-description has both sql-filter and correlation-filter")
	case hasSQL:
		expr, _ := text(mapToProps(sqlArgs)["expression"])
		f, err := broker.NewSQLFilter(expr)
		if err != nil {
			return broker.Rule{}, err
		}
		r.Filter = f
	case hasCorr:
		f, err := correlationFromMap(mapToProps(corrArgs))
		if err != nil {
			return broker.Rule{}, err
		}
		r.Filter = f
	default:
		return broker.Rule{}, errors.New("rule-description needs a sql-filter or a correlation-filter")
	}
	if actArgs, hasAction := d["sql-rule-action"].(enc.Map); hasAction {
		expr, _ := text(mapToProps(actArgs)["expression"])
		a, err := broker.NewSQLAction(expr)
		if err != nil {
			return broker.Rule{}, err
		}
		r.Action = a
	}
	return r, nil
}

func correlationFromMap(m map[string]any) (*broker.CorrelationFilter, error) {
	str := func(key string) (string, error) {
		switch v := m[key].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		case enc.Symbol:
			return string(v), nil
		}
		return "", fmt.Errorf("correlation-filter %s of type %T: want a string", key, m[key])
	}
	f := &broker.CorrelationFilter{}
	for _, field := range []struct {
		key string
		dst *string
	}{
		{"correlation-id", &f.CorrelationID}, {"message-id", &f.MessageID}, {"to", &f.To},
		{"reply-to", &f.ReplyTo}, {"label", &f.Subject}, {"session-id", &f.SessionID},
		{"reply-to-session-id", &f.ReplyToSessionID}, {"content-type", &f.ContentType},
	} {
		s, err := str(field.key)
		if err != nil {
			return nil, err
		}
		*field.dst = s
	}
	switch p := m["properties"].(type) {
	case nil:
	case enc.Map:
		f.Properties = mapToProps(p)
		for k, v := range f.Properties {
			if !isFilterValue(v) {
				return nil, fmt.Errorf("correlation-filter property %q of type %T: want a string, number, boolean, uuid or timestamp", k, v)
			}
		}
	default:
		return nil, fmt.Errorf("correlation-filter properties of type %T: want a map", p)
	}
	if f.CorrelationID == "" && f.MessageID == "" && f.To == "" && f.ReplyTo == "" && f.Subject == "" &&
		f.SessionID == "" && f.ReplyToSessionID == "" && f.ContentType == "" && len(f.Properties) == 0 {
		return nil, errors.New("a correlation-filter needs at least one property")
	}
	return f, nil
}

// isFilterValue reports whether v is a type a correlation filter property may have (a scalar).
func isFilterValue(v any) bool {
	switch v.(type) {
	case string, enc.Symbol, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
		float32, float64, time.Time, enc.UUID:
		return true
	}
	return false
}

// ruleDescription encodes a rule as the described list the SDKs read from enumerate-rules:
// [filter, action, name, created-at].
func ruleDescription(r broker.Rule) enc.Described {
	var filter enc.Described
	switch f := r.Filter.(type) {
	case broker.TrueFilter, *broker.TrueFilter:
		filter = enc.Described{Descriptor: descTrueFilter, Value: []any{}}
	case *broker.SQLFilter:
		switch strings.ReplaceAll(f.Expression(), " ", "") {
		case "1=1":
			filter = enc.Described{Descriptor: descTrueFilter, Value: []any{}}
		case "1=0":
			filter = enc.Described{Descriptor: descFalseFilter, Value: []any{}}
		default:
			filter = enc.Described{Descriptor: descSQLFilter, Value: []any{f.Expression(), sqlCompatibilityLevel}}
		}
	case *broker.CorrelationFilter:
		props := enc.Map{}
		for k, v := range f.Properties {
			props = append(props, enc.Pair{Key: k, Value: v})
		}
		// Absent fields are null; the properties map is always present (the JavaScript SDK
		// rejects a null there).
		filter = enc.Described{Descriptor: descCorrelationFilter, Value: []any{
			orNull(f.CorrelationID), orNull(f.MessageID), orNull(f.To), orNull(f.ReplyTo), orNull(f.Subject),
			orNull(f.SessionID), orNull(f.ReplyToSessionID), orNull(f.ContentType), props,
		}}
	default:
		filter = enc.Described{Descriptor: descSQLFilter, Value: []any{fmt.Sprint(f), sqlCompatibilityLevel}}
	}
	action := enc.Described{Descriptor: descEmptyRuleAction, Value: []any{}}
	if r.Action != nil {
		action = enc.Described{Descriptor: descSQLRuleAction, Value: []any{r.Action.Expression(), sqlCompatibilityLevel}}
	}
	return enc.Described{Descriptor: descRuleDescription, Value: []any{filter, action, r.Name}}
}

func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}
