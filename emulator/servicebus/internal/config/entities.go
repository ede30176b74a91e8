package config

import (
	"fmt"
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
				Name:                             q.Name,
				LockDuration:                     orDefault(p.LockDuration, DefaultLockDuration),
				MaxDeliveryCount:                 intOrDefault(p.MaxDeliveryCount, DefaultMaxDeliveryCount),
				DefaultMessageTimeToLive:         orDefault(p.DefaultMessageTimeToLive, DefaultMessageTimeToLive),
				DeadLetteringOnMessageExpiration: p.DeadLetteringOnMessageExpiration,
			})
		}
		for _, t := range ns.Topics {
			te := TopicEntities{Topic: broker.TopicConfig{
				Name:                     t.Name,
				DefaultMessageTimeToLive: orDefault(t.Properties.DefaultMessageTimeToLive, DefaultMessageTimeToLive),
			}}
			for _, s := range t.Subscriptions {
				p := s.Properties
				sc := broker.SubscriptionConfig{
					Name:                             s.Name,
					LockDuration:                     orDefault(p.LockDuration, DefaultLockDuration),
					MaxDeliveryCount:                 intOrDefault(p.MaxDeliveryCount, DefaultMaxDeliveryCount),
					DefaultMessageTimeToLive:         orDefault(p.DefaultMessageTimeToLive, DefaultMessageTimeToLive),
					DeadLetteringOnMessageExpiration: p.DeadLetteringOnMessageExpiration,
				}
				for _, r := range s.Rules {
					rule := broker.Rule{Name: r.Name}
					if f := r.Properties.CorrelationFilter; f != nil {
						rule.Filter = f.filter()
					} // else: only in a Config not made by Parse; CreateSubscription refuses it.
					sc.Rules = append(sc.Rules, rule)
				}
				te.Subscriptions = append(te.Subscriptions, sc)
			}
			out.Topics = append(out.Topics, te)
		}
	}
	return out
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
func (c *Config) Apply(b *broker.Broker) error {
	e := c.Entities()
	for _, q := range e.Queues {
		if err := b.CreateQueue(q); err != nil {
			return fmt.Errorf("creating queue %s: %w", q.Name, err)
		}
	}
	for _, t := range e.Topics {
		if err := b.CreateTopic(t.Topic); err != nil {
			return fmt.Errorf("creating topic %s: %w", t.Topic.Name, err)
		}
		for _, s := range t.Subscriptions {
			if err := b.CreateSubscription(t.Topic.Name, s); err != nil {
				return fmt.Errorf("creating subscription %s/Subscriptions/%s: %w", t.Topic.Name, s.Name, err)
			}
		}
	}
	return nil
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
