package funchost

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/internal/testkit"
)

type sbBundle struct {
	app    *testApp
	srv    *servicebus.Server
	client *azservicebus.Client
	queue  string
	proxy  *tcpProxy // set with sbOpts.proxied
}

// sbOpts shapes the app sbSetup starts.
type sbOpts struct {
	queue    servicebus.QueueConfig // Name is set by sbSetup; MaxDeliveryCount defaults to 3
	binding  map[string]any         // extra trigger binding properties
	topic    bool                   // trigger on a topic subscription instead of a queue
	extra    func(*servicebus.Server) map[string]any
	cfg      Config
	maxCalls int  // host.json maxConcurrentCalls (default 4)
	proxied  bool // the host reaches the emulator through a cuttable tcpProxy
}

// sbSetup starts the in-repo Service Bus emulator on 127.0.0.1:0, creates a
// unique queue (MaxDeliveryCount 3) and a host with one serviceBusTrigger
// function "Consume" reading it (or a topic subscription when topic is set).
// extra, when not nil, makes a second (output) binding once the emulator runs.
func sbSetup(t *testing.T, o sbOpts) *sbBundle {
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
	if o.topic {
		if err := srv.CreateTopic(servicebus.TopicConfig{Name: name}); err != nil {
			t.Fatal(err)
		}
		if err := srv.CreateSubscription(name, servicebus.SubscriptionConfig{Name: "s1", MaxDeliveryCount: 3}); err != nil {
			t.Fatal(err)
		}
		bind["topicName"], bind["subscriptionName"] = "%ENTITY%", "s1"
	} else {
		q := o.queue
		q.Name = name
		if q.MaxDeliveryCount == 0 {
			q.MaxDeliveryCount = 3
		}
		if err := srv.CreateQueue(q); err != nil {
			t.Fatal(err)
		}
		bind["queueName"] = "%ENTITY%"
	}
	for k, v := range o.binding {
		bind[k] = v
	}
	bindings := []any{bind}
	if o.extra != nil {
		bindings = append(bindings, o.extra(srv))
	}
	fj, err := json.Marshal(map[string]any{"bindings": bindings})
	if err != nil {
		t.Fatal(err)
	}
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	b := &sbBundle{srv: srv, client: client, queue: name}
	conn := srv.ConnectionString()
	if o.proxied {
		b.proxy = newTCPProxy(t, srv.AMQPAddr())
		conn = strings.Replace(conn, srv.AMQPAddr(), b.proxy.l.Addr().String(), 1)
	}
	maxCalls := o.maxCalls
	if maxCalls == 0 {
		maxCalls = 4
	}
	b.app = setup(t, appSpec{
		functions: map[string]string{"Consume": string(fj)},
		values:    map[string]string{"ENTITY": name, "SB": conn},
		host:      map[string]any{"extensions": map[string]any{"serviceBus": map[string]any{"maxConcurrentCalls": maxCalls, "maxAutoLockRenewalDuration": "00:01:00"}}},
		cfg:       o.cfg,
	})
	return b
}

// sbTriggerBackend is the Service Bus side of the trigger conformance suite.
func sbTriggerBackend(t *testing.T, o triggerOpts) *triggerFixture {
	t.Helper()
	b := sbSetup(t, sbOpts{binding: o.binding, cfg: o.cfg, maxCalls: o.maxCalls, proxied: o.proxied})
	return &triggerFixture{
		app:           b.app,
		proxy:         b.proxy,
		send:          b.send,
		waitEmpty:     b.waitEmpty,
		waitAvailable: b.receiveNow,
		deadLettered: func(t *testing.T) string {
			dl := b.deadLettered(t)
			if dl.DeadLetterReason == nil || *dl.DeadLetterReason != "MaxDeliveryCountExceeded" {
				t.Errorf("dead-letter reason %v, want MaxDeliveryCountExceeded", dl.DeadLetterReason)
			}
			return string(dl.Body)
		},
		maxAttempts: 3,
		attempt: func(t *testing.T, rec handlerRecord) int {
			meta, _ := decodeJSON(t, []byte(rec.Body))["Metadata"].(map[string]any)
			s, _ := meta["DeliveryCount"].(string)
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Errorf("Metadata.DeliveryCount = %#v", meta["DeliveryCount"])
			}
			return n
		},
		checkPayload: sbCheckPayload,
	}
}

// sbCheckPayload checks the serviceBusTrigger Metadata of the first
// delivery of a message send made.
func sbCheckPayload(t *testing.T, meta map[string]any) {
	t.Helper()
	for k, v := range map[string]any{"DeliveryCount": "1", "MessageId": `"m-1"`, "SequenceNumber": "1", "ContentType": `"application/json"`,
		"Subject": `"order"`, "Label": `"order"`} {
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
	if s, ok := meta["EnqueuedTimeUtc"].(string); !ok {
		t.Errorf("EnqueuedTimeUtc = %#v, want a string", meta["EnqueuedTimeUtc"])
	} else if _, err := time.Parse("2006-01-02T15:04:05", s); err != nil {
		t.Errorf("EnqueuedTimeUtc = %v: %v", s, err)
	}
	if _, ok := meta["CorrelationId"]; ok {
		t.Error("null CorrelationId must be omitted")
	}
}

// receiveNow takes n messages off the queue within a few seconds, far less
// than the lock duration: a message a stopped host still held would not come.
func (b *sbBundle) receiveNow(t *testing.T, n int) {
	t.Helper()
	b.receive(t, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete}, n, 5*time.Second)
}

// receive returns n messages of the queue (or of the sub-queue opts
// names) received within the given time, failing the test otherwise.
func (b *sbBundle) receive(t *testing.T, opts *azservicebus.ReceiverOptions, n int, within time.Duration) []*azservicebus.ReceivedMessage {
	t.Helper()
	r, err := b.client.NewReceiverForQueue(b.queue, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var out []*azservicebus.ReceivedMessage
	for len(out) < n {
		msgs, err := r.ReceiveMessages(ctx, n-len(out), nil)
		if err != nil {
			t.Fatalf("received %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, msgs...)
	}
	return out
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
	return b.receive(t, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter}, 1, 20*time.Second)[0]
}

func (b *sbBundle) waitEmpty(t *testing.T) {
	t.Helper()
	r, err := b.client.NewReceiverForQueue(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	testkit.Eventually(t, 20*time.Second, func() error {
		msgs, err := r.PeekMessages(context.Background(), 10, &azservicebus.PeekMessagesOptions{FromSequenceNumber: ptr(int64(0))})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 0 {
			return fmt.Errorf("queue still holds %d messages", len(msgs))
		}
		return nil
	})
}

func TestServiceBusTriggerRenewsLock(t *testing.T) {
	t.Parallel()
	b := sbSetup(t, sbOpts{queue: servicebus.QueueConfig{LockDuration: 2 * time.Second}})
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
	b := sbSetup(t, sbOpts{binding: map[string]any{"dataType": "binary"}, topic: true})
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
	b := sbSetup(t, sbOpts{extra: func(srv *servicebus.Server) map[string]any {
		if err := srv.CreateQueue(servicebus.QueueConfig{Name: out}); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"type": "serviceBus", "direction": "out", "name": "out", "queueName": out, "connection": "SB"}
	}})
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
