package servicebus_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/orderflow/orderflow/emulator/servicebus"
)

// Serve AMQP over TLS and connect as to Service Bus: a connection string without
// UseDevelopmentEmulator, the generated CA trusted through ClientTLSConfig, and the free port in
// CustomEndpoint (on 5671 it is not needed).
func ExampleServer_ClientTLSConfig() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := servicebus.Start(ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", AMQPSAddr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: "orders"}); err != nil {
		panic(err)
	}
	_, port, _ := net.SplitHostPort(srv.AMQPSAddr())

	client, err := azservicebus.NewClientFromConnectionString(
		"Endpoint=sb://localhost/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE",
		&azservicebus.ClientOptions{TLSConfig: srv.ClientTLSConfig(), CustomEndpoint: "localhost:" + port})
	if err != nil {
		panic(err)
	}
	defer client.Close(ctx)
	sender, _ := client.NewSender("orders", nil)
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("order #1 over TLS")}, nil); err != nil {
		panic(err)
	}
	receiver, _ := client.NewReceiverForQueue("orders", &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	msgs, err := receiver.ReceiveMessages(ctx, 1, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(msgs[0].Body))
	// Output: order #1 over TLS
}
