package servicebus_test

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/orderflow/orderflow/emulator/servicebus"
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
