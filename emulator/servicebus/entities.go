package servicebus

import (
	"fmt"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/config"
)

// loadEntities creates the entities of a Config.json in the official schema. Unsupported
// features (SQL rules, sessions, ...) are refused by the loader with a message naming them.
func loadEntities(b *broker.Broker, path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	ents := cfg.Entities()
	for _, q := range ents.Queues {
		if err := b.CreateQueue(q); err != nil {
			return fmt.Errorf("creating queue %q: %w", q.Name, err)
		}
	}
	for _, t := range ents.Topics {
		if err := b.CreateTopic(t.Topic); err != nil {
			return fmt.Errorf("creating topic %q: %w", t.Topic.Name, err)
		}
		for _, sc := range t.Subscriptions {
			if err := b.CreateSubscription(t.Topic.Name, sc); err != nil {
				return fmt.Errorf("creating subscription %q of %q: %w", sc.Name, t.Topic.Name, err)
			}
		}
	}
	return nil
}
