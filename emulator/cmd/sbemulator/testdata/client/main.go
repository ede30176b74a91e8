// Command client is a separate program that uses only the official
// azservicebus SDK and a connection string: it sends one message to a queue,
// receives it in peek-lock mode, completes it and prints its body. The
// emulator's tests run it against the standalone binary.
//
//	go run ./testdata/client -conn 'Endpoint=sb://127.0.0.1:5673;...;UseDevelopmentEmulator=true;' -queue demo
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

func main() {
	conn := flag.String("conn", "", "Service Bus connection string")
	queue := flag.String("queue", "", "queue name")
	body := flag.String("body", "hello from a separate program", "message body")
	endpoint := flag.String("custom-endpoint", "", "host:port to dial instead of the Endpoint's host (ClientOptions.CustomEndpoint)")
	flag.Parse()
	if err := run(*conn, *queue, *body, *endpoint); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(conn, queue, body, endpoint string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := azservicebus.NewClientFromConnectionString(conn, &azservicebus.ClientOptions{CustomEndpoint: endpoint})
	if err != nil {
		return err
	}
	defer client.Close(ctx)
	sender, err := client.NewSender(queue, nil)
	if err != nil {
		return err
	}
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte(body)}, nil); err != nil {
		return fmt.Errorf("sending: %w", err)
	}
	receiver, err := client.NewReceiverForQueue(queue, nil)
	if err != nil {
		return err
	}
	msgs, err := receiver.ReceiveMessages(ctx, 1, nil)
	if err != nil {
		return fmt.Errorf("receiving: %w", err)
	}
	if err := receiver.CompleteMessage(ctx, msgs[0], nil); err != nil {
		return fmt.Errorf("completing: %w", err)
	}
	fmt.Printf("received %q (delivery count %d, sequence number %d)\n", msgs[0].Body, msgs[0].DeliveryCount, *msgs[0].SequenceNumber)
	return nil
}
