// Package deadletter inspects, replays and purges the dead-letter queues of
// the order flow's consumers, on RabbitMQ and on Service Bus, so an operator
// can see why a message failed and send it back once the cause is fixed.
package deadletter

import (
	"context"
	"errors"
	"time"
)

// ErrUnknownConsumer is returned for a consumer name that is not in the
// topology.
var ErrUnknownConsumer = errors.New("deadletter: unknown consumer")

// Message is one dead-lettered message as an operator sees it.
type Message struct {
	// ID is the broker message id (the event id for OrderCreated events).
	ID string
	// Reason says why the message was dead-lettered, as the broker recorded
	// it (for example MaxDeliveryCountExceeded, or rejected).
	Reason string
	// Description adds detail to Reason when the broker has any.
	Description string
	// DeliveryCount is how many times the message was delivered before it was
	// dead-lettered.
	DeliveryCount int
	// EnqueuedAt is when the message entered the dead-letter queue, when known.
	EnqueuedAt time.Time
	// Body is the message body.
	Body []byte
}

// Queue is the dead-letter queue of one broker. Consumer names are the
// subscription names of shared/topology (for example "process-order").
type Queue interface {
	// List returns up to max dead-lettered messages of consumer without
	// removing them.
	List(ctx context.Context, consumer string, max int) ([]Message, error)
	// Replay moves up to max dead-lettered messages of consumer back to the
	// live queue and returns how many it moved. A message leaves the
	// dead-letter queue only after the broker has confirmed the copy.
	Replay(ctx context.Context, consumer string, max int) (int, error)
	// Purge deletes every dead-lettered message of consumer and returns how
	// many it deleted.
	Purge(ctx context.Context, consumer string) (int, error)
	// Close releases the broker connection.
	Close(ctx context.Context) error
}
