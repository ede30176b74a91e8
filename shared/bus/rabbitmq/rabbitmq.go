// Package rabbitmq publishes order events to RabbitMQ with amqp091-go:
// a durable topic exchange, persistent messages and publisher confirms. It
// declares the consumers' topology from shared/topology on every connect.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/shared/bus"
	"github.com/orderflow/orderflow/shared/topology"
)

const broker = "rabbitmq"

// Config configures a Publisher.
type Config struct {
	// URL is the AMQP URI (required), e.g. amqp://guest:guest@127.0.0.1:5672/.
	URL string
	// Topology is the exchange and queues to declare. Default:
	// topology.Default().
	Topology *topology.Topology
	// DialTimeout bounds connecting. Default: 3s.
	DialTimeout time.Duration
	// Logger receives reconnect notices. Default: slog.Default().
	Logger *slog.Logger
	// Quorum declares the consumers' queues as quorum queues whose delivery
	// limit dead-letters a message after the topology's maxDeliveryCount
	// deliveries (see DeclareOptions). Default: classic queues.
	Quorum bool
}

// Publisher is a bus.Publisher on RabbitMQ. It connects lazily and
// reconnects on the next Publish after any failure, so a broker outage only
// fails the publishes made during it.
type Publisher struct {
	cfg Config
	top topology.Topology

	mu     sync.Mutex
	conn   *amqp.Connection
	ch     *amqp.Channel
	closed bool
}

var _ bus.Publisher = (*Publisher)(nil)

// New returns a Publisher; it does not connect yet.
func New(cfg Config) *Publisher {
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	top := topology.Default()
	if cfg.Topology != nil {
		top = *cfg.Topology
	}
	return &Publisher{cfg: cfg, top: top}
}

// Publish sends m to the topic exchange as a persistent message and waits
// for the publisher confirm. Concurrent calls share one confirm-mode channel.
func (p *Publisher) Publish(ctx context.Context, m bus.Message) error {
	p.mu.Lock()
	ch, err := p.channel(ctx)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, p.top.Topic, m.Subject, false, false, Publishing(m))
	if err != nil {
		p.drop(ch)
		return &bus.BrokerError{Broker: broker, Op: "publish", Err: err}
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		// The broker did not answer in time: start over on a new connection
		// rather than trust this one.
		p.drop(ch)
		return &bus.BrokerError{Broker: broker, Op: "confirm", Err: err}
	}
	if !ok {
		p.drop(ch)
		return &bus.BrokerError{Broker: broker, Op: "confirm", Err: bus.ErrNotConfirmed}
	}
	return nil
}

// drop closes the connection of ch unless a newer one replaced it already.
func (p *Publisher) drop(ch *amqp.Channel) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ch == ch {
		p.reset()
	}
}

// Publishing maps a bus.Message to AMQP 0-9-1 properties.
func Publishing(m bus.Message) amqp.Publishing {
	var headers amqp.Table
	if len(m.Properties) > 0 {
		headers = make(amqp.Table, len(m.Properties))
		for k, v := range m.Properties {
			headers[k] = v
		}
	}
	return amqp.Publishing{
		Headers:      headers,
		MessageId:    m.ID,
		Type:         m.Type,
		ContentType:  m.ContentType,
		DeliveryMode: amqp.Persistent,
		Timestamp:    time.Now().UTC().Truncate(time.Second),
		Body:         m.Body,
	}
}

// Check connects (and declares the topology) if not connected.
func (p *Publisher) Check(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.channel(ctx)
	return err
}

// Close closes the connection. It is idempotent.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.conn == nil {
		return nil
	}
	done := make(chan error, 1)
	conn := p.conn
	p.conn, p.ch = nil, nil
	go func() { done <- conn.Close() }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, amqp.ErrClosed) {
			return &bus.BrokerError{Broker: broker, Op: "close", Err: err}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("closing rabbitmq connection: %w", ctx.Err())
	}
}

