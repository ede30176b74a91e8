package servicebus_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"
	"github.com/orderflow/orderflow/emulator/servicebus"
)

// fillUntilQuota sends 200 KB messages to entity until one is refused and checks the refusal is
// amqp:resource-limit-exceeded, Service Bus's condition for a full entity, after about limitMB
// megabytes. The sender's client retries after an hour (quotaClient): a refusal the SDK took for
// a transient one would not come back before the test's context ends.
func fillUntilQuota(t *testing.T, ctx context.Context, s *azservicebus.Sender, entity string, limitMB int) {
	t.Helper()
	body := bytes.Repeat([]byte{'q'}, 200<<10)
	for i := 0; i <= limitMB*6; i++ {
		err := s.SendMessage(ctx, &azservicebus.Message{Body: body}, nil)
		if err == nil {
			continue
		}
		// The SDK reports the condition in its error's text only.
		if !strings.Contains(err.Error(), "amqp:resource-limit-exceeded") || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: send %d refused with %v, want amqp:resource-limit-exceeded at once", entity, i, err)
		}
		if i < limitMB*5-1 {
			t.Fatalf("%s: refused after %d messages of 200 KB, want about %d MB", entity, i, limitMB)
		}
		return
	}
	t.Fatalf("%s: %d MB sent without a quota error", entity, limitMB+1)
}

// TestAdminMaxSizeIsTheBrokerQuota: the administration API reports the broker's effective
// MaxSizeInMegabytes (here 1 MB limits a Config.json and the Go API gave, which the REST API
// could not) and an update through the API changes the live quota the data plane enforces.
func TestAdminMaxSizeIsTheBrokerQuota(t *testing.T) {
	t.Parallel()
	const topic = "small-topic"
	cfg := writeConfig(t, `{"UserConfig": {"Namespaces": [{"Name": "sbemulatorns", "Queues": [],
	  "Topics": [{"Name": "`+topic+`", "Properties": {"MaxSizeInMegabytes": 1}, "Subscriptions": [{"Name": "s", "Properties": {}}]}]}],
	  "Logging": {"Type": "Console"}}}`)
	srv, ac, ctx := startAdmin(t, servicebus.Config{ConfigPath: cfg})
	queue := uniqueName(t)
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: queue, MaxSizeInMegabytes: 1}); err != nil {
		t.Fatal(err)
	}
	// Retries that would outlast the test: the Go SDK must take a full entity's refusal as final.
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), &azservicebus.ClientOptions{
		RetryOptions: azservicebus.RetryOptions{MaxRetries: 3, RetryDelay: time.Hour, MaxRetryDelay: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	q, err := ac.GetQueue(ctx, queue, nil)
	if err != nil || q == nil {
		t.Fatalf("GetQueue = %v, %v", q, err)
	}
	tp, err := ac.GetTopic(ctx, topic, nil)
	if err != nil || tp == nil {
		t.Fatalf("GetTopic = %v, %v", tp, err)
	}
	if *q.MaxSizeInMegabytes != 1 || *tp.MaxSizeInMegabytes != 1 {
		t.Fatalf("MaxSizeInMegabytes reported %d / %d, want the broker's 1", *q.MaxSizeInMegabytes, *tp.MaxSizeInMegabytes)
	}
	senders := map[string]*azservicebus.Sender{}
	for _, name := range []string{queue, topic} {
		s, err := client.NewSender(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		senders[name] = s
		fillUntilQuota(t, ctx, s, name, 1)
	}

	// An update that keeps the value round-trips (the 1024 MB steps bind only a change), then
	// raising the limit through the API lets the full entities take messages again.
	if _, err := ac.UpdateQueue(ctx, queue, q.QueueProperties, nil); err != nil {
		t.Fatalf("UpdateQueue keeping 1 MB: %v", err)
	}
	qp, tpp := q.QueueProperties, tp.TopicProperties
	qp.MaxSizeInMegabytes, tpp.MaxSizeInMegabytes = to.Ptr[int32](2048), to.Ptr[int32](2048)
	if _, err := ac.UpdateQueue(ctx, queue, qp, nil); err != nil {
		t.Fatalf("UpdateQueue: %v", err)
	}
	if _, err := ac.UpdateTopic(ctx, topic, tpp, nil); err != nil {
		t.Fatalf("UpdateTopic: %v", err)
	}
	for _, name := range []string{queue, topic} {
		if err := senders[name].SendMessage(ctx, &azservicebus.Message{Body: bytes.Repeat([]byte{'f'}, 200<<10)}, nil); err != nil {
			t.Fatalf("%s after raising the limit: %v", name, err)
		}
	}
	if q, err = ac.GetQueue(ctx, queue, nil); err != nil || *q.MaxSizeInMegabytes != 2048 {
		t.Fatalf("GetQueue after update: %v, MaxSizeInMegabytes %d, want 2048", err, *q.MaxSizeInMegabytes)
	}
	if tp, err = ac.GetTopic(ctx, topic, nil); err != nil || *tp.MaxSizeInMegabytes != 2048 {
		t.Fatalf("GetTopic after update: %v, MaxSizeInMegabytes %d, want 2048", err, *tp.MaxSizeInMegabytes)
	}

	// A queue created through the API gets the limit it asked for, and a value the API refuses
	// stays refused.
	created := uniqueName(t) + "-c"
	if _, err := ac.CreateQueue(ctx, created, &admin.CreateQueueOptions{Properties: &admin.QueueProperties{
		MaxSizeInMegabytes: to.Ptr[int32](3072)}}); err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	if got, err := ac.GetQueue(ctx, created, nil); err != nil || *got.MaxSizeInMegabytes != 3072 {
		t.Fatalf("GetQueue: %v, MaxSizeInMegabytes %d, want 3072", err, *got.MaxSizeInMegabytes)
	}
	qp.MaxSizeInMegabytes = to.Ptr[int32](5)
	if _, err := ac.UpdateQueue(ctx, queue, qp, nil); statusOf(err) != 400 {
		t.Fatalf("UpdateQueue to 5 MB: err = %v, want 400", err)
	}
}
