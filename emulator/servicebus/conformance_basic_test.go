package servicebus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/clock"
	"github.com/orderflow/orderflow/emulator/servicebus/sbtest"
)

type basicBundle struct {
	srv    *servicebus.Server
	client *azservicebus.Client
	queue  string
	ctx    context.Context
	// clock is the emulator's entity time: it stands still until the test advances it.
	clock *clock.Fake
}

// setup starts an emulator on 127.0.0.1:0 with a fake clock (sbtest.New), creates a unique queue
// and returns a connected SDK client.
func setup(t *testing.T, q servicebus.QueueConfig) basicBundle {
	t.Helper()
	q.Name = uniqueName(t)
	clk := clock.NewFake(time.Now())
	srv := sbtest.New(t, sbtest.WithConfig(servicebus.Config{HTTPAddr: "127.0.0.1:0", Logger: testLogger(t)}),
		sbtest.WithClock(clk), sbtest.Queue(q))
	return basicBundle{srv: srv, client: newClient(t, srv), queue: q.Name, ctx: testContext(t), clock: clk}
}

func TestSendReceiveComplete(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	sender, err := b.client.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	subject, msgID, corr, ct, to, replyTo, pk := "greeting", "m-1", "c-1", "text/plain", "dest", "replies", "pk-1"
	if err := sender.SendMessage(b.ctx, &azservicebus.Message{Body: []byte("hello"), Subject: &subject,
		MessageID: &msgID, CorrelationID: &corr, ContentType: &ct, To: &to, ReplyTo: &replyTo, PartitionKey: &pk,
		ApplicationProperties: map[string]any{"k": "v"}}, nil); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	receiver, err := b.client.NewReceiverForQueue(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := receiver.ReceiveMessages(b.ctx, 1, nil)
	if err != nil {
		t.Fatalf("ReceiveMessages: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
	m := msgs[0]
	if string(m.Body) != "hello" || m.Subject == nil || *m.Subject != subject || m.ApplicationProperties["k"] != "v" {
		t.Fatalf("message = %+v", m)
	}
	if m.DeliveryCount != 1 || m.SequenceNumber == nil || *m.SequenceNumber != 1 || m.LockedUntil == nil || m.EnqueuedTime == nil {
		t.Fatalf("system properties: count %d seq %v locked %v enq %v", m.DeliveryCount, m.SequenceNumber, m.LockedUntil, m.EnqueuedTime)
	}
	if m.LockToken == [16]byte{} {
		t.Fatal("zero lock token")
	}
	if m.MessageID != msgID || m.CorrelationID == nil || *m.CorrelationID != corr || m.ContentType == nil || *m.ContentType != ct ||
		m.To == nil || *m.To != to || m.ReplyTo == nil || *m.ReplyTo != replyTo || m.PartitionKey == nil || *m.PartitionKey != pk {
		t.Fatalf("properties did not round-trip: %+v", m)
	}
	// No TTL was sent, so the entity default (1 h) applies and ExpiresAt follows from it.
	if m.TimeToLive == nil || *m.TimeToLive != time.Hour || m.ExpiresAt == nil || !m.ExpiresAt.Equal(m.EnqueuedTime.Add(time.Hour)) {
		t.Fatalf("TimeToLive %v ExpiresAt %v EnqueuedTime %v", m.TimeToLive, m.ExpiresAt, m.EnqueuedTime)
	}
	if m.EnqueuedSequenceNumber == nil || *m.EnqueuedSequenceNumber != *m.SequenceNumber || m.State != azservicebus.MessageStateActive {
		t.Fatalf("EnqueuedSequenceNumber %v State %v", m.EnqueuedSequenceNumber, m.State)
	}
	if err := receiver.CompleteMessage(b.ctx, m, nil); err != nil {
		t.Fatalf("CompleteMessage: %v", err)
	}
	peeked, err := receiver.PeekMessages(b.ctx, 10, nil)
	if err != nil {
		t.Fatalf("PeekMessages: %v", err)
	}
	if len(peeked) != 0 {
		t.Fatalf("queue not empty after complete: %d", len(peeked))
	}
}

// receiveOne receives exactly one message from r, failing the test otherwise.
func receiveOne(t *testing.T, ctx context.Context, r *azservicebus.Receiver) *azservicebus.ReceivedMessage {
	t.Helper()
	msgs, err := r.ReceiveMessages(ctx, 1, nil)
	if err != nil {
		t.Fatalf("ReceiveMessages: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func (b basicBundle) send(t *testing.T, msgs ...*azservicebus.Message) {
	t.Helper()
	sender, err := b.client.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(context.Background())
	for _, m := range msgs {
		if err := sender.SendMessage(b.ctx, m, nil); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
	}
}

func (b basicBundle) receiver(t *testing.T, opts *azservicebus.ReceiverOptions) *azservicebus.Receiver {
	t.Helper()
	r, err := b.client.NewReceiverForQueue(b.queue, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func TestBatchSendThousand(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	sender, err := b.client.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := sender.NewMessageBatch(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := batch.AddMessage(&azservicebus.Message{Body: []byte(fmt.Sprintf("m%d", i))}, nil); err != nil {
			t.Fatalf("AddMessage %d: %v", i, err)
		}
	}
	if err := sender.SendMessageBatch(b.ctx, batch, nil); err != nil {
		t.Fatalf("SendMessageBatch: %v", err)
	}
	r := b.receiver(t, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	seen := map[string]bool{}
	var lastSeq int64
	for len(seen) < 1000 {
		msgs, err := r.ReceiveMessages(b.ctx, 500, nil)
		if err != nil {
			t.Fatalf("ReceiveMessages after %d: %v", len(seen), err)
		}
		for _, m := range msgs {
			if *m.SequenceNumber <= lastSeq {
				t.Fatalf("sequence %d after %d", *m.SequenceNumber, lastSeq)
			}
			lastSeq = *m.SequenceNumber
			seen[string(m.Body)] = true
		}
	}
	if !seen["m0"] || !seen["m999"] || lastSeq != 1000 {
		t.Fatalf("missing messages: %d seen, last seq %d", len(seen), lastSeq)
	}
}

func TestAbandonRedeliversWithDeliveryCountTwo(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	b.send(t, &azservicebus.Message{Body: []byte("x")})
	r := b.receiver(t, nil)
	m := receiveOne(t, b.ctx, r)
	if err := r.AbandonMessage(b.ctx, m, &azservicebus.AbandonMessageOptions{PropertiesToModify: map[string]any{"hello": "world"}}); err != nil {
		t.Fatalf("AbandonMessage: %v", err)
	}
	m2 := receiveOne(t, b.ctx, r)
	if m2.DeliveryCount != 2 || m2.ApplicationProperties["hello"] != "world" || *m2.SequenceNumber != *m.SequenceNumber {
		t.Fatalf("redelivery: count %d props %v", m2.DeliveryCount, m2.ApplicationProperties)
	}
}

func TestDeadLetterWithReason(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	b.send(t, &azservicebus.Message{Body: []byte("poison")})
	r := b.receiver(t, nil)
	m := receiveOne(t, b.ctx, r)
	reason, desc := "BadInput", "could not parse"
	if err := r.DeadLetterMessage(b.ctx, m, &azservicebus.DeadLetterOptions{Reason: &reason, ErrorDescription: &desc}); err != nil {
		t.Fatalf("DeadLetterMessage: %v", err)
	}
	dlq := b.receiver(t, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	d := receiveOne(t, b.ctx, dlq)
	if string(d.Body) != "poison" || d.DeadLetterReason == nil || *d.DeadLetterReason != reason ||
		d.DeadLetterErrorDescription == nil || *d.DeadLetterErrorDescription != desc {
		t.Fatalf("dead-lettered message: body %q reason %v desc %v", d.Body, d.DeadLetterReason, d.DeadLetterErrorDescription)
	}
	if err := dlq.CompleteMessage(b.ctx, d, nil); err != nil {
		t.Fatalf("complete from DLQ: %v", err)
	}
}

func TestMaxDeliveryCountDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{MaxDeliveryCount: 2})
	b.send(t, &azservicebus.Message{Body: []byte("x")})
	r := b.receiver(t, nil)
	for range 2 {
		if err := r.AbandonMessage(b.ctx, receiveOne(t, b.ctx, r), nil); err != nil {
			t.Fatalf("AbandonMessage: %v", err)
		}
	}
	dlq := b.receiver(t, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	d := receiveOne(t, b.ctx, dlq)
	if d.DeadLetterReason == nil || *d.DeadLetterReason != "MaxDeliveryCountExceeded" {
		t.Fatalf("reason %v", d.DeadLetterReason)
	}
}

func TestLockExpiryRedelivers(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{LockDuration: 30 * time.Second})
	b.send(t, &azservicebus.Message{Body: []byte("x")})
	r := b.receiver(t, nil)
	first := receiveOne(t, b.ctx, r)
	b.clock.Advance(30*time.Second - time.Millisecond)
	if err := r.RenewMessageLock(b.ctx, first, nil); err != nil {
		t.Fatalf("renew 1 ms before the lock ends: %v", err)
	}
	b.clock.Advance(30 * time.Second) // the renewed lock lapses
	second := receiveOne(t, b.ctx, r)
	if second.DeliveryCount != 2 || *second.SequenceNumber != *first.SequenceNumber {
		t.Fatalf("redelivery count %d", second.DeliveryCount)
	}
	if err := r.CompleteMessage(b.ctx, first, nil); sbCode(err) != azservicebus.CodeLockLost {
		t.Fatalf("complete with expired lock: %v, want CodeLockLost", err)
	}
	if err := r.CompleteMessage(b.ctx, second, nil); err != nil {
		t.Fatalf("complete current lock: %v", err)
	}
}

func TestRenewLockExtendsLockedUntil(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{LockDuration: 5 * time.Second})
	b.send(t, &azservicebus.Message{Body: []byte("x")})
	r := b.receiver(t, nil)
	m := receiveOne(t, b.ctx, r)
	before := *m.LockedUntil
	b.clock.Advance(3 * time.Second)
	if err := r.RenewMessageLock(b.ctx, m, nil); err != nil {
		t.Fatalf("RenewMessageLock: %v", err)
	}
	if want := before.Add(3 * time.Second); !m.LockedUntil.Equal(want) {
		t.Fatalf("LockedUntil %v after renewing 3 s later, want %v", m.LockedUntil, want)
	}
	if err := r.CompleteMessage(b.ctx, m, nil); err != nil {
		t.Fatalf("complete after renew: %v", err)
	}
}

func TestDeferAndReceiveDeferred(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	b.send(t, &azservicebus.Message{Body: []byte("later")})
	r := b.receiver(t, nil)
	m := receiveOne(t, b.ctx, r)
	if err := r.DeferMessage(b.ctx, m, nil); err != nil {
		t.Fatalf("DeferMessage: %v", err)
	}
	got, err := r.ReceiveDeferredMessages(b.ctx, []int64{*m.SequenceNumber}, nil)
	if err != nil {
		t.Fatalf("ReceiveDeferredMessages: %v", err)
	}
	if len(got) != 1 || string(got[0].Body) != "later" || got[0].State != azservicebus.MessageStateDeferred || got[0].LockToken == [16]byte{} {
		t.Fatalf("deferred: %+v", got)
	}
	// Deferring counts the delivery, as on Azure (header delivery-count 1, shown as 2).
	if got[0].DeliveryCount != 2 {
		t.Fatalf("deferred DeliveryCount %d, want 2", got[0].DeliveryCount)
	}
	if err := r.CompleteMessage(b.ctx, got[0], nil); err != nil {
		t.Fatalf("complete deferred: %v", err)
	}
	if _, err := r.ReceiveDeferredMessages(b.ctx, []int64{*m.SequenceNumber}, nil); sbCode(err) != azservicebus.CodeNotFound {
		t.Fatalf("receive completed deferred: %v, want CodeNotFound", err)
	}
}

func TestScheduleAndCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	sender, err := b.client.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := b.clock.Now().Add(time.Hour) // absolute times come from the emulator's clock
	seqs, err := sender.ScheduleMessages(b.ctx, []*azservicebus.Message{{Body: []byte("a")}, {Body: []byte("b")}}, at, nil)
	if err != nil || len(seqs) != 2 {
		t.Fatalf("ScheduleMessages: %v %v", seqs, err)
	}
	r := b.receiver(t, nil)
	peeked, err := r.PeekMessages(b.ctx, 10, nil)
	if err != nil || len(peeked) != 2 || peeked[0].State != azservicebus.MessageStateScheduled {
		t.Fatalf("peek scheduled: %v %v", len(peeked), err)
	}
	if peeked[0].ScheduledEnqueueTime == nil || peeked[0].ScheduledEnqueueTime.Unix() != at.Unix() {
		t.Fatalf("scheduled time %v, want %v", peeked[0].ScheduledEnqueueTime, at)
	}
	if err := sender.CancelScheduledMessages(b.ctx, seqs[:1], nil); err != nil {
		t.Fatalf("CancelScheduledMessages: %v", err)
	}
	peeked, err = r.PeekMessages(b.ctx, 10, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &seqs[0]})
	if err != nil || len(peeked) != 1 || *peeked[0].SequenceNumber != seqs[1] {
		t.Fatalf("after cancel: %d %v", len(peeked), err)
	}
	// A schedule in the past is delivered at once.
	if _, err := sender.ScheduleMessages(b.ctx, []*azservicebus.Message{{Body: []byte("now")}}, b.clock.Now().Add(-time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if m := receiveOne(t, b.ctx, r); string(m.Body) != "now" {
		t.Fatalf("got %q", m.Body)
	}
	// The one left becomes active at its time, and not before.
	b.clock.Advance(time.Hour - time.Millisecond)
	if peeked, err = r.PeekMessages(b.ctx, 10, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &seqs[1]}); err != nil ||
		len(peeked) != 2 || peeked[0].State != azservicebus.MessageStateScheduled {
		t.Fatalf("1 ms before its time: %d messages, %v", len(peeked), err)
	}
	b.clock.Advance(time.Millisecond)
	if m := receiveOne(t, b.ctx, r); string(m.Body) != "b" || m.State != azservicebus.MessageStateActive {
		t.Fatalf("got %q in state %v, want b active", m.Body, m.State)
	}
}

func TestPeekFromSequenceNumber(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	for i := range 5 {
		b.send(t, &azservicebus.Message{Body: []byte{byte('0' + i)}})
	}
	r := b.receiver(t, nil)
	from := int64(3)
	peeked, err := r.PeekMessages(b.ctx, 10, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &from})
	if err != nil {
		t.Fatal(err)
	}
	if len(peeked) != 3 || string(peeked[0].Body) != "2" || *peeked[2].SequenceNumber != 5 {
		t.Fatalf("peek from 3: %d messages", len(peeked))
	}
	// Peeking neither locks nor removes.
	if m := receiveOne(t, b.ctx, r); *m.SequenceNumber != 1 || m.DeliveryCount != 1 {
		t.Fatalf("first receive seq %d count %d", *m.SequenceNumber, m.DeliveryCount)
	}
}

func TestTTLExpiryDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{DeadLetteringOnMessageExpiration: true})
	ttl := time.Hour
	b.send(t, &azservicebus.Message{Body: []byte("stale"), TimeToLive: &ttl})
	dlq := b.receiver(t, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	b.clock.Advance(ttl)
	d := receiveOne(t, b.ctx, dlq)
	if string(d.Body) != "stale" || d.DeadLetterReason == nil || *d.DeadLetterReason != "TTLExpiredException" {
		t.Fatalf("expired message: %q reason %v", d.Body, d.DeadLetterReason)
	}
	if d.TimeToLive == nil || *d.TimeToLive != ttl {
		t.Fatalf("TimeToLive %v", d.TimeToLive)
	}
}

func TestTTLExpiryDrops(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	ttl := 10 * time.Minute
	b.send(t, &azservicebus.Message{Body: []byte("stale"), TimeToLive: &ttl})
	r := b.receiver(t, nil)
	b.clock.Advance(ttl - time.Millisecond)
	if peeked, err := r.PeekMessages(b.ctx, 10, nil); err != nil || len(peeked) != 1 {
		t.Fatalf("1 ms before expiry: %d messages, %v", len(peeked), err)
	}
	b.clock.Advance(time.Millisecond)
	if peeked, err := r.PeekMessages(b.ctx, 10, nil); err != nil || len(peeked) != 0 {
		t.Fatalf("expired message still in the queue: %d messages, %v", len(peeked), err)
	}
	dlq := b.receiver(t, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if peeked, err := dlq.PeekMessages(b.ctx, 10, nil); err != nil || len(peeked) != 0 {
		t.Fatalf("dropped, not dead-lettered, without DeadLetteringOnMessageExpiration: %d, %v", len(peeked), err)
	}
}

// The default (real) clock runs the same timers by itself: a short TTL dead-letters a message
// with nobody advancing anything.
func TestTTLExpiryOnTheRealClock(t *testing.T) {
	t.Parallel()
	srv, ctx := startServer(t, servicebus.Config{HTTPAddr: "-"})
	stopAtCleanup(t, srv)
	q := uniqueName(t)
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: q, DeadLetteringOnMessageExpiration: true}); err != nil {
		t.Fatal(err)
	}
	b := basicBundle{srv: srv, client: newClient(t, srv), queue: q, ctx: ctx}
	ttl := 100 * time.Millisecond
	b.send(t, &azservicebus.Message{Body: []byte("stale"), TimeToLive: &ttl})
	d := receiveOne(t, ctx, b.receiver(t, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter}))
	if d.DeadLetterReason == nil || *d.DeadLetterReason != "TTLExpiredException" {
		t.Fatalf("reason %v", d.DeadLetterReason)
	}
}

func TestReceiveAndDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	b.send(t, &azservicebus.Message{Body: []byte("once")})
	r := b.receiver(t, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	if m := receiveOne(t, b.ctx, r); string(m.Body) != "once" {
		t.Fatalf("got %q", m.Body)
	}
	peeked, err := r.PeekMessages(b.ctx, 10, nil)
	if err != nil || len(peeked) != 0 {
		t.Fatalf("after receive-and-delete: %d %v", len(peeked), err)
	}
}

func TestLargeBodies(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	for _, size := range []int{64 << 10, 250 << 10} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(i * 7)
		}
		b.send(t, &azservicebus.Message{Body: body})
		r := b.receiver(t, nil)
		m := receiveOne(t, b.ctx, r)
		if len(m.Body) != size || m.Body[size-1] != body[size-1] || m.Body[size/2] != body[size/2] {
			t.Fatalf("body of %d bytes came back with %d", size, len(m.Body))
		}
		if err := r.CompleteMessage(b.ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	sender, err := b.client.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = sender.SendMessage(b.ctx, &azservicebus.Message{Body: make([]byte, 300<<10)}, nil)
	if !errors.Is(err, azservicebus.ErrMessageTooLarge) {
		t.Fatalf("300 KiB send: %v, want ErrMessageTooLarge", err)
	}
}

func TestApplicationPropertiesOfEveryType(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	ts := time.UnixMilli(1700000000123).UTC()
	props := map[string]any{
		"string": "s", "bool": true, "int8": int8(-8), "int16": int16(-16), "int32": int32(-32), "int64": int64(-64),
		"uint8": uint8(8), "uint16": uint16(16), "uint32": uint32(32), "uint64": uint64(64),
		"float32": float32(1.5), "float64": 2.25, "time": ts, "bytes": []byte{1, 2, 3},
	}
	b.send(t, &azservicebus.Message{Body: []byte("p"), ApplicationProperties: props})
	r := b.receiver(t, nil)
	m := receiveOne(t, b.ctx, r)
	for k, want := range props {
		got := m.ApplicationProperties[k]
		if fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", want, want) {
			t.Errorf("%s: got %T %v, want %T %v", k, got, got, want, want)
		}
	}
}

