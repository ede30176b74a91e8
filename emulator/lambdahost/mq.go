package lambdahost

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/internal/hostapi"
)

// maxBatchBytes is the event source's payload limit per batch.
const maxBatchBytes = 6 << 20

// poller is one Amazon MQ event source mapping: one consumer on the queue,
// one batch in flight (as on AWS: one concurrent invocation per mapping).
// A control API stop ends run; a start runs it again.
type poller struct {
	h     *Host
	q     Queue
	vhost string

	mu    sync.Mutex
	state hostapi.TriggerHealth
}

func newPoller(h *Host, q Queue, vhost string) *poller {
	return &poller{h: h, q: q, vhost: vhost, state: hostapi.TriggerHealth{Type: "MQ", Status: "starting", Since: time.Now()}}
}

// setHealth records the connection as up (err nil) or down.
func (p *poller) setHealth(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	status, msg := "up", ""
	if err != nil {
		status, msg = "down", err.Error()
	}
	if status != p.state.Status || msg != p.state.Error {
		p.state = hostapi.TriggerHealth{Type: "MQ", Status: status, Error: msg, Since: time.Now()}
	}
}

func (p *poller) health() hostapi.TriggerHealth {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// run consumes until ctx ends, reconnecting after failures.
func (p *poller) run(ctx context.Context) {
	delay := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := p.consume(ctx)
		if ctx.Err() != nil {
			return
		}
		p.setHealth(err)
		p.h.cfg.Logger.Warn("queue poller disconnected; reconnecting", "function", p.q.Function, "queue", p.q.Queue, "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func vhostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "/"
	}
	// As amqp091's URI parsing: the path after the first "/" is the
	// (already unescaped) vhost; none means "/".
	if v := strings.TrimPrefix(u.Path, "/"); v != "" && strings.HasPrefix(u.Path, "/") {
		return v
	}
	return "/"
}

func (p *poller) consume(ctx context.Context) error {
	conn, err := amqp.DialConfig(p.h.cfg.RabbitMQURL, amqp.Config{Heartbeat: 10 * time.Second,
		Properties: amqp.Table{"connection_name": "lambdahost " + p.q.Function}})
	if err != nil {
		return fmt.Errorf("dialing: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(p.q.BatchSize, 0, false); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, p.q.Queue, "lambdahost-"+p.q.Function, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consuming %s: %w", p.q.Queue, err)
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	p.setHealth(nil)
	for {
		var batch []amqp.Delivery
		size := 0
		// The window starts with the first message of a batch.
		select {
		case <-ctx.Done():
			return nil
		case e := <-closed:
			return fmt.Errorf("connection closed: %v", e)
		case d, ok := <-deliveries:
			if !ok {
				return fmt.Errorf("delivery channel closed")
			}
			batch, size = append(batch, d), len(d.Body)
		}
		window := time.NewTimer(p.q.Window)
	fill:
		for len(batch) < p.q.BatchSize && size < maxBatchBytes {
			select {
			case d, ok := <-deliveries:
				if !ok {
					break fill
				}
				batch, size = append(batch, d), size+len(d.Body)
			case <-window.C:
				break fill
			case <-ctx.Done():
				break fill
			}
		}
		window.Stop()
		if ctx.Err() != nil {
			// Stopped while the batch filled: closing the connection
			// hands its messages back to the broker undelivered.
			return nil
		}
		p.deliver(ctx, batch)
	}
}

// deliver invokes the function with the batch and settles it whole:
// acknowledged on success, returned to the queue (requeued, so redelivered
// with redelivered=true) on failure; the queue's delivery limit and
// dead-letter exchange decide when a message stops coming back.
func (p *poller) deliver(ctx context.Context, batch []amqp.Delivery) {
	ctx, span := p.h.tel.batchSpan(context.WithoutCancel(ctx), p.q, batch)
	ev := p.event(batch)
	payload, err := json.Marshal(ev)
	last := batch[len(batch)-1]
	if err == nil {
		_, err = p.h.funcs[p.q.Function].invoke(ctx, payload)
	}
	if err == nil {
		if aerr := last.Ack(true); aerr != nil {
			p.h.cfg.Logger.Warn("ack failed; the broker will redeliver", "function", p.q.Function, "err", aerr)
		}
		endBatch(span, "ack", nil)
		return
	}
	p.h.cfg.Logger.Warn("batch failed; returning it to the queue", "function", p.q.Function, "queue", p.q.Queue, "messages", len(batch), "err", err)
	_ = last.Nack(true, true)
	endBatch(span, "requeue", err)
}

// event shapes a batch as the Amazon MQ for RabbitMQ event source does.
func (p *poller) event(batch []amqp.Delivery) events.RabbitMQEvent {
	key := p.q.Queue + "::" + p.vhost
	ev := events.RabbitMQEvent{EventSource: "aws:rmq",
		EventSourceARN:  fmt.Sprintf("arn:aws:mq:%s:000000000000:broker:local:b-00000000-0000-0000-0000-000000000000", p.h.cfg.Region),
		MessagesByQueue: map[string][]events.RabbitMQMessage{key: nil}}
	for _, d := range batch {
		ev.MessagesByQueue[key] = append(ev.MessagesByQueue[key], events.RabbitMQMessage{
			BasicProperties: basicProperties(d), Data: base64.StdEncoding.EncodeToString(d.Body), Redelivered: d.Redelivered,
		})
	}
	return ev
}

func basicProperties(d amqp.Delivery) events.RabbitMQBasicProperties {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	bp := events.RabbitMQBasicProperties{
		ContentType: d.ContentType, ContentEncoding: opt(d.ContentEncoding), DeliveryMode: d.DeliveryMode, Priority: d.Priority,
		CorrelationID: opt(d.CorrelationId), ReplyTo: opt(d.ReplyTo), Expiration: d.Expiration, MessageID: opt(d.MessageId),
		Type: opt(d.Type), UserID: d.UserId, AppID: opt(d.AppId), BodySize: uint64(len(d.Body)),
	}
	if !d.Timestamp.IsZero() {
		bp.Timestamp = d.Timestamp.UTC().Format("Jan 2, 2006, 3:04:05 PM")
	}
	if len(d.Headers) > 0 {
		bp.Headers = map[string]any{}
		for k, v := range d.Headers {
			bp.Headers[k] = headerValue(v)
		}
	}
	return bp
}

// headerValue renders an AMQP table value as the event source does: long
// strings (amqp091 decodes them as string; a traceparent is one) and byte
// arrays as {"bytes": [...]}, nested tables and arrays recursively.
func headerValue(v any) any {
	switch x := v.(type) {
	case string:
		return headerValue([]byte(x))
	case []byte:
		ints := make([]int, len(x))
		for i, b := range x {
			ints[i] = int(b)
		}
		return map[string]any{"bytes": ints}
	case amqp.Table:
		m := map[string]any{}
		for k, e := range x {
			m[k] = headerValue(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = headerValue(e)
		}
		return out
	case time.Time:
		return x.Unix()
	case amqp.Decimal:
		return fmt.Sprint(x)
	default:
		return v
	}
}
