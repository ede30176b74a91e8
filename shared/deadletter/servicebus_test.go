package deadletter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/sbtest"
	"github.com/orderflow/orderflow/shared/deadletter"
	"github.com/orderflow/orderflow/shared/deadletter/deadlettertest"
	"github.com/orderflow/orderflow/shared/topology"
)

type serviceBusBundle struct {
	dlq    *deadletter.ServiceBus
	client *azservicebus.Client
	top    topology.Topology
	ctx    context.Context
}

// setupServiceBus starts the emulator in-process with the order topology's
// topic and two subscriptions.
func setupServiceBus(t *testing.T) serviceBusBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	top := topology.Default()
	subs := make([]servicebus.SubscriptionConfig, len(top.Subscriptions))
	for i, s := range top.Subscriptions {
		subs[i] = servicebus.SubscriptionConfig{Name: s.Name, MaxDeliveryCount: s.MaxDeliveryCount}
	}
	srv := sbtest.New(t, sbtest.Topic(servicebus.TopicConfig{Name: top.Topic}, subs...))
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	// WaitTime also bounds a receiver's first receive, link set-up included:
	// the default 2 s keeps Purge from stopping early on a loaded machine.
	dlq, err := deadletter.NewServiceBus(deadletter.ServiceBusConfig{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	return serviceBusBundle{dlq: dlq, client: client, top: top, ctx: ctx}
}

// backend is the dead-letter suite's view of the bundle: consumer
// failures are simulated with the SDK's DeadLetterMessage.
func (b serviceBusBundle) backend() deadlettertest.Backend {
	sub := b.top.Subscriptions[0].Name
	return deadlettertest.Backend{
		Queue:         b.dlq,
		Consumer:      sub,
		DeadLetter:    b.deadLetter,
		ReceiveLive:   b.receiveLive,
		Reason:        "PoisonMessage",
		Description:   func(id string) string { return "cannot decode " + id },
		DeliveryCount: 1,
	}
}

// deadLetter publishes the events to the topic and dead-letters each one on
// the first subscription, with a reason as a consumer would.
func (b serviceBusBundle) deadLetter(t *testing.T, ids []string, bodies [][]byte) {
	t.Helper()
	sub := b.top.Subscriptions[0].Name
	sender, err := b.client.NewSender(b.top.Topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(b.ctx)
	for i, id := range ids {
		if err := sender.SendMessage(b.ctx, &azservicebus.Message{MessageID: &id, Body: bodies[i]}, nil); err != nil {
			t.Fatal(err)
		}
	}
	r, err := b.client.NewReceiverForSubscription(b.top.Topic, sub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(b.ctx)
	for done := 0; done < len(ids); {
		msgs, err := r.ReceiveMessages(b.ctx, len(ids)-done, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			reason, desc := "PoisonMessage", "cannot decode "+m.MessageID
			if err := r.DeadLetterMessage(b.ctx, m, &azservicebus.DeadLetterOptions{Reason: &reason, ErrorDescription: &desc}); err != nil {
				t.Fatal(err)
			}
			done++
		}
	}
}

// receiveLive completes n messages of the first subscription; a copy that
// still carries DeadLetterReason is marked.
func (b serviceBusBundle) receiveLive(t *testing.T, n int) []deadlettertest.Live {
	t.Helper()
	r, err := b.client.NewReceiverForSubscription(b.top.Topic, b.top.Subscriptions[0].Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(b.ctx)
	var out []deadlettertest.Live
	for len(out) < n {
		msgs, err := r.ReceiveMessages(b.ctx, n-len(out), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			l := deadlettertest.Live{ID: m.MessageID, Body: m.Body}
			if reason, ok := m.ApplicationProperties["DeadLetterReason"]; ok {
				l.Marked = fmt.Sprintf("DeadLetterReason %v", reason)
			}
			out = append(out, l)
			if err := r.CompleteMessage(b.ctx, m, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

func TestServiceBusConformance(t *testing.T) {
	t.Parallel()
	deadlettertest.Run(t, func(t *testing.T) deadlettertest.Backend { return setupServiceBus(t).backend() })
}
