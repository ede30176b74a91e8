package deadletter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/shared/deadletter"
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
	srv, err := servicebus.Start(ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	top := topology.Default()
	if err := srv.CreateTopic(servicebus.TopicConfig{Name: top.Topic}); err != nil {
		t.Fatal(err)
	}
	for _, s := range top.Subscriptions {
		if err := srv.CreateSubscription(top.Topic, servicebus.SubscriptionConfig{Name: s.Name, MaxDeliveryCount: s.MaxDeliveryCount}); err != nil {
			t.Fatal(err)
		}
	}
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	dlq, err := deadletter.NewServiceBus(deadletter.ServiceBusConfig{Client: client, WaitTime: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return serviceBusBundle{dlq: dlq, client: client, top: top, ctx: ctx}
}

// deadLetter publishes n events to the topic and dead-letters each one on
// the first subscription, with a reason as a consumer would.
func (b serviceBusBundle) deadLetter(t *testing.T, n int) string {
	t.Helper()
	sub := b.top.Subscriptions[0].Name
	sender, err := b.client.NewSender(b.top.Topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(b.ctx)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("evt-%d", i)
		if err := sender.SendMessage(b.ctx, &azservicebus.Message{MessageID: &id, Body: []byte(id)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	r, err := b.client.NewReceiverForSubscription(b.top.Topic, sub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(b.ctx)
	for done := 0; done < n; {
		msgs, err := r.ReceiveMessages(b.ctx, n-done, nil)
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
	return sub
}

func TestServiceBusListReplayPurge(t *testing.T) {
	t.Parallel()
	b := setupServiceBus(t)
	sub := b.deadLetter(t, 3)

	got, err := b.dlq.List(b.ctx, sub, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("List returned %d messages, want 3", len(got))
	}
	for i, m := range got {
		if m.ID != fmt.Sprintf("evt-%d", i) || m.Reason != "PoisonMessage" || m.Description != "cannot decode "+m.ID || m.DeliveryCount != 1 {
			t.Errorf("message %d = %+v", i, m)
		}
	}
	// Listing again sees the same messages: peek removes nothing.
	if again, err := b.dlq.List(b.ctx, sub, 10); err != nil || len(again) != 3 {
		t.Fatalf("second List = %d, %v", len(again), err)
	}

	n, err := b.dlq.Replay(b.ctx, sub, 2)
	if err != nil || n != 2 {
		t.Fatalf("Replay = %d, %v; want 2", n, err)
	}
	r, err := b.client.NewReceiverForSubscription(b.top.Topic, sub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(b.ctx)
	seen := map[string]bool{}
	for len(seen) < 2 {
		msgs, err := r.ReceiveMessages(b.ctx, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			seen[m.MessageID] = true
			if _, ok := m.ApplicationProperties["DeadLetterReason"]; ok {
				t.Errorf("replayed %s still carries DeadLetterReason", m.MessageID)
			}
			if err := r.CompleteMessage(b.ctx, m, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !seen["evt-0"] || !seen["evt-1"] {
		t.Errorf("replayed %v, want evt-0 and evt-1", seen)
	}

	n, err = b.dlq.Purge(b.ctx, sub)
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1", n, err)
	}
	if left, err := b.dlq.List(b.ctx, sub, 10); err != nil || len(left) != 0 {
		t.Fatalf("after Purge List = %v, %v", left, err)
	}
}

func TestServiceBusUnknownConsumer(t *testing.T) {
	t.Parallel()
	b := setupServiceBus(t)
	if _, err := b.dlq.List(b.ctx, "nope", 1); err == nil {
		t.Fatal("List of an unknown consumer succeeded")
	}
}
