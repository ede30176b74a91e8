package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// Entities is what a Config.json declares, as broker configurations with
// the schema's defaults filled in.
type Entities struct {
	Queues []broker.QueueConfig
	Topics []TopicEntities
}

// TopicEntities is a topic with its subscriptions.
type TopicEntities struct {
	Topic         broker.TopicConfig
	Subscriptions []broker.SubscriptionConfig
}

// Entities maps the validated configuration to broker configurations, in
// file order, with the official schema's defaults (LockDuration PT1M,
// MaxDeliveryCount 3, DefaultMessageTimeToLive PT1H) applied explicitly.
func (c *Config) Entities() Entities {
	var out Entities
	for _, ns := range c.UserConfig.Namespaces {
		for _, q := range ns.Queues {
			p := q.Properties
			out.Queues = append(out.Queues, broker.QueueConfig{
				Name:                                q.Name,
				LockDuration:                        orDefault(p.LockDuration, DefaultLockDuration),
				MaxDeliveryCount:                    intOrDefault(p.MaxDeliveryCount, DefaultMaxDeliveryCount),
				DefaultMessageTimeToLive:            orDefault(p.DefaultMessageTimeToLive, DefaultMessageTimeToLive),
				DeadLetteringOnMessageExpiration:    p.DeadLetteringOnMessageExpiration,
				RequiresSession:                     p.RequiresSession,
				RequiresDuplicateDetection:          p.RequiresDuplicateDetection,
				DuplicateDetectionHistoryTimeWindow: p.DuplicateDetectionHistoryTimeWindow.Duration,
				ForwardTo:                           p.ForwardTo,
				ForwardDeadLetteredTo:               p.ForwardDeadLetteredMessagesTo,
				MaxSizeInMegabytes:                  p.MaxSizeInMegabytes,
			})
		}
		for _, t := range ns.Topics {
			te := TopicEntities{Topic: broker.TopicConfig{
				Name:                                t.Name,
				DefaultMessageTimeToLive:            orDefault(t.Properties.DefaultMessageTimeToLive, DefaultMessageTimeToLive),
				RequiresDuplicateDetection:          t.Properties.RequiresDuplicateDetection,
				DuplicateDetectionHistoryTimeWindow: t.Properties.DuplicateDetectionHistoryTimeWindow.Duration,
				MaxSizeInMegabytes:                  t.Properties.MaxSizeInMegabytes,
			}}
			for _, s := range t.Subscriptions {
				p := s.Properties
				sc := broker.SubscriptionConfig{
					Name:                             s.Name,
					LockDuration:                     orDefault(p.LockDuration, DefaultLockDuration),
					MaxDeliveryCount:                 intOrDefault(p.MaxDeliveryCount, DefaultMaxDeliveryCount),
					DefaultMessageTimeToLive:         orDefault(p.DefaultMessageTimeToLive, DefaultMessageTimeToLive),
					DeadLetteringOnMessageExpiration: p.DeadLetteringOnMessageExpiration,
					RequiresSession:                  p.RequiresSession,
					ForwardTo:                        p.ForwardTo,
					ForwardDeadLetteredTo:            p.ForwardDeadLetteredMessagesTo,
				}
				for _, r := range s.Rules {
					sc.Rules = append(sc.Rules, r.Properties.rule(r.Name))
				}
				te.Subscriptions = append(te.Subscriptions, sc)
			}
			out.Topics = append(out.Topics, te)
		}
	}
	return out
}

// rule converts validated rule properties. A filter that does not convert
// (only in a Config not made by Parse) is left nil, which
// CreateSubscription refuses.
func (p RuleProperties) rule(name string) broker.Rule {
	rule := broker.Rule{Name: name}
	switch {
	case strings.EqualFold(p.FilterType, "Sql") && p.SqlFilter != nil:
		if f, err := broker.NewSQLFilter(p.SqlFilter.SqlExpression); err == nil {
			rule.Filter = f
		}
	case p.CorrelationFilter != nil:
		rule.Filter = p.CorrelationFilter.filter()
	}
	if p.Action != nil {
		rule.Action, _ = broker.NewSQLAction(p.Action.SqlExpression)
	}
	return rule
}

// filter converts a validated correlation filter.
func (f *CorrelationFilter) filter() *broker.CorrelationFilter {
	props, _ := f.properties() // validated by Parse
	return &broker.CorrelationFilter{
		CorrelationID:    f.CorrelationId,
		MessageID:        f.MessageId,
		To:               f.To,
		ReplyTo:          f.ReplyTo,
		Subject:          f.Label,
		SessionID:        f.SessionId,
		ReplyToSessionID: f.ReplyToSessionId,
		ContentType:      f.ContentType,
		Properties:       props,
	}
}

// Apply creates every entity of the configuration in b. It stops at the
// first error (e.g. an entity that already exists in b).
//
// Topics come first; then queues and subscriptions, each after the
// entities it auto-forwards to (the broker requires destinations to
// exist), otherwise in file order.
func (c *Config) Apply(b *broker.Broker) error {
	e := c.Entities()
	type pending struct {
		name   string // lower-case queue name; "" for a subscription
		deps   []string
		create func() error
	}
	var todo []pending
	created := map[string]bool{}
	for _, q := range e.Queues {
		todo = append(todo, pending{name: strings.ToLower(q.Name), deps: lowerNonEmpty(q.ForwardTo, q.ForwardDeadLetteredTo), create: func() error {
			if err := b.CreateQueue(q); err != nil {
				return fmt.Errorf("creating queue %s: %w", q.Name, err)
			}
			return nil
		}})
	}
	for _, t := range e.Topics {
		if err := b.CreateTopic(t.Topic); err != nil {
			return fmt.Errorf("creating topic %s: %w", t.Topic.Name, err)
		}
		created[strings.ToLower(t.Topic.Name)] = true
		for _, s := range t.Subscriptions {
			todo = append(todo, pending{deps: lowerNonEmpty(s.ForwardTo, s.ForwardDeadLetteredTo), create: func() error {
				if err := b.CreateSubscription(t.Topic.Name, s); err != nil {
					return fmt.Errorf("creating subscription %s/Subscriptions/%s: %w", t.Topic.Name, s.Name, err)
				}
				return nil
			}})
		}
	}
	for len(todo) > 0 {
		next := todo[:0:0]
		for _, p := range todo {
			ready := true
			for _, d := range p.deps {
				ready = ready && created[d]
			}
			if !ready {
				next = append(next, p)
				continue
			}
			if err := p.create(); err != nil {
				return err
			}
			if p.name != "" {
				created[p.name] = true
			}
		}
		if len(next) == len(todo) {
			// Destinations that never appear (a Config not made by Parse):
			// let the broker say what is wrong.
			return next[0].create()
		}
		todo = next
	}
	return nil
}

func lowerNonEmpty(names ...string) []string {
	var out []string
	for _, n := range names {
		if n != "" {
			out = append(out, strings.ToLower(n))
		}
	}
	return out
}

func orDefault(d Duration, def time.Duration) time.Duration {
	if d.Set {
		return d.Duration
	}
	return def
}

func intOrDefault(p *int, def int) int {
	if p != nil {
		return *p
	}
	return def
}
