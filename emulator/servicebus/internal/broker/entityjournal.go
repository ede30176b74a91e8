package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// Entity records: every change of an entity's settings or rules journals
// the entity's whole definition after the change (recEntity), and a
// deletion journals recDelete. The exported entity operations call
// journalEntityAfter and journalDeleteAfter in a deferred call, so the
// record follows the change and its locks are released.
const (
	recEntity = "e" // kind, topic, name, JSON definition
	recDelete = "x" // path
)

// entityDef is an entity's definition as journaled.
type entityDef struct {
	Queue        *QueueConfig        `json:",omitempty"`
	Topic        *TopicConfig        `json:",omitempty"`
	Subscription *SubscriptionConfig `json:",omitempty"` // Rules in RuleDefs
	RuleDefs     []ruleDef           `json:",omitempty"`
	// Status is set through SetStatus (the administration API); absent
	// means Active.
	Status Status `json:",omitempty"`
	// Properties are the administration API's (SetStatusAndProperties);
	// CreatedAt and UpdatedAt the entity's times, Unix nanoseconds. All
	// three are absent from the records of older versions: the entity then
	// has none and the times of its recreation.
	Properties           json.RawMessage `json:",omitempty"`
	CreatedAt, UpdatedAt int64           `json:",omitempty"`
}

// ruleDef is a rule as journaled: exactly one of True, SQL and Correlation.
type ruleDef struct {
	Name        string
	True        bool               `json:",omitempty"`
	SQL         string             `json:",omitempty"`
	Correlation *CorrelationFilter `json:",omitempty"` // Properties in CorrelationProps
	// CorrelationProps are the correlation filter's application
	// properties as an AMQP map, which keeps their types.
	CorrelationProps []byte `json:",omitempty"`
	Action           string `json:",omitempty"`
	// SQLParams and ActionParams are the @parameters of the SQL filter and
	// of the action as AMQP maps (absent in older records, which had none
	// that recovery could parse); Properties the administration API's.
	SQLParams    []byte          `json:",omitempty"`
	ActionParams []byte          `json:",omitempty"`
	Properties   json.RawMessage `json:",omitempty"`
}

// journalEntityAfter journals the definition of the entity kind/path if
// the change that defers it succeeded (*errp == nil).
func (b *Broker) journalEntityAfter(errp *error, kind EntityKind, topic, name string) {
	if *errp != nil || b.cfg.Journal == nil || b.replaying.Load() {
		return
	}
	def, err := b.entityDefOf(kind, topic, name)
	if err == nil {
		var js []byte
		if js, err = json.Marshal(def); err == nil {
			b.journal(recEntity, kind.String(), topic, name, js)
			return
		}
	}
	b.cfg.Logger.Error("journaling an entity change failed; it is not durable", "topic", topic, "name", name, "err", err)
}

// journalDeleteAfter journals the deletion of path if it succeeded.
func (b *Broker) journalDeleteAfter(errp *error, path string) {
	if *errp == nil {
		b.journal(recDelete, path)
	}
}

