package broker

import (
	"fmt"
	"strings"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
)

// PropRuleName is the application property that names the rule whose action
// produced a subscription's copy of a message ("Topic filters and actions":
// "Each rule with an action produces a copy of the message. This message has
// a property called RuleName where the value is the name of the matching
// rule").
const PropRuleName = "RuleName"

// SQLFilter is a rule filter written in the Service Bus SQL filter language.
// A message for which the expression cannot be evaluated (type mismatch,
// division by zero, ...) does not match; the broker logs why.
type SQLFilter struct {
	f *sqlfilter.Filter
}

// NewSQLFilter parses a SQL filter expression. Parse errors are
// *sqlfilter.SyntaxError values (with line and column) wrapping ErrInvalid.
func NewSQLFilter(expr string) (*SQLFilter, error) {
	f, err := sqlfilter.ParseFilter(expr)
	if err != nil {
		return nil, fmt.Errorf("SQL filter %q: %w: %w", expr, ErrInvalid, err)
	}
	return &SQLFilter{f: f}, nil
}

// NewSQLAction parses a SQL rule action; "" (or only blanks) means no action
// and returns nil.
func NewSQLAction(expr string) (*sqlfilter.Action, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	a, err := sqlfilter.ParseAction(expr)
	if err != nil {
		return nil, fmt.Errorf("SQL action %q: %w: %w", expr, ErrInvalid, err)
	}
	return a, nil
}

// Match implements Filter: true only when the predicate is TRUE.
func (f *SQLFilter) Match(m *Message) bool {
	ok, _ := f.Eval(m)
	return ok
}

// Eval evaluates the filter against m; the error says why it could not be
// evaluated (the message then does not match).
func (f *SQLFilter) Eval(m *Message) (bool, error) {
	return f.f.Match(sqlView{m})
}

// Expression returns the filter text.
func (f *SQLFilter) Expression() string { return f.f.Expression() }

// Parameters returns the @parameters the filter was made with (nil for
// none); the caller must not modify the map.
func (f *SQLFilter) Parameters() map[string]any { return f.f.Parameters() }

// route appends to out what subscription e receives for the topic's
// message m (which it must not modify): nothing, or m itself once for all
// matching rules without an action (OR), then one private clone per
// matching rule with an action, carrying RuleName and the action's changes.
// A filter or action that fails for m counts as not matching and is
// logged.
func (e *entity) route(m *Message, out []*Message) []*Message {
	plain := false // no rules: nothing (Service Bus keeps such a subscription empty)
	var copies []*Message
	for _, r := range e.ruleList() {
		if r.Action == nil && plain {
			continue // already selected: OR needs no more evaluation
		}
		if !e.ruleMatches(r, m) {
			continue
		}
		if r.Action == nil {
			plain = true
			continue
		}
		c := m.Clone()
		if err := r.Action.Apply(sqlView{c}); err != nil {
			e.b.cfg.Logger.Warn("rule action failed; the rule does not select the message",
				"subscription", e.path, "rule", r.Name, "sequenceNumber", m.SequenceNumber, "err", err)
			continue
		}
		if c.ApplicationProperties == nil {
			c.ApplicationProperties = make(map[string]any, 1)
		}
		c.ApplicationProperties[PropRuleName] = r.Name
		copies = append(copies, c)
	}
	if plain {
		out = append(out, m)
	}
	return append(out, copies...)
}

func (e *entity) ruleMatches(r Rule, m *Message) bool {
	f, ok := r.Filter.(*SQLFilter)
	if !ok {
		return r.Filter.Match(m)
	}
	match, err := f.Eval(m)
	if err != nil {
		e.b.cfg.Logger.Warn("SQL filter could not be evaluated; the rule does not match",
			"subscription", e.path, "rule", r.Name, "sequenceNumber", m.SequenceNumber, "err", err)
	}
	return match
}
