package funchost

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/emulator/servicebus"
)

type sbBundle struct {
	app    *testApp
	srv    *servicebus.Server
	client *azservicebus.Client
	queue  string
}

// sbSetup starts the in-repo Service Bus emulator on 127.0.0.1:0, creates a
// unique queue (MaxDeliveryCount 3) and a host with one serviceBusTrigger
// function "Consume" reading it (or a topic subscription when topic is set).
// extra, when not nil, makes a second (output) binding once the emulator runs.
func sbSetup(t *testing.T, q servicebus.QueueConfig, binding map[string]any, topic bool, extra func(*servicebus.Server) map[string]any) *sbBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := servicebus.Start(ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-"})
	if err != nil {
		t.Fatalf("starting the Service Bus emulator: %v", err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(c)
	})
	name := "q" + uuid.NewString()[:8]
	bind := map[string]any{"type": "serviceBusTrigger", "direction": "in", "name": "msg", "connection": "SB"}
	if topic {
		if err := srv.CreateTopic(servicebus.TopicConfig{Name: name}); err != nil {
			t.Fatal(err)
		}
		if err := srv.CreateSubscription(name, servicebus.SubscriptionConfig{Name: "s1", MaxDeliveryCount: 3}); err != nil {
			t.Fatal(err)
		}
		bind["topicName"], bind["subscriptionName"] = "%ENTITY%", "s1"
	} else {
		q.Name = name
		if q.MaxDeliveryCount == 0 {
			q.MaxDeliveryCount = 3
		}
		if err := srv.CreateQueue(q); err != nil {
			t.Fatal(err)
		}
		bind["queueName"] = "%ENTITY%"
	}
	for k, v := range binding {
		bind[k] = v
	}
	bindings := []any{bind}
	if extra != nil {
		bindings = append(bindings, extra(srv))
	}
	fj, _ := json.Marshal(map[string]any{"bindings": bindings})
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	b := &sbBundle{srv: srv, client: client, queue: name}
	b.app = setup(t, appSpec{
		functions: map[string]string{"Consume": string(fj)},
		values:    map[string]string{"ENTITY": name, "SB": srv.ConnectionString()},
		host:      map[string]any{"extensions": map[string]any{"serviceBus": map[string]any{"maxConcurrentCalls": 4, "maxAutoLockRenewalDuration": "00:01:00"}}},
	})
	return b
}

func (b *sbBundle) send(t *testing.T, body string) {
	t.Helper()
	s, err := b.client.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	ct, subject := "application/json", "order"
	msg := &azservicebus.Message{Body: []byte(body), ContentType: &ct, Subject: &subject, MessageID: ptr("m-1"),
		ApplicationProperties: map[string]any{"tenant": "a"}}
	if err := s.SendMessage(context.Background(), msg, nil); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
}

