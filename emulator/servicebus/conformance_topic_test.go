package servicebus_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/orderflow/orderflow/emulator/servicebus"
)

type topicBundle struct {
	client *azservicebus.Client
	ctx    context.Context
}

// setup starts an emulator with configPath's entities ("" for none), running extra on it.
func setupTopic(t *testing.T, configPath string, extra func(*servicebus.Server)) topicBundle {
	t.Helper()
	srv, ctx := startServer(t, servicebus.Config{HTTPAddr: "-", ConfigPath: configPath})
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	if extra != nil {
		extra(srv)
	}
	return topicBundle{client: newClient(t, srv), ctx: ctx}
}

func (b topicBundle) drain(t *testing.T, topic, sub string) []string {
	t.Helper()
	r, err := b.client.NewReceiverForSubscription(topic, sub, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	peeked, err := r.PeekMessages(b.ctx, 100, nil)
	if err != nil {
		t.Fatalf("PeekMessages %s: %v", sub, err)
	}
	var bodies []string
	for _, m := range peeked {
		bodies = append(bodies, string(m.Body))
	}
	return bodies
}

func TestTopicFanOutWithCorrelationFilter(t *testing.T) {
	t.Parallel()
	topic := uniqueName(t)
	b := setupTopic(t, "", func(srv *servicebus.Server) {
		if err := srv.CreateTopic(servicebus.TopicConfig{Name: topic}); err != nil {
			t.Fatal(err)
		}
		if err := srv.CreateSubscription(topic, servicebus.SubscriptionConfig{Name: "all"}); err != nil {
			t.Fatal(err)
		}
		if err := srv.CreateSubscription(topic, servicebus.SubscriptionConfig{Name: "eu", Rules: []servicebus.Rule{{
			Name: "eu-only", Filter: &servicebus.CorrelationFilter{Subject: "order", Properties: map[string]any{"region": "eu"}},
		}}}); err != nil {
			t.Fatal(err)
		}
	})
	sender, err := b.client.NewSender(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	subject := "order"
	for _, region := range []string{"eu", "us"} {
		if err := sender.SendMessage(b.ctx, &azservicebus.Message{Body: []byte(region), Subject: &subject,
			ApplicationProperties: map[string]any{"region": region}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.drain(t, topic, "all"); strings.Join(got, ",") != "eu,us" {
		t.Fatalf("match-all subscription got %v", got)
	}
	if got := b.drain(t, topic, "eu"); strings.Join(got, ",") != "eu" {
		t.Fatalf("filtered subscription got %v", got)
	}
	r, err := b.client.NewReceiverForSubscription(topic, "eu", nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := r.ReceiveMessages(b.ctx, 1, nil)
	if err != nil || len(msgs) != 1 || string(msgs[0].Body) != "eu" {
		t.Fatalf("receive from subscription: %v %v", msgs, err)
	}
	if err := r.CompleteMessage(b.ctx, msgs[0], nil); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFileEntitiesWork(t *testing.T) {
	t.Parallel()
	doc := `{"UserConfig": {"Namespaces": [{"Name": "sbemulatorns",
	  "Queues": [{"Name": "queue.1", "Properties": {"MaxDeliveryCount": 3, "LockDuration": "PT1M"}}],
	  "Topics": [{"Name": "topic.1", "Properties": {}, "Subscriptions": [
	     {"Name": "subscription.1", "Properties": {}, "Rules": [{"Name": "ct", "Properties": {"FilterType": "Correlation",
	        "CorrelationFilter": {"ContentType": "application/json"}}}]},
	     {"Name": "subscription.2", "Properties": {}}]}]}],
	  "Logging": {"Type": "File"}}}`
	path := filepath.Join(t.TempDir(), "Config.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	b := setupTopic(t, path, nil)
	sender, err := b.client.NewSender("topic.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ct := "application/json"
	if err := sender.SendMessage(b.ctx, &azservicebus.Message{Body: []byte("{}"), ContentType: &ct}, nil); err != nil {
		t.Fatal(err)
	}
	if err := sender.SendMessage(b.ctx, &azservicebus.Message{Body: []byte("text")}, nil); err != nil {
		t.Fatal(err)
	}
	if got := b.drain(t, "topic.1", "subscription.1"); strings.Join(got, ",") != "{}" {
		t.Fatalf("subscription.1 got %v", got)
	}
	if got := b.drain(t, "topic.1", "subscription.2"); len(got) != 2 {
		t.Fatalf("subscription.2 got %v", got)
	}
	q, err := b.client.NewSender("queue.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.SendMessage(b.ctx, &azservicebus.Message{Body: []byte("q")}, nil); err != nil {
		t.Fatalf("send to queue.1: %v", err)
	}
}

func TestOfficialSampleLoadsOrNamesSQLRule(t *testing.T) {
	t.Parallel()
	// The official sample, unchanged (with its // comments and its SQL rule).
	path := filepath.Join("internal", "config", "testdata", "official", "Config.json")
	srv, err := servicebus.Start(context.Background(), servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", ConfigPath: path})
	if err != nil {
		if !strings.Contains(err.Error(), "sql-filter-1") {
			t.Fatalf("Start with the official sample: %v, want a refusal naming the SQL rule", err)
		}
		return
	}
	// Once the broker supports SQL filters the whole sample loads; its entities must then exist.
	defer srv.Stop(context.Background())
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: "queue.1"}); err == nil {
		t.Fatal("the sample loaded but queue.1 does not exist")
	}
}

func TestSubscriptionDeadLetterQueue(t *testing.T) {
	t.Parallel()
	topic := uniqueName(t)
	b := setupTopic(t, "", func(srv *servicebus.Server) {
		if err := srv.CreateTopic(servicebus.TopicConfig{Name: topic}); err != nil {
			t.Fatal(err)
		}
		if err := srv.CreateSubscription(topic, servicebus.SubscriptionConfig{Name: "s"}); err != nil {
			t.Fatal(err)
		}
	})
	sender, err := b.client.NewSender(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.SendMessage(b.ctx, &azservicebus.Message{Body: []byte("bad")}, nil); err != nil {
		t.Fatal(err)
	}
	r, err := b.client.NewReceiverForSubscription(topic, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := r.ReceiveMessages(b.ctx, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.DeadLetterMessage(b.ctx, msgs[0], nil); err != nil {
		t.Fatalf("DeadLetterMessage: %v", err)
	}
	dlq, err := b.client.NewReceiverForSubscription(topic, "s", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		t.Fatal(err)
	}
	got, err := dlq.ReceiveMessages(b.ctx, 1, nil)
	if err != nil || len(got) != 1 || string(got[0].Body) != "bad" {
		t.Fatalf("subscription DLQ: %v %v", got, err)
	}
	if err := dlq.CompleteMessage(b.ctx, got[0], nil); err != nil {
		t.Fatal(err)
	}
}

func TestOfficialSampleWithoutSQLRuleWorks(t *testing.T) {
	t.Parallel()
	b := setupTopic(t, filepath.Join("internal", "config", "testdata", "sample-no-sql.json"), nil)
	sender, err := b.client.NewSender("topic.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ct := "application/json"
	for _, m := range []*azservicebus.Message{
		{Body: []byte("json"), ContentType: &ct},
		{Body: []byte("prop"), ApplicationProperties: map[string]any{"prop1": "value1"}},
		{Body: []byte("plain")},
	} {
		if err := sender.SendMessage(b.ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{
		"subscription.1": "json",
		"subscription.2": "prop",
		"subscription.3": "json,prop,plain", // no rules: the $Default match-all rule
		"subscription.4": "json,prop,plain",
	}
	for sub, bodies := range want {
		if got := strings.Join(b.drain(t, "topic.1", sub), ","); got != bodies {
			t.Errorf("%s got %q, want %q", sub, got, bodies)
		}
	}
	q, err := b.client.NewSender("queue.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.SendMessage(b.ctx, &azservicebus.Message{Body: []byte("q")}, nil); err != nil {
		t.Fatalf("send to queue.1: %v", err)
	}
}