// channel returns a live confirm-mode channel, connecting if needed.
func (p *Publisher) channel(ctx context.Context) (*amqp.Channel, error) {
	if p.closed {
		return nil, bus.ErrClosed
	}
	if p.ch != nil && !p.ch.IsClosed() && !p.conn.IsClosed() {
		return p.ch, nil
	}
	p.reset()
	timeout := p.cfg.DialTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	conn, err := amqp.DialConfig(p.cfg.URL, amqp.Config{
		Dial:       amqp.DefaultDial(timeout),
		Heartbeat:  10 * time.Second,
		Properties: amqp.Table{"connection_name": "orderflow-publisher"},
	})
	if err != nil {
		return nil, &bus.BrokerError{Broker: broker, Op: "dial", Err: err}
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err == nil {
		err = DeclareWith(ch, p.top, DeclareOptions{Quorum: p.cfg.Quorum})
	}
	if err != nil {
		_ = conn.Close()
		return nil, &bus.BrokerError{Broker: broker, Op: "declare", Err: err}
	}
	p.conn, p.ch = conn, ch
	p.cfg.Logger.Info("connected to rabbitmq", "exchange", p.top.Topic)
	return ch, nil
}

func (p *Publisher) reset() {
	if p.conn != nil {
		_ = p.conn.Close()
	}
	p.conn, p.ch = nil, nil
}

// Declare declares the topology: the durable topic exchange, the direct
// dead-letter exchange, and per subscription a durable queue bound with the
// routing key whose rejected messages go to the dead-letter exchange with
// the queue's name as routing key, so each queue has its own "<name>.dlq".
func Declare(ch *amqp.Channel, t topology.Topology) error {
	return DeclareWith(ch, t, DeclareOptions{})
}

// DeclareOptions shape the consumers' queues.
type DeclareOptions struct {
	// Quorum declares quorum queues with x-delivery-limit set so that the
	// broker dead-letters a message on its maxDeliveryCount-th failed
	// delivery (the limit counts returns: limit = maxDeliveryCount-1).
	// Consumers that cannot republish a failed message with an attempt
	// count need it: AWS Lambda's Amazon MQ event source retries a failed
	// batch whole, so without a limit one poison message would block its
	// queue forever. Default false: classic queues, whose consumer (the
	// Functions host) counts attempts itself.
	Quorum bool
}

// DeclareWith is Declare with options.
func DeclareWith(ch *amqp.Channel, t topology.Topology, opt DeclareOptions) error {
	if err := ch.ExchangeDeclare(t.Topic, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declaring exchange %q: %w", t.Topic, err)
	}
	if err := ch.ExchangeDeclare(t.DeadLetterExchange, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declaring dead-letter exchange %q: %w", t.DeadLetterExchange, err)
	}
	for _, s := range t.Subscriptions {
		if _, err := ch.QueueDeclare(s.DeadLetterQueue(), true, false, false, false, nil); err != nil {
			return fmt.Errorf("declaring queue %q: %w", s.DeadLetterQueue(), err)
		}
		if err := ch.QueueBind(s.DeadLetterQueue(), s.Name, t.DeadLetterExchange, false, nil); err != nil {
			return fmt.Errorf("binding queue %q: %w", s.DeadLetterQueue(), err)
		}
		args := amqp.Table{"x-dead-letter-exchange": t.DeadLetterExchange, "x-dead-letter-routing-key": s.Name}
		if opt.Quorum {
			args["x-queue-type"] = "quorum"
			args["x-delivery-limit"] = int32(s.MaxDeliveryCount - 1)
		}
		if _, err := ch.QueueDeclare(s.Name, true, false, false, false, args); err != nil {
			return fmt.Errorf("declaring queue %q: %w", s.Name, err)
		}
		if err := ch.QueueBind(s.Name, t.RoutingKey, t.Topic, false, nil); err != nil {
			return fmt.Errorf("binding queue %q: %w", s.Name, err)
		}
	}
	return nil
}
