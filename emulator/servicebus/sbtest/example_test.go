package sbtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/clock"
	"github.com/orderflow/orderflow/emulator/servicebus/sbtest"
)

// The body of a test: an emulator with a queue, the SDK on it, and a 30 s lock waited out in no
// time. (Compiled, not run, since New needs the test's t; TestFakeClockLockExpiryRedelivers runs
// the same steps, and servicebus.ExampleConfig_clock runs them with printed output.)
func ExampleNew() {
	var t *testing.T // the test's t
	ctx := context.Background()
	clk := clock.NewFake(time.Now())
	srv := sbtest.New(t, sbtest.WithClock(clk),
		sbtest.Queue(servicebus.QueueConfig{Name: "orders", LockDuration: 30 * time.Second}))
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	sender, _ := client.NewSender("orders", nil)
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("order #1")}, nil); err != nil {
		t.Fatal(err)
	}
	receiver, _ := client.NewReceiverForQueue("orders", nil)
	if _, err := receiver.ReceiveMessages(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second) // the lock lapses: the message is available again
	msgs, err := receiver.ReceiveMessages(ctx, 1, nil)
	if err != nil || msgs[0].DeliveryCount != 2 {
		t.Fatalf("redelivery: %v", err)
	}
}
