package sbtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/clock"
	"github.com/orderflow/orderflow/emulator/servicebus/sbtest"
)

// client returns an SDK client for srv, closed before the fixture stops it (cleanups run last
// registered first).
func client(t *testing.T, srv *servicebus.Server) *azservicebus.Client {
	t.Helper()
	c, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func send(ctx context.Context, t *testing.T, c *azservicebus.Client, entity string, msgs ...*azservicebus.Message) {
	t.Helper()
	s, err := c.NewSender(entity, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	for _, m := range msgs {
		if err := s.SendMessage(ctx, m, nil); err != nil {
			t.Fatalf("SendMessage to %s: %v", entity, err)
		}
	}
}

func receiveOne(ctx context.Context, t *testing.T, r interface {
	ReceiveMessages(context.Context, int, *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
}) *azservicebus.ReceivedMessage {
	t.Helper()
	msgs, err := r.ReceiveMessages(ctx, 1, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("ReceiveMessages: %d messages, %v", len(msgs), err)
	}
	return msgs[0]
}

func receiver(t *testing.T, c *azservicebus.Client, queue string, opts *azservicebus.ReceiverOptions) *azservicebus.Receiver {
	t.Helper()
	r, err := c.NewReceiverForQueue(queue, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// The fixture creates queues, topics and filtered subscriptions, and its connection string
// authenticates with the root key under the default (strict) authorization.
func TestNewCreatesEntitiesAndConnects(t *testing.T) {
	t.Parallel()
	big, err := servicebus.NewSQLFilter("amount > 100")
	if err != nil {
		t.Fatal(err)
	}
	srv := sbtest.New(t,
		sbtest.Queue(servicebus.QueueConfig{Name: "orders"}),
		sbtest.Topic(servicebus.TopicConfig{Name: "events"},
			servicebus.SubscriptionConfig{Name: "all"},
			servicebus.SubscriptionConfig{Name: "big", Rules: []servicebus.Rule{{Name: "big", Filter: big}}}))
	if cs := srv.ConnectionString(); !strings.Contains(cs, "SharedAccessKeyName="+servicebus.DefaultKeyName+";SharedAccessKey=") ||
		!strings.HasPrefix(cs, "Endpoint=sb://127.0.0.1:") || srv.HTTPAddr() != "" {
		t.Fatalf("connection string %q, HTTP %q: want the root key on a loopback port and no HTTP", cs, srv.HTTPAddr())
	}
	ctx, c := testContext(t), client(t, srv)
	send(ctx, t, c, "orders", &azservicebus.Message{Body: []byte("order")})
	if m := receiveOne(ctx, t, receiver(t, c, "orders", nil)); string(m.Body) != "order" {
		t.Fatalf("queue got %q", m.Body)
	}
	send(ctx, t, c, "events",
		&azservicebus.Message{Body: []byte("small"), ApplicationProperties: map[string]any{"amount": 5}},
		&azservicebus.Message{Body: []byte("large"), ApplicationProperties: map[string]any{"amount": 500}})
	r, err := c.NewReceiverForSubscription("events", "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	if m := receiveOne(ctx, t, r); string(m.Body) != "large" {
		t.Fatalf("filtered subscription got %q, want large", m.Body)
	}
	peeked, err := r.PeekMessages(ctx, 10, nil)
	if err != nil || len(peeked) != 1 { // the locked "large" only: "small" never reached it
		t.Fatalf("filtered subscription holds %d messages, %v", len(peeked), err)
	}
	all, err := c.NewReceiverForSubscription("events", "all", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close(context.Background())
	if peeked, err := all.PeekMessages(ctx, 10, nil); err != nil || len(peeked) != 2 {
		t.Fatalf("match-all subscription holds %d messages, %v", len(peeked), err)
	}
}

// WithConfig sets the policies (the connection string uses them) and keeps a clock set before it;
// a bad entity fails New with the broker's reason. The fake clock is years ahead of the wall
// clock, and the SDK's tokens still verify: token expiry is on real time, not entity time.
func TestWithConfigAndSetupErrors(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	srv := sbtest.New(t, sbtest.WithClock(clk), sbtest.WithConfig(servicebus.Config{Policies: []servicebus.SharedAccessPolicy{
		{Name: "app", PrimaryKey: "app-key", Rights: servicebus.Send | servicebus.Listen}}}),
		sbtest.Queue(servicebus.QueueConfig{Name: "q"}))
	if cs := srv.ConnectionString(); !strings.Contains(cs, "SharedAccessKeyName=app;SharedAccessKey=app-key;") {
		t.Fatalf("connection string %q does not carry the configured policy", cs)
	}
	ctx, c := testContext(t), client(t, srv)
	send(ctx, t, c, "q", &azservicebus.Message{Body: []byte("x")})
	if m := receiveOne(ctx, t, receiver(t, c, "q", nil)); !m.EnqueuedTime.Equal(clk.Now()) {
		t.Fatalf("EnqueuedTime %v, want the fake clock's %v: WithConfig dropped the clock", m.EnqueuedTime, clk.Now())
	}

	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { _ = recover() }() // fatalRecorder stops New like t.Fatal would
		sbtest.New(ft, sbtest.Queue(servicebus.QueueConfig{Name: "dup"}), sbtest.Queue(servicebus.QueueConfig{Name: "dup"}))
	}()
	if !strings.Contains(ft.msg, "dup") || !strings.Contains(ft.msg, "exists") {
		t.Fatalf("New with a duplicate queue: %q, want a failure naming the queue", ft.msg)
	}
}

// fatalRecorder records the message of Fatalf and stops the caller with a panic.
type fatalRecorder struct {
	testing.TB
	msg string
}

var errFatal = errors.New("fatal")

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = strings.ToLower(fmt.Sprintf(format, args...))
	panic(errFatal)
}
