// Package topology is the single source of truth for the messaging layout of
// the order flow: the topic (Service Bus) or exchange (RabbitMQ) that carries
// OrderCreated events, and one subscription (or queue) per consumer with its
// delivery limits. The RabbitMQ declarations, the emulator's Config.json and
// the Bicep templates are all derived from or checked against topology.json.
package topology

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

//go:embed topology.json
var raw []byte

// Topology describes the publish/subscribe layout of the order flow.
type Topology struct {
	// Topic is the Service Bus topic and the RabbitMQ topic exchange name.
	Topic string `json:"topic"`
	// EventType is the type name of the event published on Topic.
	EventType string `json:"eventType"`
	// RoutingKey is the RabbitMQ routing key (and Service Bus subject) used
	// for EventType.
	RoutingKey string `json:"routingKey"`
	// DeadLetterExchange is the RabbitMQ exchange that receives rejected
	// messages; each consumer queue has a dead-letter queue bound to it.
	DeadLetterExchange string `json:"deadLetterExchange"`
	// Subscriptions lists one entry per consumer.
	Subscriptions []Subscription `json:"subscriptions"`
}

// Subscription is one consumer of the topic: a Service Bus subscription or a
// RabbitMQ queue bound to the exchange.
type Subscription struct {
	// Name is the subscription name and the RabbitMQ queue name.
	Name string `json:"name"`
	// Function is the Functions function that consumes it.
	Function string `json:"function"`
	// MaxDeliveryCount is how often a message is delivered before it is
	// dead-lettered.
	MaxDeliveryCount int `json:"maxDeliveryCount"`
	// LockDuration is the peek-lock duration as an ISO 8601 duration.
	LockDuration string `json:"lockDuration"`
	// DefaultMessageTimeToLive is the message TTL as an ISO 8601 duration.
	DefaultMessageTimeToLive string `json:"defaultMessageTimeToLive"`
	// DeadLetteringOnMessageExpiration moves expired messages to the
	// dead-letter queue instead of dropping them.
	DeadLetteringOnMessageExpiration bool `json:"deadLetteringOnMessageExpiration"`
}

// DeadLetterQueue is the RabbitMQ queue that holds s's dead letters.
func (s Subscription) DeadLetterQueue() string { return s.Name + ".dlq" }

// Default returns the topology embedded in the binary.
func Default() Topology {
	t, err := Parse(raw)
	if err != nil {
		panic(fmt.Sprintf("embedded topology.json: %v", err))
	}
	return t
}

// JSON returns the embedded topology.json as it is stored.
func JSON() []byte { return append([]byte(nil), raw...) }

// Parse decodes and validates a topology document.
func Parse(b []byte) (Topology, error) {
	var t Topology
	if err := json.Unmarshal(b, &t); err != nil {
		return Topology{}, fmt.Errorf("decoding topology: %w", err)
	}
	if t.Topic == "" || t.RoutingKey == "" || t.DeadLetterExchange == "" {
		return Topology{}, fmt.Errorf("topology: topic, routingKey and deadLetterExchange are required")
	}
	seen := map[string]bool{}
	for _, s := range t.Subscriptions {
		if s.Name == "" || s.Function == "" || s.MaxDeliveryCount < 1 {
			return Topology{}, fmt.Errorf("topology: subscription %q needs name, function and maxDeliveryCount >= 1", s.Name)
		}
		if seen[s.Name] {
			return Topology{}, fmt.Errorf("topology: duplicate subscription %q", s.Name)
		}
		seen[s.Name] = true
	}
	return t, nil
}

// Subscription returns the subscription consumed by function fn.
func (t Topology) Subscription(fn string) (Subscription, bool) {
	for _, s := range t.Subscriptions {
		if s.Function == fn {
			return s, true
		}
	}
	return Subscription{}, false
}
