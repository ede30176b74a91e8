package funchost

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/internal/jsonw"
)

// Settlement rules of the RabbitMQ extension 2.x (functions-protocol 5.2).
const (
	rabbitRequeueHeader   = "x-ms-rabbitmq-requeuecount"
	rabbitMaxAttempts     = 5
	rabbitDefaultPrefetch = 30
)

// rabbitTrigger is rabbitMQTrigger: one consumer per handler instance on the
// queue, manual ack, basic.qos(prefetchCount). Each consumer runs one
// invocation at a time (the extension's dispatch is serial,
// functions-protocol 5.2), so
// Config.Instances consumers compete for the queue like scaled-out hosts.
type rabbitTrigger struct {
	host      *Host
	fn        *Function
	binding   *Binding
	queue     string
	url       string
	insecure  bool
	prefetch  int
	consumers int

	conn *connState

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (t *rabbitTrigger) health() TriggerHealth { return t.conn.health() }

func newRabbitTrigger(h *Host, fn *Function, b *Binding) (Trigger, error) {
	t := &rabbitTrigger{host: h, fn: fn, binding: b, queue: b.Str("queueName"), insecure: b.Bool("disableCertificateValidation"),
		prefetch: rabbitDefaultPrefetch, consumers: h.cfg.Instances, conn: newConnState(b.Type)}
	if t.queue == "" {
		return nil, bindingError("queueName", "missing")
	}
	if b.Cardinality == "many" {
		// The RabbitMQ extension binds one delivery per invocation; it has no
		// batch trigger (azure-functions-rabbitmq-extension issue #14).
		return nil, bindingError("cardinality", "\"many\" is not supported: the RabbitMQ extension triggers on one message at a time")
	}
	var ext struct {
		PrefetchCount    *int   `json:"prefetchCount"`
		ConnectionString string `json:"connectionString"`
	}
	if raw, ok := h.app.Extensions["rabbitmq"]; ok {
		if err := json.Unmarshal(lowerKeys(raw), &ext); err != nil {
			return nil, hostError("extensions.rabbitMQ", "%v", err)
		}
	}
	if ext.PrefetchCount != nil && *ext.PrefetchCount >= 0 {
		t.prefetch = *ext.PrefetchCount
	}
	if name := b.Str("connectionStringSetting"); name != "" {
		v, ok := h.app.settings.get(name)
		if !ok || v == "" {
			return nil, bindingError("connectionStringSetting", "%q names no app setting with a value", name)
		}
		t.url = v
	} else {
		t.url = h.app.settings.expandEnv(ext.ConnectionString)
	}
	if t.url == "" {
		return nil, bindingError("connectionStringSetting", "missing (or set host.json extensions.rabbitMQ.connectionString)")
	}
	return t, nil
}

// lowerKeys makes the top-level keys of a JSON object lower case so that
// encoding/json, which only folds ASCII case, sees .NET-style keys.
func lowerKeys(raw json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	out := map[string]json.RawMessage{}
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	b, _ := json.Marshal(out)
	return b
}

func (t *rabbitTrigger) describe(string) string { return "rabbitMQTrigger" }

// Start launches the consumers; they connect (and reconnect) in the background.
func (t *rabbitTrigger) Start(ctx context.Context, d Dispatcher) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cancel != nil {
		return fmt.Errorf("rabbitMQ trigger %s already started", t.fn.Name)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.cancel = cancel
	for i := range t.consumers {
		t.wg.Add(1)
		go t.run(runCtx, d, i)
	}
	return nil
}

// Stop cancels the consumers: the running invocation finishes, prefetched
// deliveries not yet started are nacked with requeue. Bounded by ctx.
func (t *rabbitTrigger) Stop(ctx context.Context) error {
	t.mu.Lock()
	cancel := t.cancel
	t.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping rabbitMQ consumers of %s: %w", t.fn.Name, ctx.Err())
	}
}

