package lambda_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/functions/lambda"
	"github.com/orderflow/orderflow/shared/order"
	"github.com/orderflow/orderflow/shared/topology"
)

// pull takes up to n ready messages of queue and shapes them as the
// Amazon MQ event source does: base64 data under "<queue>::/", the
// broker's redelivered flag, basic properties.
func (e *env) pull(t *testing.T, queue string, n int) (events.RabbitMQEvent, []amqp.Delivery) {
	t.Helper()
	ev := events.RabbitMQEvent{EventSource: "aws:rmq", EventSourceARN: "arn:aws:mq:eu-west-1:123456789012:broker:orders:b-1",
		MessagesByQueue: map[string][]events.RabbitMQMessage{}}
	var got []amqp.Delivery
	for len(got) < n {
		d, ok, err := e.mq.Get(queue, false)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, d)
		id := d.MessageId
		ev.MessagesByQueue[queue+"::/"] = append(ev.MessagesByQueue[queue+"::/"], events.RabbitMQMessage{
			BasicProperties: events.RabbitMQBasicProperties{ContentType: d.ContentType, Headers: d.Headers,
				DeliveryMode: d.DeliveryMode, MessageID: &id, BodySize: uint64(len(d.Body))},
			Data: base64.StdEncoding.EncodeToString(d.Body), Redelivered: d.Redelivered,
		})
	}
	return ev, got
}

// settle acknowledges a batch whole on success and returns it whole to the
// queue on failure: what the event source can do, since Lambda answers
// for the batch.
func settle(t *testing.T, batch []amqp.Delivery, err error) {
	t.Helper()
	if len(batch) == 0 {
		return
	}
	last := batch[len(batch)-1]
	if err == nil {
		if aerr := last.Ack(true); aerr != nil {
			t.Fatal(aerr)
		}
		return
	}
	if nerr := last.Nack(true, true); nerr != nil {
		t.Fatal(nerr)
	}
}

func (e *env) sub(t *testing.T, function string) topology.Subscription {
	t.Helper()
	s, ok := e.top.Subscription(function)
	if !ok {
		t.Fatalf("no subscription for %s", function)
	}
	return s
}

func (e *env) placeOrder(t *testing.T) string {
	t.Helper()
	res, err := e.adapter.HTTP(e.ctx, httpEvent(http.MethodPost, "/api/orders", "", map[string]string{"content-type": "application/json"}, orderJSON))
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("placing order: %d %v %s", res.StatusCode, err, res.Body)
	}
	return strings.TrimPrefix(res.Headers["Location"], "/api/orders/")
}