// deadLettered receives from the dead-letter subqueue of the queue.
func (b *sbBundle) deadLettered(t *testing.T) *azservicebus.ReceivedMessage {
	t.Helper()
	r, err := b.client.NewReceiverForQueue(b.queue, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs, err := r.ReceiveMessages(ctx, 1, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("dead-letter queue: %d messages, err %v", len(msgs), err)
	}
	return msgs[0]
}

func (b *sbBundle) waitEmpty(t *testing.T) {
	t.Helper()
	r, err := b.client.NewReceiverForQueue(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs, err := r.PeekMessages(context.Background(), 10, &azservicebus.PeekMessagesOptions{FromSequenceNumber: ptr(int64(0))})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue still holds %d messages", len(msgs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServiceBusTriggerCompletes(t *testing.T) {
	t.Parallel()
	b := sbSetup(t, servicebus.QueueConfig{}, nil, false, nil)
	b.send(t, `{"orderId":7}`)
	rec := b.app.waitRecords(t, 1, consumeRecords)[0]
	p := decodeJSON(t, []byte(rec.Body))
	if got := p["Data"].(map[string]any)["msg"]; got != `"{\"orderId\":7}"` {
		t.Errorf("Data.msg = %#v", got)
	}
	meta := p["Metadata"].(map[string]any)
	for k, v := range map[string]any{"DeliveryCount": "1", "MessageId": `"m-1"`, "SequenceNumber": "1", "ContentType": `"application/json"`,
		"Subject": `"order"`, "Label": `"order"`, "orderId": `"7"`} {
		if meta[k] != v {
			t.Errorf("Metadata.%s = %#v, want %#v", k, meta[k], v)
		}
	}
	if ap, _ := meta["ApplicationProperties"].(map[string]any); ap["tenant"] != "a" {
		t.Errorf("ApplicationProperties = %v", meta["ApplicationProperties"])
	}
	if lt, _ := meta["LockToken"].(string); len(lt) != 38 || !strings.HasPrefix(lt, `"`) {
		t.Errorf("LockToken = %#v, want a double-encoded GUID", meta["LockToken"])
	}
	if _, err := time.Parse("2006-01-02T15:04:05", meta["EnqueuedTimeUtc"].(string)); err != nil {
		t.Errorf("EnqueuedTimeUtc = %v: %v", meta["EnqueuedTimeUtc"], err)
	}
	if _, ok := meta["CorrelationId"]; ok {
		t.Error("null CorrelationId must be omitted")
	}
	b.waitEmpty(t)
}

func TestServiceBusTriggerAbandonsThenDeadLetters(t *testing.T) {
	t.Parallel()
	b := sbSetup(t, servicebus.QueueConfig{}, nil, false, nil)
	b.send(t, `{"action":"fail"}`)
	dl := b.deadLettered(t)
	recs := b.app.waitRecords(t, 3, consumeRecords)
	for i, r := range recs {
		if want := fmt.Sprintf(`"DeliveryCount":"%d"`, i+1); !strings.Contains(r.Body, want) {
			t.Errorf("attempt %d lacks %s", i+1, want)
		}
	}
	if string(dl.Body) != `{"action":"fail"}` || dl.DeadLetterReason == nil || *dl.DeadLetterReason != "MaxDeliveryCountExceeded" {
		t.Errorf("dead-lettered message = %q reason %v", dl.Body, dl.DeadLetterReason)
	}
}

func TestServiceBusTriggerRenewsLock(t *testing.T) {
	t.Parallel()
	b := sbSetup(t, servicebus.QueueConfig{LockDuration: 2 * time.Second}, nil, false, nil)
	b.send(t, `{"action":"sleep","ms":5000}`)
	b.app.waitRecords(t, 1, consumeRecords)
	b.waitEmpty(t)
	if n := len(b.app.records(t)); n != 1 {
		t.Errorf("handler saw %d deliveries; the lock should have been renewed", n)
	}
	if strings.Contains(b.app.logs.String(), "complete failed") {
		t.Error("complete failed: lock lost")
	}
}

func TestServiceBusTriggerSubscription(t *testing.T) {
	t.Parallel()
	b := sbSetup(t, servicebus.QueueConfig{}, map[string]any{"dataType": "binary"}, true, nil)
	b.send(t, `{"orderId":9}`)
	rec := b.app.waitRecords(t, 1, consumeRecords)[0]
	if !strings.Contains(rec.Body, `"msg":"eyJvcmRlcklkIjo5fQ=="`) {
		t.Errorf("binary payload = %s", rec.Body)
	}
}

func TestServiceBusConnectionResolution(t *testing.T) {
	t.Parallel()
	st := &settings{values: map[string]string{
		"Direct":                         "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v",
		"AzureWebJobsPrefixed":           "Endpoint=sb://p.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v",
		"Ident__fullyQualifiedNamespace": "id.servicebus.windows.net",
		"AzureWebJobsServiceBus":         "Endpoint=sb://default.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v",
	}}
	for name, wantNS := range map[string]string{"Direct": "ns.servicebus.windows.net", "Prefixed": "p.servicebus.windows.net", "": "default.servicebus.windows.net", "Ident": "id.servicebus.windows.net"} {
		mk, err := sbConnection(st, name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		c, ns, err := mk()
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		_ = c.Close(context.Background())
		if ns != wantNS {
			t.Errorf("%q → namespace %q, want %q", name, ns, wantNS)
		}
	}
	if _, err := sbConnection(st, "Missing"); err == nil {
		t.Error("a missing connection must be a load error")
	}
}

func TestServiceBusOutputBinding(t *testing.T) {
	t.Parallel()
	out := "out" + uuid.NewString()[:8]
	b := sbSetup(t, servicebus.QueueConfig{}, nil, false, func(srv *servicebus.Server) map[string]any {
		if err := srv.CreateQueue(servicebus.QueueConfig{Name: out}); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"type": "serviceBus", "direction": "out", "name": "out", "queueName": out, "connection": "SB"}
	})
	b.send(t, `{"action":"outputs","outputs":{"out":"hello world"}}`)
	r, err := b.client.NewReceiverForQueue(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs, err := r.ReceiveMessages(ctx, 1, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("output queue: %d messages, err %v", len(msgs), err)
	}
	if string(msgs[0].Body) != "hello world" || msgs[0].ContentType == nil || *msgs[0].ContentType != "text/plain" {
		t.Errorf("output message = %q content type %v", msgs[0].Body, msgs[0].ContentType)
	}
	b.waitEmpty(t)
}

func TestServiceBusTriggerReconnects(t *testing.T) {
	t.Parallel()
	b := sbSetup(t, servicebus.QueueConfig{}, nil, false, nil)
	// Point a second host at the emulator through a proxy we can cut.
	proxy := newTCPProxy(t, b.srv.AMQPAddr())
	conn := strings.Replace(b.srv.ConnectionString(), b.srv.AMQPAddr(), proxy.l.Addr().String(), 1)
	fj := `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"%ENTITY%","connection":"SB"}]}`
	a := setup(t, appSpec{functions: map[string]string{"Consume": fj}, values: map[string]string{"ENTITY": b.queue, "SB": conn}})
	_ = b.app.host.Stop(context.Background()) // only the proxied host consumes
	b.send(t, `{"n":1}`)
	a.waitRecords(t, 1, consumeRecords)
	b.waitEmpty(t)
	proxy.cut()
	b.send(t, `{"n":2}`)
	a.waitRecords(t, 1, func(r handlerRecord) bool { return consumeRecords(r) && messageBody(r) == `{"n":2}` })
	b.waitEmpty(t)
}