func (b *Broker) entityDefOf(kind EntityKind, topic, name string) (entityDef, error) {
	path := name
	if kind == KindSubscription {
		path = topic + subscriptionsInfix + name
	}
	tg, err := b.resolve(path)
	if err != nil {
		return entityDef{}, err
	}
	st := tg.state()
	def := entityDef{Status: Status(st.status.Load()), Properties: st.properties(),
		CreatedAt: st.created.Load(), UpdatedAt: st.updated.Load()}
	switch kind {
	case KindQueue:
		q, err := b.QueueSettings(name)
		def.Queue = &q
		return def, err
	case KindTopic:
		t, err := b.TopicSettings(name)
		def.Topic = &t
		return def, err
	}
	s, err := b.SubscriptionSettings(topic, name)
	if err != nil {
		return entityDef{}, err
	}
	def.Subscription, def.RuleDefs = &s, make([]ruleDef, 0, len(s.Rules))
	for _, r := range s.Rules {
		rd := ruleDef{Name: r.Name, Properties: r.Properties}
		switch f := r.Filter.(type) {
		case TrueFilter:
			rd.True = true
		case *SQLFilter:
			rd.SQL = f.Expression()
			if rd.SQLParams, err = appendParams(f.Parameters()); err != nil {
				return entityDef{}, fmt.Errorf("rule %s: %w", r.Name, err)
			}
		case *CorrelationFilter:
			c := *f
			c.Properties = nil
			rd.Correlation = &c
			if len(f.Properties) > 0 {
				if rd.CorrelationProps, err = enc.AppendStringMap(nil, f.Properties); err != nil {
					return entityDef{}, fmt.Errorf("rule %s: %w", r.Name, err)
				}
			}
		default:
			return entityDef{}, fmt.Errorf("rule %s: filter %T cannot be journaled: %w", r.Name, r.Filter, ErrInvalid)
		}
		if r.Action != nil {
			rd.Action = r.Action.Expression()
			if rd.ActionParams, err = appendParams(r.Action.Parameters()); err != nil {
				return entityDef{}, fmt.Errorf("rule %s: %w", r.Name, err)
			}
		}
		def.RuleDefs = append(def.RuleDefs, rd)
	}
	s.Rules = nil
	return def, nil
}

// appendParams encodes SQL @parameters as an AMQP map, which keeps their
// types (timestamps to the millisecond); nil for none.
func appendParams(params map[string]any) ([]byte, error) {
	if len(params) == 0 {
		return nil, nil
	}
	return enc.AppendStringMap(nil, params)
}

func decodeParams(rule string, b []byte) (map[string]any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	params, err := enc.NewDecoder(b).KeyedMap()
	if err != nil {
		return nil, fmt.Errorf("rule %s: parameters: %w", rule, err)
	}
	return params, nil
}

func (rd ruleDef) rule() (Rule, error) {
	r := Rule{Name: rd.Name, Properties: rd.Properties}
	switch {
	case rd.True:
		r.Filter = TrueFilter{}
	case rd.SQL != "":
		params, err := decodeParams(rd.Name, rd.SQLParams)
		if err != nil {
			return Rule{}, err
		}
		f, err := NewSQLFilterWithParameters(rd.SQL, params)
		if err != nil {
			return Rule{}, err
		}
		r.Filter = f
	case rd.Correlation != nil:
		c := *rd.Correlation
		if len(rd.CorrelationProps) > 0 {
			props, err := enc.NewDecoder(rd.CorrelationProps).KeyedMap()
			if err != nil {
				return Rule{}, fmt.Errorf("rule %s: %w", rd.Name, err)
			}
			c.Properties = props
		}
		r.Filter = &c
	default:
		return Rule{}, fmt.Errorf("rule %s without filter: %w", rd.Name, ErrInvalid)
	}
	params, err := decodeParams(rd.Name, rd.ActionParams)
	if err != nil {
		return Rule{}, err
	}
	a, err := NewSQLActionWithParameters(rd.Action, params)
	if err != nil {
		return Rule{}, err
	}
	r.Action = a
	return r, nil
}

// forwarding is an entity's auto-forwarding as journaled.
type forwarding struct{ to, dlq string }