// run keeps one consumer alive, reconnecting with capped exponential backoff.
func (t *rabbitTrigger) run(ctx context.Context, d Dispatcher, n int) {
	defer t.wg.Done()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		consumed, err := t.consume(ctx, d, n)
		if ctx.Err() != nil || t.gaveUp() {
			return
		}
		if consumed {
			backoff = 100 * time.Millisecond
		}
		t.conn.set(n, err)
		t.host.log.Warn("rabbitMQ consumer disconnected; reconnecting", "function", t.fn.Name, "queue", t.queue, "consumer", n, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// consume runs one connection's worth of consuming. consumed reports whether
// it got as far as consuming (to reset the backoff).
func (t *rabbitTrigger) consume(ctx context.Context, d Dispatcher, n int) (consumed bool, err error) {
	cfg := amqp.Config{Properties: amqp.Table{"connection_name": fmt.Sprintf("funchost %s #%d", t.fn.Name, n)}}
	if t.insecure {
		cfg.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the binding asked for it
	}
	conn, err := amqp.DialConfig(t.url, cfg)
	if err != nil {
		return false, fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("opening channel: %w", err)
	}
	if err := ch.Qos(t.prefetch, 0, false); err != nil {
		return false, fmt.Errorf("basic.qos: %w", err)
	}
	// The retry copy is published with confirms so a failed message is never
	// acked before its copy is safely queued.
	if err := ch.Confirm(false); err != nil {
		return false, fmt.Errorf("confirm.select: %w", err)
	}
	tag := fmt.Sprintf("funchost-%s-%d-%d", t.fn.Name, n, time.Now().UnixNano())
	deliveries, err := ch.Consume(t.queue, tag, false, false, false, false, nil)
	if err != nil {
		return false, fmt.Errorf("consuming queue %q: %w", t.queue, err)
	}
	t.host.log.Info("rabbitMQ consumer started", "function", t.fn.Name, "queue", t.queue, "consumer", n, "prefetch", t.prefetch)
	t.conn.set(n, nil)
	for {
		select {
		case <-ctx.Done():
			t.release(ch, tag, deliveries)
			return true, nil
		case <-t.host.Done():
			// The host gave up on the handler: stop consuming, as the real
			// host stops; the messages stay on the queue.
			t.release(ch, tag, deliveries)
			return true, nil
		case dl, ok := <-deliveries:
			if !ok {
				return true, errors.New("delivery channel closed (connection or channel lost)")
			}
			if ctx.Err() != nil {
				// Stopping: select picked a delivery over ctx.Done; hand it back.
				_ = dl.Nack(false, true)
				t.release(ch, tag, deliveries)
				return true, nil
			}
			t.handle(ctx, d, ch, dl)
		}
	}
}

func (t *rabbitTrigger) gaveUp() bool {
	select {
	case <-t.host.Done():
		return true
	default:
		return false
	}
}

// release cancels the consumer and hands back prefetched deliveries.
func (t *rabbitTrigger) release(ch *amqp.Channel, tag string, deliveries <-chan amqp.Delivery) {
	_ = ch.Cancel(tag, false)
	released := 0
	for dl := range deliveries {
		if dl.Nack(false, true) == nil {
			released++
		}
	}
	if released > 0 {
		t.host.log.Info("released prefetched messages", "function", t.fn.Name, "queue", t.queue, "count", released)
	}
}

// handle runs one delivery and settles it (functions-protocol 5.2).
func (t *rabbitTrigger) handle(ctx context.Context, d Dispatcher, ch *amqp.Channel, dl amqp.Delivery) {
	inv := Invocation{Function: t.fn.Name, Reason: fmt.Sprintf("New RabbitMQ message detected on '%s'.", t.queue), Payload: rabbitPayload(t.binding, dl)}
	invCtx, span := t.processSpan(context.WithoutCancel(ctx), dl)
	_, err := d.Invoke(invCtx, inv)
	disposition := "ack"
	defer func() { settled(span, disposition, err) }()
	if err == nil {
		if aerr := dl.Ack(false); aerr != nil {
			t.host.log.Warn("ack failed; the broker will redeliver", "function", t.fn.Name, "err", aerr)
		}
		return
	}
	if errors.Is(err, ErrHandlerUnavailable) {
		// The handler never saw it (host stopping or gave up): not an attempt.
		_ = dl.Nack(false, true)
		return
	}
	count := requeueCount(dl.Headers) + 1
	if count >= rabbitMaxAttempts {
		t.host.log.Warn("message failed on its last attempt; rejecting it to the dead-letter exchange", "function", t.fn.Name, "queue", t.queue, "attempts", count)
		disposition = "dead_letter"
		t.host.tel.count(invCtx, t.host.tel.deadLet, t.fn.Name, "rabbitmq")
		_ = dl.Reject(false)
		return
	}
	headers := amqp.Table{}
	for k, v := range dl.Headers {
		headers[k] = v
	}
	headers[rabbitRequeueHeader] = int32(count)
	msg := amqp.Publishing{
		Headers: headers, ContentType: dl.ContentType, ContentEncoding: dl.ContentEncoding, DeliveryMode: dl.DeliveryMode,
		Priority: dl.Priority, CorrelationId: dl.CorrelationId, ReplyTo: dl.ReplyTo, Expiration: dl.Expiration,
		MessageId: dl.MessageId, Timestamp: dl.Timestamp, Type: dl.Type, UserId: dl.UserId, AppId: dl.AppId, Body: dl.Body,
	}
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	conf, perr := ch.PublishWithDeferredConfirmWithContext(pubCtx, "", t.queue, false, false, msg)
	if perr == nil {
		var acked bool
		acked, perr = conf.WaitContext(pubCtx)
		if perr == nil && !acked {
			perr = errors.New("broker nacked the retry copy")
		}
	}
	if perr != nil {
		// Keep the original: the broker redelivers it.
		t.host.log.Warn("could not republish the retry copy; requeueing the original", "function", t.fn.Name, "err", perr)
		_ = dl.Nack(false, true)
		return
	}
	disposition = "retry"
	t.host.tel.count(invCtx, t.host.tel.retried, t.fn.Name, "rabbitmq")
	t.host.log.Info("message failed; retry copy queued", "function", t.fn.Name, "queue", t.queue, "attempt", count)
	_ = dl.Ack(false)
}

// requeueCount reads x-ms-rabbitmq-requeuecount (absent = 0).
func requeueCount(h amqp.Table) int64 {
	switch v := h[rabbitRequeueHeader].(type) {
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case string:
		var n int64
		_, _ = fmt.Sscan(v, &n)
		return n
	case []byte:
		var n int64
		_, _ = fmt.Sscan(string(v), &n)
		return n
	}
	return 0
}

// rabbitPayload builds the invocation of a delivery (functions-protocol 2.6): the body as the
// trigger value, delivery fields as metadata, then the JSON-body spill.
func rabbitPayload(b *Binding, dl amqp.Delivery) *Payload {
	p := &Payload{}
	p.Data.Set(b.Name, TriggerValue(dl.Body, b.DataType))
	m := &p.Metadata
	m.Set("ConsumerTag", StringValue(dl.ConsumerTag))
	m.Set("DeliveryTag", UintValue(dl.DeliveryTag))
	m.Set("Redelivered", BoolValue(dl.Redelivered))
	m.Set("Exchange", StringValue(dl.Exchange))
	m.Set("RoutingKey", StringValue(dl.RoutingKey))
	m.Set("BasicProperties", basicProperties(dl))
	body := strconv.AppendBool(append(make([]byte, 0, 40), `{"IsEmpty":`...), len(dl.Body) == 0)
	body = strconv.AppendInt(append(body, `,"Length":`...), int64(len(dl.Body)), 10)
	m.Set("Body", rawValue(append(body, '}')))
	if !strings.EqualFold(b.DataType, "binary") {
		m.SpillJSON(string(dl.Body))
	}
	return p
}

// basicProperties mirrors the public properties of RabbitMQ.Client's
// IBasicProperties as Json.NET serialises them (the real list is not
// established; functions-protocol 2.6): keys in the order json.Marshal gives
// a map, absent strings null, the headers through amqpValue.
func basicProperties(dl amqp.Delivery) Value {
	b := make([]byte, 0, 320+len(dl.MessageId)+len(dl.Type)+len(dl.ContentType)+len(dl.CorrelationId))
	str := func(b []byte, key, s string) []byte {
		b = append(b, key...)
		if s == "" {
			return append(b, "null"...)
		}
		return jsonw.AppendString(b, s, true)
	}
	b = str(b, `{"AppId":`, dl.AppId)
	b = append(b, `,"ClusterId":null`...)
	b = str(b, `,"ContentEncoding":`, dl.ContentEncoding)
	b = str(b, `,"ContentType":`, dl.ContentType)
	b = str(b, `,"CorrelationId":`, dl.CorrelationId)
	b = strconv.AppendUint(append(b, `,"DeliveryMode":`...), uint64(dl.DeliveryMode), 10)
	b = str(b, `,"Expiration":`, dl.Expiration)
	b = append(b, `,"Headers":`...)
	if dl.Headers != nil {
		b = append(b, marshalJSON(amqpValue(dl.Headers))...)
	} else {
		b = append(b, "null"...)
	}
	b = str(b, `,"MessageId":`, dl.MessageId)
	b = strconv.AppendBool(append(b, `,"Persistent":`...), dl.DeliveryMode == amqp.Persistent)
	b = strconv.AppendUint(append(b, `,"Priority":`...), uint64(dl.Priority), 10)
	b = str(b, `,"ReplyTo":`, dl.ReplyTo)
	b = append(b, `,"ReplyToAddress":null,"Timestamp":{"UnixTime":`...)
	var unix int64
	if !dl.Timestamp.IsZero() {
		unix = dl.Timestamp.Unix()
	}
	b = append(strconv.AppendInt(b, unix, 10), '}')
	b = str(b, `,"Type":`, dl.Type)
	b = str(b, `,"UserId":`, dl.UserId)
	return rawValue(append(b, '}'))
}

// amqpValue converts an AMQP field value as the .NET client exposes it:
// long strings are byte[] (so base64 in JSON), tables objects, arrays lists.
func amqpValue(v any) any {
	switch v := v.(type) {
	case amqp.Table:
		out := map[string]any{}
		for k, x := range v {
			out[k] = amqpValue(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = amqpValue(x)
		}
		return out
	case string:
		return []byte(v)
	case time.Time:
		return map[string]any{"UnixTime": v.Unix()}
	case amqp.Decimal:
		return map[string]any{"Scale": v.Scale, "Value": v.Value}
	}
	return v
}
