package deadletter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/orderflow/orderflow/shared/topology"
)

// ServiceBusConfig configures a Service Bus dead-letter queue.
type ServiceBusConfig struct {
	// Client is the Service Bus client to use. Required.
	Client *azservicebus.Client
	// Topology names the topic and its subscriptions. Default:
	// topology.Default().
	Topology *topology.Topology
	// WaitTime bounds how long Replay and Purge wait for more messages once
	// the dead-letter queue looks empty. Default: 2s.
	WaitTime time.Duration
}

// ServiceBus is the dead-letter sub-queue of each subscription of the
// topology's topic.
//
// Service Bus cannot send to one subscription, so Replay republishes to the
// topic: every subscription whose rules match gets a copy again, and the
// consumers that already handled the event drop it by its event id.
type ServiceBus struct {
	client *azservicebus.Client
	top    topology.Topology
	wait   time.Duration
}

var _ Queue = (*ServiceBus)(nil)

// NewServiceBus returns the dead-letter queues reachable through cfg.Client.
func NewServiceBus(cfg ServiceBusConfig) (*ServiceBus, error) {
	if cfg.Client == nil {
		return nil, errors.New("deadletter: ServiceBusConfig.Client is required")
	}
	top := topology.Default()
	if cfg.Topology != nil {
		top = *cfg.Topology
	}
	if cfg.WaitTime <= 0 {
		cfg.WaitTime = 2 * time.Second
	}
	return &ServiceBus{client: cfg.Client, top: top, wait: cfg.WaitTime}, nil
}

func (s *ServiceBus) receiver(consumer string) (*azservicebus.Receiver, error) {
	for _, sub := range s.top.Subscriptions {
		if sub.Name == consumer {
			r, err := s.client.NewReceiverForSubscription(s.top.Topic, sub.Name, &azservicebus.ReceiverOptions{
				SubQueue: azservicebus.SubQueueDeadLetter,
			})
			if err != nil {
				return nil, fmt.Errorf("opening dead-letter queue of %s/%s: %w", s.top.Topic, sub.Name, err)
			}
			return r, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownConsumer, consumer)
}

// List implements Queue by peeking, which neither locks nor removes.
func (s *ServiceBus) List(ctx context.Context, consumer string, max int) ([]Message, error) {
	r, err := s.receiver(consumer)
	if err != nil {
		return nil, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	var out []Message
	for len(out) < max {
		msgs, err := r.PeekMessages(ctx, max-len(out), nil)
		if err != nil {
			return nil, fmt.Errorf("peeking dead letters of %s: %w", consumer, err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			out = append(out, serviceBusMessage(m))
		}
	}
	return out, nil
}

// Replay implements Queue. A dead letter is completed only after the copy
// was accepted by the topic, so a failure leaves it in the dead-letter queue.
func (s *ServiceBus) Replay(ctx context.Context, consumer string, max int) (int, error) {
	r, err := s.receiver(consumer)
	if err != nil {
		return 0, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	sender, err := s.client.NewSender(s.top.Topic, nil)
	if err != nil {
		return 0, fmt.Errorf("opening sender for %s: %w", s.top.Topic, err)
	}
	defer sender.Close(context.WithoutCancel(ctx))
	// Replay only what is dead-lettered now: a replayed message that fails
	// again comes back with a higher sequence number and must wait for the
	// next replay, or this loop would never end.
	waiting, err := r.PeekMessages(ctx, max, nil)
	if err != nil {
		return 0, fmt.Errorf("peeking dead letters of %s: %w", consumer, err)
	}
	if len(waiting) == 0 {
		return 0, nil
	}
	last := *waiting[len(waiting)-1].SequenceNumber
	n := 0
	err = s.drain(ctx, r, len(waiting), func(m *azservicebus.ReceivedMessage) error {
		if m.SequenceNumber != nil && *m.SequenceNumber > last {
			return r.AbandonMessage(ctx, m, nil)
		}
		again := m.Message()
		// The dead-letter bookkeeping describes the old delivery, not the copy.
		delete(again.ApplicationProperties, "DeadLetterReason")
		delete(again.ApplicationProperties, "DeadLetterErrorDescription")
		if err := sender.SendMessage(ctx, again, nil); err != nil {
			_ = r.AbandonMessage(context.WithoutCancel(ctx), m, nil)
			return fmt.Errorf("republishing %s: %w", m.MessageID, err)
		}
		if err := r.CompleteMessage(ctx, m, nil); err != nil {
			return fmt.Errorf("removing replayed dead letter %s: %w", m.MessageID, err)
		}
		n++
		return nil
	})
	return n, err
}

// Purge implements Queue.
func (s *ServiceBus) Purge(ctx context.Context, consumer string) (int, error) {
	r, err := s.receiver(consumer)
	if err != nil {
		return 0, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	n := 0
	err = s.drain(ctx, r, int(^uint(0)>>1), func(m *azservicebus.ReceivedMessage) error {
		if err := r.CompleteMessage(ctx, m, nil); err != nil {
			return fmt.Errorf("deleting dead letter %s: %w", m.MessageID, err)
		}
		n++
		return nil
	})
	return n, err
}

// drain receives up to max messages in peek-lock mode and hands each to fn,
// stopping when no message arrives within s.wait.
func (s *ServiceBus) drain(ctx context.Context, r *azservicebus.Receiver, max int, fn func(*azservicebus.ReceivedMessage) error) error {
	done := 0
	for done < max {
		waitCtx, cancel := context.WithTimeout(ctx, s.wait)
		msgs, err := r.ReceiveMessages(waitCtx, min(max-done, 100), nil)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("receiving dead letters: %w", err)
		}
		if len(msgs) == 0 {
			return ctx.Err()
		}
		for _, m := range msgs {
			if err := fn(m); err != nil {
				return err
			}
			done++
		}
	}
	return nil
}

// Close implements Queue. The client belongs to the caller.
func (s *ServiceBus) Close(context.Context) error { return nil }

func serviceBusMessage(m *azservicebus.ReceivedMessage) Message {
	out := Message{ID: m.MessageID, Body: m.Body, DeliveryCount: int(m.DeliveryCount), Reason: "unknown"}
	if m.DeadLetterReason != nil {
		out.Reason = *m.DeadLetterReason
	}
	if m.DeadLetterErrorDescription != nil {
		out.Description = *m.DeadLetterErrorDescription
	}
	if m.EnqueuedTime != nil {
		out.EnqueuedAt = *m.EnqueuedTime
	}
	return out
}
