package servicebus

import (
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/config"
)

// loadEntities creates the entities of a Config.json in the official schema. Invalid files
// (a SQL filter that does not parse, a forwarding loop, ...) are refused by the loader with a
// message naming the entity and field; config.Apply creates forwarding destinations first.
func loadEntities(b *broker.Broker, path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	return cfg.Apply(b)
}
