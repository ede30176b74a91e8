// Package bus is the publish side of the order flow's messaging: a small
// contract that the RabbitMQ and Service Bus adapters implement and that the
// bustest conformance suite checks.
package bus

import "context"

// Message is one event to publish.
type Message struct {
	// ID is the message id; for events it is the event id, which consumers
	// use to deduplicate.
	ID string
	// Type is the event type ("OrderCreated"): the AMQP 0-9-1 type property
	// on RabbitMQ, the "type" application property on Service Bus.
	Type string
	// Subject is the RabbitMQ routing key and the Service Bus subject.
	Subject string
	// ContentType is the MIME type of Body.
	ContentType string
	// Body is published byte for byte.
	Body []byte
	// Properties are extra string properties: Service Bus application
	// properties, RabbitMQ headers. Trace context (traceparent, tracestate,
	// Diagnostic-Id) travels here. Default: none.
	Properties map[string]string
}

// Publisher publishes messages to the order flow's topic.
type Publisher interface {
	// Publish returns nil only after the broker has accepted the message
	// durably (publisher confirm, or Service Bus send acknowledgement).
	Publish(ctx context.Context, m Message) error
	// Check reports whether the broker is reachable now.
	Check(ctx context.Context) error
	// Close releases connections. It is idempotent and bounded by ctx.
	Close(ctx context.Context) error
}
