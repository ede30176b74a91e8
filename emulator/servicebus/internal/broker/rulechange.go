package broker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
)

// Rule management on existing subscriptions (the administration API's
// rules; the $management rule operations can use the same calls).

// ruleList is the subscription's current rules; never modified in place
// (AddRule and friends swap in a new slice), so callers may range over it
// without a lock.
func (e *entity) ruleList() []Rule {
	if p := e.rules.Load(); p != nil {
		return *p
	}
	return nil
}

// Rules returns a subscription's rules in creation order.
func (b *Broker) Rules(topicName, sub string) ([]Rule, error) {
	s, err := b.entityOf(KindSubscription, topicName+subscriptionsInfix+sub)
	if err != nil {
		return nil, err
	}
	return slices.Clone(s.ruleList()), nil
}

// AddRule adds a rule to a subscription; ErrExists when it has a rule of
// that name (case-insensitive), ErrInvalid without a name or filter.
func (b *Broker) AddRule(topicName, sub string, r Rule) error {
	return b.changeRules(topicName, sub, r.Name, func(rules []Rule, i int) ([]Rule, error) {
		if i >= 0 {
			return nil, fmt.Errorf("rule %s: %w", r.Name, ErrExists)
		}
		return append(rules, r), nil
	}, &r)
}

// ReplaceRule replaces the filter and action of an existing rule
// (ErrNotFound when there is none of that name).
func (b *Broker) ReplaceRule(topicName, sub string, r Rule) error {
	return b.changeRules(topicName, sub, r.Name, func(rules []Rule, i int) ([]Rule, error) {
		if i < 0 {
			return nil, fmt.Errorf("rule %s: %w", r.Name, ErrNotFound)
		}
		r.Name = rules[i].Name
		rules[i] = r
		return rules, nil
	}, &r)
}

// RemoveRule removes a rule (ErrNotFound when there is none of that name).
// A subscription left without rules receives nothing, as in Service Bus.
func (b *Broker) RemoveRule(topicName, sub, name string) error {
	return b.changeRules(topicName, sub, name, func(rules []Rule, i int) ([]Rule, error) {
		if i < 0 {
			return nil, fmt.Errorf("rule %s: %w", name, ErrNotFound)
		}
		return slices.Delete(rules, i, i+1), nil
	}, nil)
}

func (b *Broker) changeRules(topicName, sub, name string, change func([]Rule, int) ([]Rule, error), add *Rule) (err error) {
	defer b.journalEntityAfter(&err, KindSubscription, topicName, sub)
	s, err := b.entityOf(KindSubscription, topicName+subscriptionsInfix+sub)
	if err != nil {
		return err
	}
	if add != nil {
		if _, err := checkRules(s.path, []Rule{*add}); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rules := slices.Clone(s.ruleList())
	i := slices.IndexFunc(rules, func(r Rule) bool { return strings.EqualFold(r.Name, name) })
	next, err := change(rules, i)
	if err != nil {
		return fmt.Errorf("subscription %s: %w", s.path, err)
	}
	s.rules.Store(&next)
	s.admin.updated.Store(b.now().UnixNano())
	return nil
}

// NewSQLFilterWithParameters parses a SQL filter whose @parameters take the
// given values (keys include the "@"; see sqlfilter.ParseFilterWithParameters).
func NewSQLFilterWithParameters(expr string, params map[string]any) (*SQLFilter, error) {
	f, err := sqlfilter.ParseFilterWithParameters(expr, params)
	if err != nil {
		return nil, fmt.Errorf("SQL filter %q: %w: %w", expr, ErrInvalid, err)
	}
	return &SQLFilter{f: f}, nil
}

// NewSQLActionWithParameters is NewSQLAction with @parameters.
func NewSQLActionWithParameters(expr string, params map[string]any) (*sqlfilter.Action, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	a, err := sqlfilter.ParseActionWithParameters(expr, params)
	if err != nil {
		return nil, fmt.Errorf("SQL action %q: %w: %w", expr, ErrInvalid, err)
	}
	return a, nil
}
