package config_test

import (
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/config"
)

// RequiresSession on queues and subscriptions reaches the broker: the entities created by Apply
// take session receivers and refuse plain ones.
func TestRequiresSessionApplies(t *testing.T) {
	t.Parallel()
	doc := `{"UserConfig": {"Namespaces": [{"Name": "ns",
	  "Queues": [{"Name": "sq", "Properties": {"RequiresSession": true}}],
	  "Topics": [{"Name": "t", "Subscriptions": [{"Name": "ss", "Properties": {"RequiresSession": true}},
	                                            {"Name": "plain", "Properties": {"RequiresSession": false}}]}]}],
	  "Logging": {"Type": "Console"}}}`
	c, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	ents := c.Entities()
	if !ents.Queues[0].RequiresSession || !ents.Topics[0].Subscriptions[0].RequiresSession || ents.Topics[0].Subscriptions[1].RequiresSession {
		t.Fatalf("RequiresSession not mapped: %+v", ents)
	}
	b := broker.New(broker.Config{})
	t.Cleanup(b.Stop)
	if err := c.Apply(b); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for _, addr := range []string{"sq", "t/Subscriptions/ss"} {
		r, err := b.AcceptSession(addr, "s1", broker.PeekLock)
		if err != nil {
			t.Fatalf("AcceptSession(%s): %v", addr, err)
		}
		r.Close()
		if _, err := b.NewReceiver(addr, broker.PeekLock); err == nil {
			t.Errorf("a plain receiver on session-enabled %s was accepted", addr)
		}
	}
	if _, err := b.NewReceiver("t/Subscriptions/plain", broker.PeekLock); err != nil {
		t.Errorf("plain subscription: %v", err)
	}
}