func (e *env) orderStatus(t *testing.T, id string) string {
	t.Helper()
	var s string
	if err := e.store.Pool().QueryRow(e.ctx, `SELECT status FROM orders WHERE id = $1`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.store.Pool().QueryRow(e.ctx, query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitReady waits until queue holds n ready messages (publishes are
// confirmed, but the quorum queue may count them a moment later).
func (e *env) waitReady(t *testing.T, queue string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q, err := e.mq.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s holds %d messages, want %d", queue, q.Messages, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsumersRunOnRabbitMQBatchesOnce places orders over HTTP API v2,
// feeds the published events to ProcessOrder and SendEmail as Amazon MQ
// batches, then feeds the same batch again (Lambda's whole-batch retry):
// every order is decided and e-mailed exactly once.
func TestConsumersRunOnRabbitMQBatchesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := []string{e.placeOrder(t), e.placeOrder(t), e.placeOrder(t)}
	for _, fn := range []string{lambda.FunctionProcessOrder, lambda.FunctionSendEmail} {
		q := e.sub(t, fn).Name
		e.waitReady(t, q, len(ids))
		h, err := e.adapter.Handler(fn)
		if err != nil {
			t.Fatal(err)
		}
		run := h.(func(context.Context, events.RabbitMQEvent) error)
		ev, batch := e.pull(t, q, 10)
		if len(batch) != len(ids) {
			t.Fatalf("%s: pulled %d messages, want %d", fn, len(batch), len(ids))
		}
		if err := run(e.ctx, ev); err != nil {
			t.Fatalf("%s batch: %v", fn, err)
		}
		// The same batch again, flagged redelivered: nothing changes.
		for k, ms := range ev.MessagesByQueue {
			for i := range ms {
				ev.MessagesByQueue[k][i].Redelivered = true
			}
		}
		if err := run(e.ctx, ev); err != nil {
			t.Fatalf("%s redelivered batch: %v", fn, err)
		}
		settle(t, batch, nil)
	}
	for _, id := range ids {
		if s := e.orderStatus(t, id); s != "confirmed" {
			t.Errorf("order %s is %s, want confirmed", id, s)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM sent_emails`); n != len(ids) {
		t.Errorf("%d e-mails recorded, want %d", n, len(ids))
	}
	if n := e.count(t, `SELECT count(*) FROM inbox`); n != len(ids) {
		t.Errorf("%d inbox rows, want %d (one per event)", n, len(ids))
	}
}

// TestPoisonMessageIsDeadLetteredAfterTheDeliveryLimit shows the failure
// policy: a batch with a poison message fails whole and comes back
// (redelivered); the healthy message in it is processed on the first
// attempt and is a no-op afterwards; the quorum queue's delivery limit
// dead-letters the batch after maxDeliveryCount attempts, so the queue
// moves on, and the next batch is not blocked.
func TestPoisonMessageIsDeadLetteredAfterTheDeliveryLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sub := e.sub(t, lambda.FunctionProcessOrder)
	good := e.placeOrder(t)
	publish := func(id string, body []byte) {
		t.Helper()
		err := e.mq.PublishWithContext(e.ctx, "", sub.Name, true, false, amqp.Publishing{MessageId: id, ContentType: "application/json",
			DeliveryMode: amqp.Persistent, Body: body})
		if err != nil {
			t.Fatal(err)
		}
	}
	poison := "poison-" + uuid.NewString()[:8]
	publish(poison, []byte("{not json"))
	e.waitReady(t, sub.Name, 2)

	run := func(ev events.RabbitMQEvent) error { return e.adapter.RabbitMQ(e.ctx, lambda.FunctionProcessOrder, ev) }
	for attempt := 1; attempt <= sub.MaxDeliveryCount; attempt++ {
		ev, batch := e.pull(t, sub.Name, 10)
		if len(batch) != 2 {
			t.Fatalf("attempt %d: batch of %d, want the same 2 messages", attempt, len(batch))
		}
		for _, m := range ev.MessagesByQueue[sub.Name+"::/"] {
			if m.Redelivered != (attempt > 1) {
				t.Fatalf("attempt %d: redelivered %v", attempt, m.Redelivered)
			}
		}
		err := run(ev)
		if !errors.Is(err, lambda.ErrInvocation) || !strings.Contains(err.Error(), "1 of the batch's messages failed") {
			t.Fatalf("attempt %d: %v, want the poison message to fail the batch", attempt, err)
		}
		if s := e.orderStatus(t, good); s != "confirmed" {
			t.Fatalf("attempt %d: the healthy order is %s", attempt, s)
		}
		settle(t, batch, err)
	}
	e.waitReady(t, sub.Name, 0)
	e.waitReady(t, sub.DeadLetterQueue(), 2)
	var dead []string
	for {
		d, ok, err := e.mq.Get(sub.DeadLetterQueue(), true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		dead = append(dead, d.MessageId)
	}
	if len(dead) != 2 || !strings.Contains(strings.Join(dead, " "), poison) {
		t.Fatalf("dead letters %v, want the poison message %s (and its batch mate)", dead, poison)
	}
	if n := e.count(t, `SELECT count(*) FROM inbox`); n != 1 {
		t.Fatalf("%d inbox rows, want the healthy event once", n)
	}
	// The queue is not blocked: the next order goes through.
	next := e.placeOrder(t)
	e.waitReady(t, sub.Name, 1)
	ev, batch := e.pull(t, sub.Name, 10)
	err := run(ev)
	settle(t, batch, err)
	if err != nil || e.orderStatus(t, next) != "confirmed" {
		t.Fatalf("next batch: %v, order %s", err, e.orderStatus(t, next))
	}
}

func TestRabbitMQEventErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	msg := []events.RabbitMQMessage{{Data: base64.StdEncoding.EncodeToString([]byte("{}"))}}
	q := e.sub(t, lambda.FunctionSendEmail).Name
	for name, c := range map[string]struct {
		fn  string
		ev  events.RabbitMQEvent
		err error
	}{
		"bad key":         {lambda.FunctionSendEmail, events.RabbitMQEvent{MessagesByQueue: map[string][]events.RabbitMQMessage{q: msg}}, lambda.ErrQueueKey},
		"other queue":     {lambda.FunctionProcessOrder, events.RabbitMQEvent{MessagesByQueue: map[string][]events.RabbitMQMessage{q + "::/": msg}}, lambda.ErrWrongQueue},
		"not a consumer":  {lambda.FunctionAPI, events.RabbitMQEvent{}, lambda.ErrUnknownFunction},
		"data not base64": {lambda.FunctionSendEmail, events.RabbitMQEvent{MessagesByQueue: map[string][]events.RabbitMQMessage{q + "::/": {{Data: "%%"}}}}, lambda.ErrInvocation},
	} {
		if err := e.adapter.RabbitMQ(e.ctx, c.fn, c.ev); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", name, err, c.err)
		}
	}
	if err := e.adapter.RabbitMQ(e.ctx, lambda.FunctionSendEmail, events.RabbitMQEvent{}); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

// TestScheduledRelayPublishesThePendingOutbox: an event the fast path did
// not publish is published by OutboxRelay on a scheduled event.
func TestScheduledRelayPublishesThePendingOutbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Written through the store only, as if the process died before publishing.
	req, err := order.DecodeCreate(strings.NewReader(orderJSON))
	if err != nil {
		t.Fatal(err)
	}
	placed, err := e.store.Orders.Create(e.ctx, req, "", e.top.RoutingKey)
	if err != nil {
		t.Fatal(err)
	}
	// The relay leaves a row nobody tried to publish to its request for a
	// grace period (twice the publish timeout); date this one back beyond it.
	if _, err := e.store.Pool().Exec(e.ctx, `UPDATE outbox SET created_at = now() - interval '1 minute' WHERE id = $1`, placed.OutboxID); err != nil {
		t.Fatal(err)
	}
	before, _ := e.store.Outbox.Pending(e.ctx)
	if before != 1 {
		t.Fatalf("pending before: %d", before)
	}
	h, err := e.adapter.Handler(lambda.FunctionOutboxRelay)
	if err != nil {
		t.Fatal(err)
	}
	ev := events.EventBridgeEvent{Version: "0", ID: uuid.NewString(), DetailType: "Scheduled Event", Source: "aws.scheduler",
		AccountID: "123456789012", Time: time.Now().UTC(), Region: "eu-west-1", Detail: []byte("{}")}
	if err := h.(func(context.Context, events.EventBridgeEvent) error)(e.ctx, ev); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.store.Outbox.Pending(e.ctx); n != 0 {
		t.Fatalf("pending after the relay: %d", n)
	}
	for _, s := range e.top.Subscriptions {
		e.waitReady(t, s.Name, 1)
	}
}
