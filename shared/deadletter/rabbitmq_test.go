package deadletter_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/shared/deadletter"
	"github.com/orderflow/orderflow/shared/topology"
)

const rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

type rabbitBundle struct {
	dlq  *deadletter.RabbitMQ
	ch   *amqp.Channel
	sub  topology.Subscription
	ctx  context.Context
	body func(i int) []byte
}

// setupRabbitMQ declares a private copy of the topology (unique names) with one
// consumer queue that dead-letters into its .dlq queue, as the app declares it.
func setupRabbitMQ(t *testing.T) rabbitBundle {
	t.Helper()
	id := uuid.NewString()[:8]
	top := topology.Topology{
		Topic: "dlt-" + id, RoutingKey: "order.created", DeadLetterExchange: "dlt-" + id + ".dlx",
		Subscriptions: []topology.Subscription{{Name: "dlt-" + id + "-consumer", Function: "F", MaxDeliveryCount: 3}},
	}
	sub := top.Subscriptions[0]
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		t.Fatalf("RabbitMQ must run on 127.0.0.1:5672: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ch.ExchangeDeclare(top.DeadLetterExchange, "direct", false, true, false, false, nil))
	_, err = ch.QueueDeclare(sub.Name, false, true, false, false, amqp.Table{
		"x-dead-letter-exchange":    top.DeadLetterExchange,
		"x-dead-letter-routing-key": sub.Name,
	})
	must(err)
	_, err = ch.QueueDeclare(sub.DeadLetterQueue(), false, true, false, false, nil)
	must(err)
	must(ch.QueueBind(sub.DeadLetterQueue(), sub.Name, top.DeadLetterExchange, false, nil))

	dlq, err := deadletter.NewRabbitMQ(deadletter.RabbitMQConfig{URL: rabbitURL, Topology: &top})
	must(err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(func() {
		cancel()
		_, _ = ch.QueueDelete(sub.Name, false, false, false)
		_, _ = ch.QueueDelete(sub.DeadLetterQueue(), false, false, false)
		_ = ch.ExchangeDelete(top.DeadLetterExchange, false, false)
		_ = dlq.Close(context.Background())
		_ = conn.Close()
	})
	return rabbitBundle{dlq: dlq, ch: ch, sub: sub, ctx: ctx, body: func(i int) []byte { return []byte{'m', byte('0' + i)} }}
}

// deadLetter publishes n messages to the consumer queue and rejects each one,
// so RabbitMQ moves them to the dead-letter queue.
func (b rabbitBundle) deadLetter(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		err := b.ch.PublishWithContext(b.ctx, "", b.sub.Name, true, false, amqp.Publishing{
			MessageId: "evt-" + string(rune('0'+i)), Body: b.body(i),
			Headers: amqp.Table{"x-ms-rabbitmq-requeuecount": int32(4)},
		})
		if err != nil {
			t.Fatal(err)
		}
		d := b.get(t, b.sub.Name)
		if err := d.Reject(false); err != nil {
			t.Fatal(err)
		}
	}
	b.waitCount(t, b.sub.DeadLetterQueue(), n)
}

func (b rabbitBundle) get(t *testing.T, queue string) amqp.Delivery {
	t.Helper()
	for b.ctx.Err() == nil {
		d, ok, err := b.ch.Get(queue, false)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return d
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no message on %s", queue)
	return amqp.Delivery{}
}

func (b rabbitBundle) waitCount(t *testing.T, queue string, want int) {
	t.Helper()
	for b.ctx.Err() == nil {
		q, err := b.ch.QueueDeclarePassive(queue, false, true, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("queue %s never held %d messages", queue, want)
}

func TestRabbitMQListKeepsMessages(t *testing.T) {
	t.Parallel()
	b := setupRabbitMQ(t)
	b.deadLetter(t, 2)

	got, err := b.dlq.List(b.ctx, b.sub.Name, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("List returned %d messages, want 2", len(got))
	}
	for i, m := range got {
		if m.ID != "evt-"+string(rune('0'+i)) || string(m.Body) != string(b.body(i)) {
			t.Errorf("message %d = %+v", i, m)
		}
		if m.Reason != "rejected" || m.DeliveryCount != 5 {
			t.Errorf("message %d: reason %q, delivery count %d; want rejected, 5", i, m.Reason, m.DeliveryCount)
		}
	}
	b.waitCount(t, b.sub.DeadLetterQueue(), 2)
}

func TestRabbitMQReplayMovesToLiveQueue(t *testing.T) {
	t.Parallel()
	b := setupRabbitMQ(t)
	b.deadLetter(t, 3)

	n, err := b.dlq.Replay(b.ctx, b.sub.Name, 2)
	if err != nil || n != 2 {
		t.Fatalf("Replay = %d, %v; want 2", n, err)
	}
	b.waitCount(t, b.sub.DeadLetterQueue(), 1)
	b.waitCount(t, b.sub.Name, 2)
	d := b.get(t, b.sub.Name)
	if d.MessageId != "evt-0" || string(d.Body) != "m0" {
		t.Errorf("replayed %q %q, want evt-0 m0", d.MessageId, d.Body)
	}
	if _, ok := d.Headers["x-ms-rabbitmq-requeuecount"]; ok {
		t.Errorf("replayed copy kept the retry counter: %v", d.Headers)
	}
	if d.DeliveryMode != amqp.Persistent {
		t.Errorf("replayed copy is not persistent")
	}
}

func TestRabbitMQPurge(t *testing.T) {
	t.Parallel()
	b := setupRabbitMQ(t)
	b.deadLetter(t, 2)

	n, err := b.dlq.Purge(b.ctx, b.sub.Name)
	if err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2", n, err)
	}
	b.waitCount(t, b.sub.DeadLetterQueue(), 0)
}

func TestRabbitMQUnknownConsumer(t *testing.T) {
	t.Parallel()
	b := setupRabbitMQ(t)
	if _, err := b.dlq.List(b.ctx, "nope", 1); err == nil {
		t.Fatal("List of an unknown consumer succeeded")
	}
}
