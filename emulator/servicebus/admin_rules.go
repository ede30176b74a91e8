package servicebus

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/atom"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// Rules over the administration API: PUT of a RuleDescription, conversion
// between ATOM filters and actions and broker rules, and their rendering.

func (c *adminCall) putRule(d *atom.Description, update bool) {
	if d.Rule.Name != "" && !strings.EqualFold(d.Rule.Name, c.ap.rule) {
		c.fail(adminBadRequest("Name %q differs from the rule name %q in the path", d.Rule.Name, c.ap.rule))
		return
	}
	r, rm, err := brokerRule(d.Rule, c.ap.rule)
	if err != nil {
		c.fail(err)
		return
	}
	b := c.h.srv.broker
	_, err = b.EntityInfo(c.ap.topic + "/Subscriptions/" + c.ap.sub)
	if err != nil {
		c.fail(err)
		return
	}
	rm.Created = c.h.srv.cfg.Clock.Now().UTC()
	if update {
		if prev, ok := c.rule(c.ap.topic, c.ap.sub, c.ap.rule); ok {
			rm.Created = ruleMetaOf(prev).Created // zero (the subscription's) stays so
		}
	}
	r.Properties = rm.encode()
	if update {
		err = b.ReplaceRule(c.ap.topic, c.ap.sub, r)
	} else {
		err = b.AddRule(c.ap.topic, c.ap.sub, r)
		if errors.Is(err, broker.ErrExists) {
			err = fmt.Errorf("SubCode=40900. Conflict. %w", err)
		}
	}
	if err != nil {
		c.fail(err)
		return
	}
	item, ok := c.ruleItem(c.ap.topic, c.ap.sub, c.ap.rule)
	if !ok {
		c.fail(fmt.Errorf("rule %s: %w", c.ap.rule, broker.ErrNotFound))
		return
	}
	code := http.StatusCreated
	if update {
		code = http.StatusOK
	}
	c.write(code, ctEntry, atom.Entry(item.Meta, item.Content))
}

// brokerRule converts a parsed rule; no filter means the match-all filter.
// The ruleMeta keeps the SQL parameters to report them back.
func brokerRule(r *atom.Rule, name string) (broker.Rule, ruleMeta, error) {
	if r.Name != "" {
		name = r.Name
	}
	out := broker.Rule{Name: name, Filter: broker.TrueFilter{}}
	var rm ruleMeta
	if f := r.Filter; f != nil {
		switch f.Type {
		case "TrueFilter":
		case "FalseFilter":
			sf, err := broker.NewSQLFilter("1=0")
			if err != nil {
				return out, rm, err
			}
			out.Filter = sf
		case "SqlFilter", "":
			expr := f.Fields["SqlExpression"]
			if strings.TrimSpace(expr) == "" {
				return out, rm, adminBadRequest("Filter: SqlExpression is required")
			}
			params, err := paramMap("Filter", f.Parameters)
			if err != nil {
				return out, rm, err
			}
			sf, err := broker.NewSQLFilterWithParameters(expr, params)
			if err != nil {
				return out, rm, adminBadRequest("Filter: %v", err)
			}
			out.Filter, rm.FilterExpr, rm.FilterParams = sf, expr, f.Parameters
		case "CorrelationFilter":
			cf, err := correlationFilter(f)
			if err != nil {
				return out, rm, err
			}
			out.Filter = cf
		default:
			return out, rm, adminBadRequest("Filter: unknown filter type %q", f.Type)
		}
	}
	if a := r.Action; a != nil {
		switch a.Type {
		case "EmptyRuleAction", "":
		case "SqlRuleAction":
			params, err := paramMap("Action", a.Parameters)
			if err != nil {
				return out, rm, err
			}
			act, err := broker.NewSQLActionWithParameters(a.SQLExpression, params)
			if err != nil {
				return out, rm, adminBadRequest("Action: %v", err)
			}
			out.Action, rm.ActionExpr, rm.ActionParams = act, a.SQLExpression, a.Parameters
		default:
			return out, rm, adminBadRequest("Action: unknown action type %q", a.Type)
		}
	}
	return out, rm, nil
}