func TestSettleThroughManagementFromAnotherReceiver(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	b.send(t, &azservicebus.Message{Body: []byte("x")})
	r1 := b.receiver(t, nil)
	m := receiveOne(t, b.ctx, r1)
	if err := r1.Close(b.ctx); err != nil {
		t.Fatal(err)
	}
	r2 := b.receiver(t, nil)
	// m's receiver is gone, so the SDK settles by lock token over $management.
	if err := r2.CompleteMessage(b.ctx, m, nil); err != nil {
		t.Fatalf("CompleteMessage via management: %v", err)
	}
	peeked, err := r2.PeekMessages(b.ctx, 10, nil)
	if err != nil || len(peeked) != 0 {
		t.Fatalf("after complete: %d %v", len(peeked), err)
	}
}

func TestManyMessagesCrossSessionWindows(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	sender, err := b.client.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	const total = 6000 // beyond the 5000-frame session windows of both sides
	for sent := 0; sent < total; {
		batch, err := sender.NewMessageBatch(b.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for ; sent < total; sent++ {
			if err := batch.AddMessage(&azservicebus.Message{Body: []byte("w")}, nil); err != nil {
				break
			}
		}
		if err := sender.SendMessageBatch(b.ctx, batch, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3000 { // single sends use one frame each: 3000 crosses the server's refresh point
		if err := sender.SendMessage(b.ctx, &azservicebus.Message{Body: []byte("s")}, nil); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	r := b.receiver(t, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	got := 0
	for got < total+3000 {
		msgs, err := r.ReceiveMessages(b.ctx, 5000, nil)
		if err != nil {
			t.Fatalf("after %d: %v", got, err)
		}
		got += len(msgs)
	}
	if got != total+3000 {
		t.Fatalf("received %d", got)
	}
}

func TestListSessionsIsEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t, servicebus.QueueConfig{})
	pager := b.client.NewListSessionsForQueuePager(b.queue, nil)
	var sessions []string
	for pager.More() {
		page, err := pager.NextPage(b.ctx)
		if err != nil {
			t.Fatalf("NextPage: %v", err)
		}
		sessions = append(sessions, page.Sessions...)
	}
	if len(sessions) != 0 {
		t.Fatalf("sessions %v on an emulator without session support", sessions)
	}
}