// applyEntity creates or updates an entity from its journaled definition
// (topic: the topic of a subscription) without its auto-forwarding, which
// it returns: a destination may be recreated later in the journal's order,
// so Recovery.Finish wires forwarding once every entity exists.
func (b *Broker) applyEntity(topic string, js []byte) (fwd forwarding, err error) {
	var def entityDef
	if err := json.Unmarshal(js, &def); err != nil {
		return fwd, fmt.Errorf("journaled entity: %w", err)
	}
	var path string
	switch {
	case def.Queue != nil:
		cfg := *def.Queue
		fwd, path = forwarding{cfg.ForwardTo, cfg.ForwardDeadLetteredTo}, cfg.Name
		cfg.ForwardTo, cfg.ForwardDeadLetteredTo = "", ""
		if err = b.CreateQueue(cfg); isExists(err) {
			err = b.UpdateQueue(cfg)
		}
	case def.Topic != nil:
		path = def.Topic.Name
		if err = b.CreateTopic(*def.Topic); isExists(err) {
			err = b.UpdateTopic(*def.Topic)
		}
	case def.Subscription != nil:
		cfg := *def.Subscription
		fwd, path = forwarding{cfg.ForwardTo, cfg.ForwardDeadLetteredTo}, topic+subscriptionsInfix+cfg.Name
		cfg.ForwardTo, cfg.ForwardDeadLetteredTo = "", ""
		err = b.applySubscription(topic, cfg, def.RuleDefs)
	default:
		return fwd, fmt.Errorf("journaled entity without definition: %w", ErrInvalid)
	}
	if err != nil {
		return fwd, err
	}
	return fwd, b.restoreAdmin(path, def)
}

// restoreAdmin sets the status, properties and times an entity had when its
// definition was journaled (older records have neither properties nor
// times: the entity keeps the times of its recreation).
func (b *Broker) restoreAdmin(path string, def entityDef) error {
	if err := b.setAdmin(path, def.Status, def.Properties); err != nil {
		return err
	}
	tg, err := b.resolve(path)
	if err != nil {
		return err
	}
	st := tg.state()
	if def.CreatedAt != 0 {
		st.created.Store(def.CreatedAt)
	}
	if def.UpdatedAt != 0 {
		st.updated.Store(def.UpdatedAt)
	}
	return nil
}

func (b *Broker) applySubscription(topic string, cfg SubscriptionConfig, defs []ruleDef) error {
	rules := make([]Rule, 0, len(defs))
	for _, rd := range defs {
		r, err := rd.rule()
		if err != nil {
			return err
		}
		rules = append(rules, r)
	}
	cfg.Rules = rules
	err := b.CreateSubscription(topic, cfg)
	if err == nil || !isExists(err) {
		if err == nil && len(rules) == 0 { // created with $Default: the journal says none
			err = b.RemoveRule(topic, cfg.Name, DefaultRuleName)
		}
		return err
	}
	if err := b.UpdateSubscription(topic, cfg); err != nil {
		return err
	}
	return b.syncRules(topic, cfg.Name, rules)
}

// setForwarding wires the journaled auto-forwarding of the queue or
// subscription at path, as it was accepted when journaled: the destination
// was checked then (and may have been deleted since, which the service
// allows too), so it is not checked again.
func (b *Broker) setForwarding(path string, fwd forwarding) error {
	tg, err := b.resolve(path)
	if err != nil {
		return err
	}
	if tg.ent == nil || tg.addr.DeadLetter {
		return fmt.Errorf("%s cannot forward: %w", path, ErrInvalid)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	tg.ent.mu.Lock()
	defer tg.ent.mu.Unlock()
	tg.ent.forwardTo, tg.ent.forwardDLQ = fwd.to, fwd.dlq
	return nil
}

func isExists(err error) bool   { return errors.Is(err, ErrExists) }
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// syncRules makes a subscription's rules exactly rules.
func (b *Broker) syncRules(topic, sub string, rules []Rule) error {
	have, err := b.Rules(topic, sub)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, r := range rules {
		want[strings.ToLower(r.Name)] = true
	}
	for _, r := range have {
		if !want[strings.ToLower(r.Name)] {
			if err := b.RemoveRule(topic, sub, r.Name); err != nil {
				return err
			}
		}
	}
	for _, r := range rules {
		if err := b.ReplaceRule(topic, sub, r); err != nil {
			if !isNotFound(err) {
				return err
			}
			if err := b.AddRule(topic, sub, r); err != nil {
				return err
			}
		}
	}
	return nil
}
