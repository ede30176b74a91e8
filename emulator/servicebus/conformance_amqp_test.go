package servicebus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/orderflow/orderflow/emulator/servicebus"
)

// These cases use go-amqp directly for protocol features the Service Bus SDK never exercises
// (SASL PLAIN, drain, settle mode first).

type amqpBundle struct {
	srv   *servicebus.Server
	queue string
	ctx   context.Context
}

func setupAMQP(t *testing.T) amqpBundle {
	t.Helper()
	srv, ctx := startServer(t, servicebus.Config{HTTPAddr: "-"})
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	q := uniqueName(t)
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: q}); err != nil {
		t.Fatal(err)
	}
	return amqpBundle{srv: srv, queue: q, ctx: ctx}
}

func (b amqpBundle) dial(t *testing.T, sasl amqp.SASLType) (*amqp.Conn, error) {
	t.Helper()
	c, err := amqp.Dial(b.ctx, "amqp://"+b.srv.AMQPAddr(), &amqp.ConnOptions{SASLType: sasl})
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// session opens a SASL ANONYMOUS connection with a CBS token for the queue, as the SDKs do, and
// a session with a sender to the queue.
func (b amqpBundle) session(t *testing.T) (*amqp.Session, *amqp.Sender) {
	t.Helper()
	s := authorizedSession(t, b.ctx, b.srv, b.queue)
	snd, err := s.NewSender(b.ctx, b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, snd
}

func TestSASLPlain(t *testing.T) {
	t.Parallel()
	b := setupAMQP(t)
	if _, err := b.dial(t, amqp.SASLTypePlain(servicebus.DefaultKeyName, servicebus.DefaultKey)); err != nil {
		t.Fatalf("PLAIN with the right key: %v", err)
	}
	if _, err := b.dial(t, amqp.SASLTypePlain(servicebus.DefaultKeyName, "wrong")); err == nil {
		t.Fatal("PLAIN with a wrong key was accepted")
	}
}

func TestDrainAndSettleModeFirst(t *testing.T) {
	t.Parallel()
	b := setupAMQP(t)
	s, snd := b.session(t)
	if err := snd.Send(b.ctx, amqp.NewMessage([]byte("one")), nil); err != nil {
		t.Fatal(err)
	}
	rcv, err := s.NewReceiver(b.ctx, b.queue, &amqp.ReceiverOptions{Credit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.IssueCredit(5); err != nil {
		t.Fatal(err)
	}
	msg, err := rcv.Receive(b.ctx, nil)
	if err != nil || string(msg.GetData()) != "one" {
		t.Fatalf("Receive: %v", err)
	}
	if err := rcv.AcceptMessage(b.ctx, msg); err != nil {
		t.Fatalf("accept (settled by the client in mode first): %v", err)
	}
	// Four credits remain and the queue is empty: drain must complete at once.
	if err := rcv.DrainCredit(b.ctx, nil); err != nil {
		t.Fatalf("DrainCredit: %v", err)
	}
	if p := rcv.Prefetched(); p != nil {
		t.Fatalf("unexpected prefetched message %v", p)
	}
}

func TestReleaseDoesNotCountDelivery(t *testing.T) {
	t.Parallel()
	b := setupAMQP(t)
	s, snd := b.session(t)
	if err := snd.Send(b.ctx, amqp.NewMessage([]byte("r")), nil); err != nil {
		t.Fatal(err)
	}
	rcv, err := s.NewReceiver(b.ctx, b.queue, &amqp.ReceiverOptions{SettlementMode: amqp.ReceiverSettleModeSecond.Ptr()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		msg, err := rcv.Receive(b.ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Header == nil || msg.Header.DeliveryCount != 0 {
			t.Fatalf("delivery %d: header %+v, want delivery-count 0 after releases", i, msg.Header)
		}
		if err := rcv.ReleaseMessage(b.ctx, msg); err != nil {
			t.Fatalf("ReleaseMessage: %v", err)
		}
	}
}

func TestAMQPValuesRoundTrip(t *testing.T) {
	t.Parallel()
	b := setupAMQP(t)
	s, snd := b.session(t)
	ts := time.UnixMilli(1700000000123).UTC()
	// Application properties take the simple types Service Bus allows; compound values travel in
	// annotations (TestCompoundApplicationPropertyRejected covers the refusal).
	props := map[string]any{
		"uuid": amqp.UUID{1, 2, 3}, "symbol": amqp.Symbol("sym"), "binary": []byte{1, 2},
		"time": ts, "null": nil, "uint64": uint64(1 << 60), "float64": 1.25, "int8": int8(-3),
	}
	compound := map[string]any{
		"x-list": []any{int64(1), "two", nil}, "x-map": map[string]any{"nested": true},
		"x-longs": []int64{1, 2}, "x-strings": []string{"a", "b"},
	}
	msg := amqp.NewMessage([]byte("typed"))
	msg.ApplicationProperties = props
	msg.Annotations = amqp.Annotations{"x-custom": int32(9)}
	for k, v := range compound {
		msg.Annotations[k] = v
	}
	if err := snd.Send(b.ctx, msg, nil); err != nil {
		t.Fatal(err)
	}
	rcv, err := s.NewReceiver(b.ctx, b.queue, &amqp.ReceiverOptions{SettlementMode: amqp.ReceiverSettleModeSecond.Ptr()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := rcv.Receive(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	props["symbol"] = "sym" // go-amqp decodes every symbol as a Go string
	for k, want := range props {
		if g := got.ApplicationProperties[k]; fmt.Sprintf("%T %v", g, g) != fmt.Sprintf("%T %v", want, want) {
			t.Errorf("%s: got %T %v, want %T %v", k, g, g, want, want)
		}
	}
	if got.Annotations["x-custom"] != int32(9) {
		t.Errorf("custom annotation %v", got.Annotations["x-custom"])
	}
	for k, want := range compound {
		if g := got.Annotations[k]; fmt.Sprintf("%T %v", g, g) != fmt.Sprintf("%T %v", want, want) {
			t.Errorf("annotation %s: got %T %v, want %T %v", k, g, g, want, want)
		}
	}
	if err := rcv.AcceptMessage(b.ctx, got); err != nil {
		t.Fatal(err)
	}
}
