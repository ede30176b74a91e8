package lambda

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// QueueKeySeparator separates the queue from the virtual host in the keys
// of rmqMessagesByQueue ("<queue>::<vhost>").
const QueueKeySeparator = "::"

// SplitQueueKey splits a rmqMessagesByQueue key into queue and virtual
// host. The queue is what precedes the first "::" (our queue names never
// contain it; a virtual host may).
func SplitQueueKey(key string) (queue, vhost string, err error) {
	queue, vhost, ok := strings.Cut(key, QueueKeySeparator)
	if !ok || queue == "" || vhost == "" {
		return "", "", fmt.Errorf("%w: %q, want <queue>%s<vhost>", ErrQueueKey, key, QueueKeySeparator)
	}
	return queue, vhost, nil
}

// RabbitMQ runs consumer function on an Amazon MQ for RabbitMQ batch.
//
// Failure policy: Lambda's event source cannot settle messages one by one;
// when the function fails, the whole batch comes back (redelivered: true).
// So every message of the batch is tried, in order, even after one fails:
// the handler is idempotent by event id, so the ones that succeeded are
// no-ops on the retry, and the error names every failure. The queues are
// quorum queues whose delivery limit (the topology's maxDeliveryCount)
// makes the broker dead-letter a message that keeps failing, so a poison
// message cannot block its queue forever.
func (a *Adapter) RabbitMQ(ctx context.Context, function string, ev events.RabbitMQEvent) error {
	sub, ok := a.top.Subscription(function)
	if !ok {
		return fmt.Errorf("%w: %q consumes no queue", ErrUnknownFunction, function)
	}
	keys := make([]string, 0, len(ev.MessagesByQueue))
	for k := range ev.MessagesByQueue {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []error
	for _, key := range keys {
		queue, _, err := SplitQueueKey(key)
		if err != nil {
			return err
		}
		if queue != sub.Name {
			return fmt.Errorf("%w: %s consumes %q, got %q", ErrWrongQueue, function, sub.Name, key)
		}
		for i, m := range ev.MessagesByQueue[key] {
			if err := a.message(ctx, function, m); err != nil {
				a.log.Error("message failed; the batch will be retried", "function", function, "queue", key, "index", i,
					"messageId", deref(m.BasicProperties.MessageID), "redelivered", m.Redelivered, "err", err)
				errs = append(errs, fmt.Errorf("%s message %d: %w", key, i, err))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of the batch's messages failed: %w", len(errs), errors.Join(errs...))
	}
	return nil
}

// message invokes function with one message as the RabbitMQ trigger of the
// Functions host would: Data.message is the body in base64 (dataType
// binary), Metadata carries the message id and the redelivered flag.
func (a *Adapter) message(ctx context.Context, function string, m events.RabbitMQMessage) error {
	if _, err := base64.StdEncoding.DecodeString(m.Data); err != nil {
		return fmt.Errorf("%w: data is not base64: %w", ErrInvocation, err)
	}
	props := map[string]any{"MessageId": deref(m.BasicProperties.MessageID), "Headers": headers(m.BasicProperties.Headers)}
	_, err := a.invoke(ctx, function, invocation{
		Data:     map[string]any{"message": m.Data},
		Metadata: map[string]any{"BasicProperties": props, "Redelivered": m.Redelivered},
	})
	return err
}

// headers renders the event's message headers as the Functions RabbitMQ
// extension does: the event source gives a byte-string header (a
// traceparent, say) as {"bytes": [...]}, the extension as the base64 of the
// bytes, which is what functions/handler reads (and decodes back to text)
// when it continues the message's trace. Other values are kept as they are.
func headers(h map[string]any) map[string]any {
	if len(h) == 0 {
		return h
	}
	out := make(map[string]any, len(h))
	for k, v := range h {
		if b, ok := byteString(v); ok {
			out[k] = base64.StdEncoding.EncodeToString(b)
			continue
		}
		out[k] = v
	}
	return out
}

// byteString decodes the event source's {"bytes": [n, ...]} (numbers
// 0-255, or -128-127 as Java bytes) form.
func byteString(v any) ([]byte, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, false
	}
	arr, ok := m["bytes"].([]any)
	if !ok {
		return nil, false
	}
	b := make([]byte, len(arr))
	for i, e := range arr {
		n, ok := e.(float64)
		if !ok || n != float64(int(n)) || n < -128 || n > 255 {
			return nil, false
		}
		b[i] = byte(int(n))
	}
	return b, true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
