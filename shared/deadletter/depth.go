package deadletter

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// Depth is how many messages wait in a consumer's queue and in its
// dead-letter queue.
type Depth struct {
	// Live counts messages in the consumer's queue or subscription
	// (RabbitMQ: ready ones; Service Bus: all, including locked ones).
	Live int
	// Dead counts dead-lettered messages.
	Dead int
}

// MaxCounted bounds Service Bus counting by peek; deeper queues report it.
const MaxCounted = 10000

// Depth implements a depth query with passive queue declares, which count
// without the management plugin.
func (r *RabbitMQ) Depth(_ context.Context, consumer string) (Depth, error) {
	live, dead, err := r.queues(consumer)
	if err != nil {
		return Depth{}, err
	}
	var d Depth
	for _, q := range []struct {
		name string
		n    *int
	}{{live, &d.Live}, {dead, &d.Dead}} {
		ch, err := r.conn.Channel()
		if err != nil {
			return Depth{}, fmt.Errorf("opening channel: %w", err)
		}
		st, err := ch.QueueDeclarePassive(q.name, true, false, false, false, nil)
		_ = ch.Close()
		if err != nil {
			return Depth{}, fmt.Errorf("inspecting queue %s: %w", q.name, err)
		}
		*q.n = st.Messages
	}
	return d, nil
}

// Depth counts by peeking (Service Bus has no count over AMQP without the
// admin API, which the emulator does not serve), up to MaxCounted each.
func (s *ServiceBus) Depth(ctx context.Context, consumer string) (Depth, error) {
	var d Depth
	for _, q := range []struct {
		sub azservicebus.SubQueue
		n   *int
	}{{0, &d.Live}, {azservicebus.SubQueueDeadLetter, &d.Dead}} {
		var opts *azservicebus.ReceiverOptions
		if q.sub != 0 {
			opts = &azservicebus.ReceiverOptions{SubQueue: q.sub}
		}
		if !s.known(consumer) {
			return Depth{}, fmt.Errorf("%w: %q", ErrUnknownConsumer, consumer)
		}
		r, err := s.client.NewReceiverForSubscription(s.top.Topic, consumer, opts)
		if err != nil {
			return Depth{}, fmt.Errorf("opening %s/%s: %w", s.top.Topic, consumer, err)
		}
		n, err := peekCount(ctx, r)
		_ = r.Close(context.WithoutCancel(ctx))
		if err != nil {
			return Depth{}, fmt.Errorf("counting %s/%s: %w", s.top.Topic, consumer, err)
		}
		*q.n = n
	}
	return d, nil
}

func (s *ServiceBus) known(consumer string) bool {
	for _, sub := range s.top.Subscriptions {
		if sub.Name == consumer {
			return true
		}
	}
	return false
}

func peekCount(ctx context.Context, r *azservicebus.Receiver) (int, error) {
	n := 0
	for n < MaxCounted {
		msgs, err := r.PeekMessages(ctx, min(250, MaxCounted-n), nil)
		if err != nil {
			return n, err
		}
		if len(msgs) == 0 {
			return n, nil
		}
		n += len(msgs)
	}
	return n, nil
}
