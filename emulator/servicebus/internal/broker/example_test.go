package broker_test

import (
	"fmt"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// A queue round trip as the wire layer drives it: send, receive with
// PeekLock, abandon once, receive again and complete.
func Example() {
	b := broker.New(broker.Config{})
	defer b.Stop()
	if err := b.CreateQueue(broker.QueueConfig{Name: "orders", MaxDeliveryCount: 3}); err != nil {
		panic(err)
	}
	seqs, _ := b.Send("orders", []*broker.Message{{Body: []byte("hello")}})
	fmt.Println("sent", seqs)

	r, _ := b.NewReceiver("ORDERS", broker.PeekLock)
	defer r.Close()
	msgs, _ := r.TryReceive(10)
	fmt.Println("delivery", msgs[0].DeliveryCount+1, "of seq", msgs[0].SequenceNumber)
	_ = b.Abandon("orders", msgs[0].LockToken, map[string]any{"retry": true})

	msgs, _ = r.TryReceive(10)
	fmt.Println("delivery", msgs[0].DeliveryCount+1, "retry:", msgs[0].ApplicationProperties["retry"])
	fmt.Println("complete:", b.Complete("orders", msgs[0].LockToken))
	fmt.Println("again:", b.Complete("orders", msgs[0].LockToken) != nil)
	// Output:
	// sent [1]
	// delivery 1 of seq 1
	// delivery 2 retry: true
	// complete: <nil>
	// again: true
}