// paramMap converts SQL parameters; keys keep their "@".
func paramMap(where string, ps []atom.Param) (map[string]any, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(ps))
	for _, p := range ps {
		if !strings.HasPrefix(p.Key, "@") || len(p.Key) < 2 {
			return nil, adminBadRequest("%s: parameter name %q must start with @", where, p.Key)
		}
		v, err := paramValue(p)
		if err != nil {
			return nil, adminBadRequest("%s: %v", where, err)
		}
		out[p.Key] = v
	}
	return out, nil
}

func correlationFilter(f *atom.Filter) (*broker.CorrelationFilter, error) {
	cf := &broker.CorrelationFilter{
		CorrelationID: f.Fields["CorrelationId"], MessageID: f.Fields["MessageId"], To: f.Fields["To"],
		ReplyTo: f.Fields["ReplyTo"], Subject: f.Fields["Label"], SessionID: f.Fields["SessionId"],
		ReplyToSessionID: f.Fields["ReplyToSessionId"], ContentType: f.Fields["ContentType"],
	}
	for _, p := range f.Properties {
		v, err := paramValue(p)
		if err != nil {
			return nil, err
		}
		if cf.Properties == nil {
			cf.Properties = map[string]any{}
		}
		cf.Properties[p.Key] = v
	}
	if cf.Properties == nil && cf.CorrelationID == "" && cf.MessageID == "" &&
		cf.To == "" && cf.ReplyTo == "" && cf.Subject == "" && cf.SessionID == "" && cf.ReplyToSessionID == "" && cf.ContentType == "" {
		return nil, adminBadRequest("Filter: a correlation filter needs at least one property")
	}
	return cf, nil
}

func paramValue(p atom.Param) (any, error) {
	switch p.Type {
	case "string":
		return p.Value, nil
	case "int", "long", "short", "byte", "unsignedInt", "unsignedShort", "unsignedByte":
		n, err := strconv.ParseInt(strings.TrimSpace(p.Value), 10, 64)
		if err != nil {
			return nil, adminBadRequest("property %q: %q is not an integer", p.Key, p.Value)
		}
		return n, nil
	case "double", "float", "decimal":
		x, err := strconv.ParseFloat(strings.TrimSpace(p.Value), 64)
		if err != nil {
			return nil, adminBadRequest("property %q: %q is not a number", p.Key, p.Value)
		}
		return x, nil
	case "boolean":
		v, err := strconv.ParseBool(strings.TrimSpace(p.Value))
		if err != nil {
			return nil, adminBadRequest("property %q: %q is not true or false", p.Key, p.Value)
		}
		return v, nil
	case "dateTime":
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(p.Value))
		if err != nil {
			return nil, adminBadRequest("property %q: %q is not an RFC 3339 time", p.Key, p.Value)
		}
		return t.UTC(), nil
	}
	return nil, adminBadRequest("property %q: unsupported type %q", p.Key, p.Type)
}

// rule finds a rule of a subscription by name.
func (c *adminCall) rule(topic, sub, name string) (broker.Rule, bool) {
	rules, err := c.h.srv.broker.Rules(topic, sub)
	if err != nil {
		return broker.Rule{}, false
	}
	i := slices.IndexFunc(rules, func(r broker.Rule) bool { return strings.EqualFold(r.Name, name) })
	if i < 0 {
		return broker.Rule{}, false
	}
	return rules[i], true
}

