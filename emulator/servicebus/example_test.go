package servicebus_test

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/clock"
)

// Start an emulator on a free port, create a queue and use it with the unmodified SDK.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := servicebus.Start(ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-"})
	if err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: "orders"}); err != nil {
		panic(err)
	}

	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		panic(err)
	}
	defer client.Close(ctx)
	sender, _ := client.NewSender("orders", nil)
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("order #1")}, nil); err != nil {
		panic(err)
	}
	receiver, _ := client.NewReceiverForQueue("orders", nil)
	msgs, err := receiver.ReceiveMessages(ctx, 1, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(msgs[0].Body), msgs[0].DeliveryCount)
	if err := receiver.CompleteMessage(ctx, msgs[0], nil); err != nil {
		panic(err)
	}
	// Output: order #1 1
}

// A fake clock lets a test wait out a 30 s lock and a 1 h time to live in milliseconds: Advance
// moves the emulator's entity time and fires what fell due before it returns. (In a test,
// sbtest.New(t, sbtest.WithClock(clk), ...) does the Start, Stop and entity set-up.)
func ExampleConfig_clock() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	clk := clock.NewFake(time.Now())
	srv, err := servicebus.Start(ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", Clock: clk})
	if err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: "orders", LockDuration: 30 * time.Second,
		DeadLetteringOnMessageExpiration: true}); err != nil {
		panic(err)
	}
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		panic(err)
	}
	defer client.Close(ctx)
	sender, _ := client.NewSender("orders", nil)
	receiver, _ := client.NewReceiverForQueue("orders", nil)
	receive := func(r *azservicebus.Receiver) *azservicebus.ReceivedMessage {
		msgs, err := r.ReceiveMessages(ctx, 1, nil)
		if err != nil {
			panic(err)
		}
		return msgs[0]
	}
	start := time.Now()

	// A lock nobody settles lapses after 30 s: the message comes back, its delivery counted.
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("order #1")}, nil); err != nil {
		panic(err)
	}
	first := receive(receiver)
	clk.Advance(30 * time.Second)
	again := receive(receiver)
	fmt.Println(string(again.Body), "delivery", first.DeliveryCount, "then", again.DeliveryCount)
	if err := receiver.CompleteMessage(ctx, again, nil); err != nil {
		panic(err)
	}

	// A message nobody receives within its 1 h time to live is dead-lettered.
	ttl := time.Hour
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("order #2"), TimeToLive: &ttl}, nil); err != nil {
		panic(err)
	}
	clk.Advance(time.Hour)
	dlq, _ := client.NewReceiverForQueue("orders", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	dead := receive(dlq)
	fmt.Println(string(dead.Body), "dead-lettered:", *dead.DeadLetterReason)
	fmt.Println("1 h 30 s of entity time in under 5 s:", time.Since(start) < 5*time.Second)
	// Output:
	// order #1 delivery 1 then 2
	// order #2 dead-lettered: TTLExpiredException
	// 1 h 30 s of entity time in under 5 s: true
}
