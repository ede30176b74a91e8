package deadletter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/internal/testkit"
	"github.com/orderflow/orderflow/shared/deadletter"
	"github.com/orderflow/orderflow/shared/deadletter/deadlettertest"
	"github.com/orderflow/orderflow/shared/topology"
)

const rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

type rabbitBundle struct {
	dlq *deadletter.RabbitMQ
	ch  *amqp.Channel
	sub topology.Subscription
	ctx context.Context
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
	return rabbitBundle{dlq: dlq, ch: ch, sub: sub, ctx: ctx}
}

// deadLetter publishes the messages to the consumer queue with the retry
// counter of a last attempt and rejects each one, so RabbitMQ moves them to
// the dead-letter queue.
func (b rabbitBundle) deadLetter(t *testing.T, ids []string, bodies [][]byte) {
	t.Helper()
	for i, id := range ids {
		err := b.ch.PublishWithContext(b.ctx, "", b.sub.Name, true, false, amqp.Publishing{
			MessageId: id, Body: bodies[i],
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
	b.waitCount(t, b.sub.DeadLetterQueue(), len(ids))
}

func (b rabbitBundle) get(t *testing.T, queue string) amqp.Delivery {
	t.Helper()
	var d amqp.Delivery
	testkit.Eventually(t, 20*time.Second, func() error {
		var ok bool
		var err error
		if d, ok, err = b.ch.Get(queue, false); err != nil {
			t.Fatal(err)
		}
		if !ok {
			return fmt.Errorf("no message on %s", queue)
		}
		return nil
	})
	return d
}

func (b rabbitBundle) waitCount(t *testing.T, queue string, want int) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, func() error {
		q, err := b.ch.QueueDeclarePassive(queue, false, true, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages != want {
			return fmt.Errorf("queue %s holds %d messages, want %d", queue, q.Messages, want)
		}
		return nil
	})
}

// receiveLive acks n messages of the consumer queue; a copy that kept the
// retry counter or is not persistent is marked.
func (b rabbitBundle) receiveLive(t *testing.T, n int) []deadlettertest.Live {
	t.Helper()
	b.waitCount(t, b.sub.Name, n)
	var out []deadlettertest.Live
	for range n {
		d := b.get(t, b.sub.Name)
		l := deadlettertest.Live{ID: d.MessageId, Body: d.Body}
		if c, ok := d.Headers["x-ms-rabbitmq-requeuecount"]; ok {
			l.Marked = fmt.Sprintf("retry counter %v", c)
		} else if d.DeliveryMode != amqp.Persistent {
			l.Marked = "not persistent"
		}
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

func TestRabbitMQConformance(t *testing.T) {
	t.Parallel()
	deadlettertest.Run(t, func(t *testing.T) deadlettertest.Backend {
		b := setupRabbitMQ(t)
		return deadlettertest.Backend{
			Queue:         b.dlq,
			Consumer:      b.sub.Name,
			DeadLetter:    b.deadLetter,
			ReceiveLive:   b.receiveLive,
			Reason:        "rejected",
			DeliveryCount: 5,
		}
	})
}