// ruleItem renders one rule of a subscription.
func (c *adminCall) ruleItem(topic, sub, name string) (atom.Item, bool) {
	r, ok := c.rule(topic, sub, name)
	if !ok {
		return atom.Item{}, false
	}
	info, err := c.h.srv.broker.EntityInfo(topic + "/Subscriptions/" + sub)
	if err != nil {
		return atom.Item{}, false
	}
	path := topic + "/Subscriptions/" + sub + "/Rules/" + r.Name
	rm := ruleMetaOf(r)
	created := rm.Created
	if created.IsZero() {
		created = info.CreatedAt
	}
	content := atom.Desc("RuleDescription", ruleFilter(r.Filter, rm), ruleAction(r, rm), atom.Text("Name", r.Name), atom.Time("CreatedAt", created))
	return atom.Item{Meta: atom.EntryMeta{ID: c.url(path), Title: r.Name, Published: created, Updated: created,
		Author: c.namespaceName()}, Content: content}, true
}

func typed(name, xsiType string, kids ...atom.Elem) atom.Elem {
	return atom.Elem{Name: name, Attrs: [][2]string{{"i:type", xsiType}}, Kids: kids}
}

func ruleFilter(f broker.Filter, rm ruleMeta) atom.Elem {
	level := atom.Int("CompatibilityLevel", 20)
	switch x := f.(type) {
	case *broker.SQLFilter:
		expr := x.Expression()
		if expr == "1=0" {
			return typed("Filter", "FalseFilter", atom.Text("SqlExpression", expr), level)
		}
		kids := []atom.Elem{atom.Text("SqlExpression", expr)}
		if len(rm.FilterParams) > 0 && rm.FilterExpr == expr {
			kids = append(kids, atom.Params("Parameters", rm.FilterParams))
		}
		return typed("Filter", "SqlFilter", append(kids, level)...)
	case *broker.CorrelationFilter:
		var kids []atom.Elem
		for _, kv := range [][2]string{{"CorrelationId", x.CorrelationID}, {"MessageId", x.MessageID}, {"To", x.To},
			{"ReplyTo", x.ReplyTo}, {"Label", x.Subject}, {"SessionId", x.SessionID},
			{"ReplyToSessionId", x.ReplyToSessionID}, {"ContentType", x.ContentType}} {
			kids = append(kids, optText(kv[0], kv[1])...)
		}
		if len(x.Properties) > 0 {
			kids = append(kids, atom.Params("Properties", params(x.Properties)))
		}
		return typed("Filter", "CorrelationFilter", kids...)
	}
	return typed("Filter", "TrueFilter", atom.Text("SqlExpression", "1=1"), level)
}

func ruleAction(r broker.Rule, rm ruleMeta) atom.Elem {
	if r.Action == nil {
		return typed("Action", "EmptyRuleAction")
	}
	expr := r.Action.Expression()
	kids := []atom.Elem{atom.Text("SqlExpression", expr)}
	if len(rm.ActionParams) > 0 && rm.ActionExpr == expr {
		kids = append(kids, atom.Params("Parameters", rm.ActionParams))
	}
	return typed("Action", "SqlRuleAction", append(kids, atom.Int("CompatibilityLevel", 20))...)
}

// params renders correlation property values with the XML Schema types the
// SDKs read back (integers as int, as the service does).
func params(props map[string]any) []atom.Param {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]atom.Param, 0, len(keys))
	for _, k := range keys {
		p := atom.Param{Key: k}
		switch v := props[k].(type) {
		case string:
			p.Type, p.Value = "string", v
		case bool:
			p.Type, p.Value = "boolean", strconv.FormatBool(v)
		case int64:
			p.Type, p.Value = "int", strconv.FormatInt(v, 10)
		case int:
			p.Type, p.Value = "int", strconv.Itoa(v)
		case int32:
			p.Type, p.Value = "int", strconv.FormatInt(int64(v), 10)
		case float64:
			p.Type, p.Value = "double", strconv.FormatFloat(v, 'g', -1, 64)
		case time.Time:
			p.Type, p.Value = "dateTime", v.UTC().Format(time.RFC3339Nano)
		default:
			p.Type, p.Value = "string", fmt.Sprint(v)
		}
		out = append(out, p)
	}
	return out
}
