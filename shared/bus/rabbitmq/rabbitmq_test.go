package rabbitmq_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/internal/testkit"
	"github.com/orderflow/orderflow/shared/bus"
	"github.com/orderflow/orderflow/shared/bus/bustest"
	"github.com/orderflow/orderflow/shared/bus/rabbitmq"
	"github.com/orderflow/orderflow/shared/topology"
)

func url() string {
	if u := os.Getenv("TEST_RABBITMQ_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// uniqueTopology returns the default layout with test-unique names.
func uniqueTopology() topology.Topology {
	top := topology.Default()
	id := strings.ToLower(rand.Text()[:10])
	top.Topic = "test." + id + "." + top.Topic
	top.DeadLetterExchange = "test." + id + "." + top.DeadLetterExchange
	subs := append([]topology.Subscription(nil), top.Subscriptions...)
	for i := range subs {
		subs[i].Name = "test." + id + "." + subs[i].Name
	}
	top.Subscriptions = subs
	return top
}

func setup(t *testing.T) bustest.Backend {
	t.Helper()
	top := uniqueTopology()
	p := rabbitmq.New(rabbitmq.Config{URL: url(), Topology: &top})
	conn, err := amqp.Dial(url())
	if err != nil {
		t.Fatalf("dialing rabbitmq: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
		for _, s := range top.Subscriptions {
			_, _ = ch.QueueDelete(s.Name, false, false, false)
			_, _ = ch.QueueDelete(s.DeadLetterQueue(), false, false, false)
		}
		_ = ch.ExchangeDelete(top.Topic, false, false)
		_ = ch.ExchangeDelete(top.DeadLetterExchange, false, false)
		_ = conn.Close()
	})
	return bustest.Backend{
		Publisher: p,
		Topology:  top,
		Receive: func(ctx context.Context, sub string) (bustest.Received, error) {
			for {
				d, ok, err := ch.Get(sub, true)
				if err != nil {
					return bustest.Received{}, err
				}
				if ok {
					return bustest.Received{ID: d.MessageId, Type: d.Type, Subject: d.RoutingKey, ContentType: d.ContentType, Body: d.Body}, nil
				}
				select {
				case <-ctx.Done():
					return bustest.Received{}, ctx.Err()
				case <-time.After(10 * time.Millisecond):
				}
			}
		},
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	bustest.Run(t, setup)
}

func TestPersistentAndDeadLetterTopology(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Publisher.Publish(ctx, bus.Message{ID: "m1", Subject: "order.created", ContentType: "application/json", Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	conn, err := amqp.Dial(url())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	sub := b.Topology.Subscriptions[0]
	d, ok, err := ch.Get(sub.Name, false)
	if err != nil || !ok {
		t.Fatalf("get: %v %v", ok, err)
	}
	if d.DeliveryMode != amqp.Persistent {
		t.Errorf("delivery mode %d, want persistent", d.DeliveryMode)
	}
	// A rejected message must land in this queue's own dead-letter queue only.
	if err := d.Reject(false); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() error {
		d, ok, err := ch.Get(sub.DeadLetterQueue(), true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return errors.New("rejected message never reached the dead-letter queue")
		}
		if d.MessageId != "m1" {
			t.Fatalf("dead letter %q", d.MessageId)
		}
		return nil
	})
	other := b.Topology.Subscriptions[1].DeadLetterQueue()
	if q, err := ch.QueueDeclarePassive(other, true, false, false, false, nil); err != nil || q.Messages != 0 {
		t.Fatalf("other DLQ %s: %+v %v", other, q, err)
	}
}

func TestUnreachableBroker(t *testing.T) {
	t.Parallel()
	p := rabbitmq.New(rabbitmq.Config{URL: "amqp://guest:guest@127.0.0.1:1/", DialTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.Publish(ctx, bus.Message{ID: "x", Body: []byte("{}")})
	var be *bus.BrokerError
	if !errors.As(err, &be) || be.Op != "dial" {
		t.Fatalf("want dial BrokerError, got %v", err)
	}
	if err := p.Check(ctx); err == nil {
		t.Fatal("check passed against a closed port")
	}
}
