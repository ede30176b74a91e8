package deadletter

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/shared/topology"
)

// requeueCountHeader is the retry counter the Functions RabbitMQ trigger
// keeps on republished copies; a replayed message starts again from zero.
const requeueCountHeader = "x-ms-rabbitmq-requeuecount"

// RabbitMQConfig configures a RabbitMQ dead-letter queue.
type RabbitMQConfig struct {
	// URL is the AMQP URI. Default: amqp://guest:guest@127.0.0.1:5672/.
	URL string
	// Topology names the consumers' queues. Default: topology.Default().
	Topology *topology.Topology
}

// RabbitMQ is the dead-letter queue of the RabbitMQ topology: each consumer
// queue Q dead-letters into Q.dlq through the topology's dead-letter exchange.
type RabbitMQ struct {
	conn *amqp.Connection
	top  topology.Topology
}

var _ Queue = (*RabbitMQ)(nil)

// NewRabbitMQ connects to RabbitMQ.
func NewRabbitMQ(cfg RabbitMQConfig) (*RabbitMQ, error) {
	if cfg.URL == "" {
		cfg.URL = "amqp://guest:guest@127.0.0.1:5672/"
	}
	top := topology.Default()
	if cfg.Topology != nil {
		top = *cfg.Topology
	}
	conn, err := amqp.Dial(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("connecting to RabbitMQ: %w", err)
	}
	return &RabbitMQ{conn: conn, top: top}, nil
}

func (r *RabbitMQ) queues(consumer string) (live, dead string, err error) {
	for _, s := range r.top.Subscriptions {
		if s.Name == consumer {
			return s.Name, s.DeadLetterQueue(), nil
		}
	}
	return "", "", fmt.Errorf("%w: %q", ErrUnknownConsumer, consumer)
}

// List implements Queue. It takes up to max messages without acknowledging
// them and returns them all to the queue before it returns, so the queue
// order is kept.
func (r *RabbitMQ) List(ctx context.Context, consumer string, max int) ([]Message, error) {
	_, dead, err := r.queues(consumer)
	if err != nil {
		return nil, err
	}
	ch, err := r.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("opening channel: %w", err)
	}
	// Closing the channel returns every unacknowledged message to the queue.
	defer ch.Close()
	var out []Message
	for len(out) < max && ctx.Err() == nil {
		d, ok, err := ch.Get(dead, false)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", dead, err)
		}
		if !ok {
			break
		}
		out = append(out, rabbitMessage(d))
	}
	return out, ctx.Err()
}

// Replay implements Queue. Each copy goes to the live queue through the
// default exchange with publisher confirms; the dead letter is acknowledged
// only after the broker confirmed the copy.
func (r *RabbitMQ) Replay(ctx context.Context, consumer string, max int) (int, error) {
	live, dead, err := r.queues(consumer)
	if err != nil {
		return 0, err
	}
	ch, err := r.conn.Channel()
	if err != nil {
		return 0, fmt.Errorf("opening channel: %w", err)
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		return 0, fmt.Errorf("enabling publisher confirms: %w", err)
	}
	// Replay only what is dead-lettered now: a replayed message that fails
	// again joins the tail of the queue and must wait for the next replay.
	q, err := ch.QueueDeclarePassive(dead, true, false, false, false, nil)
	if err != nil {
		return 0, fmt.Errorf("inspecting %s: %w", dead, err)
	}
	max = min(max, q.Messages)
	n := 0
	for n < max {
		d, ok, err := ch.Get(dead, false)
		if err != nil {
			return n, fmt.Errorf("reading %s: %w", dead, err)
		}
		if !ok {
			break
		}
		headers := amqp.Table{}
		for k, v := range d.Headers {
			if k != requeueCountHeader && k != "x-death" && k != "x-first-death-exchange" &&
				k != "x-first-death-queue" && k != "x-first-death-reason" {
				headers[k] = v
			}
		}
		conf, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", live, true, false, amqp.Publishing{
			Headers:         headers,
			ContentType:     d.ContentType,
			ContentEncoding: d.ContentEncoding,
			DeliveryMode:    amqp.Persistent,
			CorrelationId:   d.CorrelationId,
			MessageId:       d.MessageId,
			Timestamp:       d.Timestamp,
			Type:            d.Type,
			AppId:           d.AppId,
			Body:            d.Body,
		})
		if err != nil {
			_ = d.Nack(false, true)
			return n, fmt.Errorf("republishing %s to %s: %w", d.MessageId, live, err)
		}
		acked, err := conf.WaitContext(ctx)
		if err != nil || !acked {
			_ = d.Nack(false, true)
			return n, fmt.Errorf("broker did not confirm %s on %s (err %v)", d.MessageId, live, err)
		}
		if err := d.Ack(false); err != nil {
			return n, fmt.Errorf("acknowledging dead letter %s: %w", d.MessageId, err)
		}
		n++
	}
	return n, nil
}

// Purge implements Queue.
func (r *RabbitMQ) Purge(_ context.Context, consumer string) (int, error) {
	_, dead, err := r.queues(consumer)
	if err != nil {
		return 0, err
	}
	ch, err := r.conn.Channel()
	if err != nil {
		return 0, fmt.Errorf("opening channel: %w", err)
	}
	defer ch.Close()
	n, err := ch.QueuePurge(dead, false)
	if err != nil {
		return 0, fmt.Errorf("purging %s: %w", dead, err)
	}
	return n, nil
}

// Close implements Queue.
func (r *RabbitMQ) Close(context.Context) error {
	if err := r.conn.Close(); err != nil && err != amqp.ErrClosed {
		return fmt.Errorf("closing RabbitMQ connection: %w", err)
	}
	return nil
}

// rabbitMessage reads the x-death record RabbitMQ adds when it dead-letters
// a message, and the Functions trigger's retry counter.
func rabbitMessage(d amqp.Delivery) Message {
	m := Message{ID: d.MessageId, Body: d.Body, Reason: "unknown"}
	if n, ok := asInt(d.Headers[requeueCountHeader]); ok {
		m.DeliveryCount = n + 1
	}
	deaths, _ := d.Headers["x-death"].([]any)
	if len(deaths) > 0 {
		if death, ok := deaths[0].(amqp.Table); ok {
			if s, ok := death["reason"].(string); ok {
				m.Reason = s
			}
			q, _ := death["queue"].(string)
			count, _ := asInt(death["count"])
			m.Description = fmt.Sprintf("dead-lettered from queue %s (%d time(s))", q, count)
			if t, ok := death["time"].(time.Time); ok {
				m.EnqueuedAt = t
			}
		}
	}
	return m
}

func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int8:
		return int(n), true
	case int16:
		return int(n), true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case uint8:
		return int(n), true
	case uint16:
		return int(n), true
	case uint32:
		return int(n), true
	case uint64:
		return int(n), true
	}
	return 0, false
}
