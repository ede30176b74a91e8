package servicebus_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/orderflow/orderflow/emulator/servicebus"
)

// reuseMessage is message i of TestStoredMessagesSurviveBufferReuse: every
// field distinct per message, bodies of sizes from empty to several frames.
func reuseMessage(i int) *azservicebus.Message {
	rnd := rand.New(rand.NewPCG(uint64(i), 7))
	size := []int{0, 1, 100, 1024, 3000, 70000, 150000}[i%7]
	body := make([]byte, size)
	for j := range body {
		body[j] = byte(rnd.UintN(256))
	}
	id := fmt.Sprintf("%08x-%d", rnd.Uint32(), i)
	subject := fmt.Sprintf("subject-%d-%x", i, rnd.Uint64())
	corr := fmt.Sprintf("corr-%d", i*7)
	return &azservicebus.Message{Body: body, MessageID: &id, Subject: &subject, CorrelationID: &corr,
		ApplicationProperties: map[string]any{"i": int64(i), "s": fmt.Sprintf("v%x", rnd.Uint64()), "b": i%2 == 0}}
}

// TestStoredMessagesSurviveBufferReuse sends many distinct messages through
// the SDK, in batches and one by one, to a queue and a topic with two
// subscriptions, and checks every received body, id and property byte for
// byte. The emulator decodes each transfer in a buffer it reuses for the
// next one (the frame reader's, a link's assembly buffer, a link's decoded
// messages): a stored message that still referred to one of them (a body,
// a message-id view, a batch's inner message) would come back with the
// bytes of a later transfer.
func TestStoredMessagesSurviveBufferReuse(t *testing.T) {
	t.Parallel()
	srv, ctx := startServer(t, servicebus.Config{HTTPAddr: "-"})
	stopAtCleanup(t, srv)
	queue, topic := uniqueName(t), uniqueName(t)+"-t"
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: queue}); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateTopic(servicebus.TopicConfig{Name: topic}); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"a", "b"} {
		if err := srv.CreateSubscription(topic, servicebus.SubscriptionConfig{Name: sub}); err != nil {
			t.Fatal(err)
		}
	}
	client := newClient(t, srv)
	const n = 140
	for _, entity := range []string{queue, topic} {
		sender, err := client.NewSender(entity, nil)
		if err != nil {
			t.Fatal(err)
		}
		sendReuseMessages(ctx, t, sender, n)
	}
	for _, r := range []struct{ name string }{{queue}, {topic + "/Subscriptions/a"}, {topic + "/Subscriptions/b"}} {
		var receiver *azservicebus.Receiver
		var err error
		opts := &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete}
		if r.name == queue {
			receiver, err = client.NewReceiverForQueue(queue, opts)
		} else {
			receiver, err = client.NewReceiverForSubscription(topic, r.name[len(topic)+len("/Subscriptions/"):], opts)
		}
		if err != nil {
			t.Fatal(err)
		}
		got := receiveN(t, ctx, receiver, n)
		for k, m := range got {
			i, ok := m.ApplicationProperties["i"].(int64)
			if !ok || i < 0 || i >= n {
				t.Fatalf("%s: message %d has property i %v", r.name, k, m.ApplicationProperties["i"])
			}
			checkReuseMessage(t, r.name, reuseMessage(int(i)), m)
		}
	}
}

// sendReuseMessages sends messages 0..n-1: in batches of up to 20 (split
// where the batch is full), every fifth one on its own.
func sendReuseMessages(ctx context.Context, t *testing.T, sender *azservicebus.Sender, n int) {
	t.Helper()
	var batch *azservicebus.MessageBatch
	flush := func() {
		if batch != nil && batch.NumMessages() > 0 {
			if err := sender.SendMessageBatch(ctx, batch, nil); err != nil {
				t.Fatalf("SendMessageBatch: %v", err)
			}
		}
		batch = nil
	}
	for i := range n {
		m := reuseMessage(i)
		if i%5 == 0 {
			if err := sender.SendMessage(ctx, m, nil); err != nil {
				t.Fatalf("SendMessage %d: %v", i, err)
			}
			continue
		}
		for {
			if batch == nil {
				var err error
				if batch, err = sender.NewMessageBatch(ctx, nil); err != nil {
					t.Fatal(err)
				}
			}
			err := batch.AddMessage(m, nil)
			if err == nil {
				break
			}
			if batch.NumMessages() == 0 {
				t.Fatalf("message %d does not fit an empty batch: %v", i, err)
			}
			flush()
		}
		if batch.NumMessages() == 20 {
			flush()
		}
	}
	flush()
}

func checkReuseMessage(t *testing.T, where string, want *azservicebus.Message, got *azservicebus.ReceivedMessage) {
	t.Helper()
	i := want.ApplicationProperties["i"]
	switch {
	case !bytes.Equal(got.Body, want.Body):
		t.Fatalf("%s: message %v: body of %d bytes differs from the %d sent", where, i, len(got.Body), len(want.Body))
	case got.MessageID != *want.MessageID:
		t.Fatalf("%s: message %v: id %q, want %q", where, i, got.MessageID, *want.MessageID)
	case got.Subject == nil || *got.Subject != *want.Subject:
		t.Fatalf("%s: message %v: subject %v, want %q", where, i, got.Subject, *want.Subject)
	case got.CorrelationID == nil || *got.CorrelationID != *want.CorrelationID:
		t.Fatalf("%s: message %v: correlation id %v, want %q", where, i, got.CorrelationID, *want.CorrelationID)
	case !reflect.DeepEqual(got.ApplicationProperties, want.ApplicationProperties):
		t.Fatalf("%s: message %v: properties %v, want %v", where, i, got.ApplicationProperties, want.ApplicationProperties)
	}
}
