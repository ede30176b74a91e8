package deadletter

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// Inspector is a dead-letter Queue that also counts the consumers' queues;
// both brokers' implementations are one.
type Inspector interface {
	Queue
	Depth(ctx context.Context, consumer string) (Depth, error)
}

var (
	_ Inspector = (*RabbitMQ)(nil)
	_ Inspector = (*ServiceBus)(nil)
)

// Open connects to the broker named by the BROKER setting ("servicebus" or
// "rabbitmq") with the app's connection settings.
func Open(broker, rabbitURL, serviceBusConnection string) (Inspector, error) {
	switch broker {
	case "rabbitmq":
		return NewRabbitMQ(RabbitMQConfig{URL: rabbitURL})
	case "servicebus":
		if serviceBusConnection == "" {
			return nil, fmt.Errorf("ServiceBusConnection is not set")
		}
		client, err := azservicebus.NewClientFromConnectionString(serviceBusConnection, nil)
		if err != nil {
			return nil, fmt.Errorf("creating Service Bus client: %w", err)
		}
		return NewServiceBus(ServiceBusConfig{Client: client})
	}
	return nil, fmt.Errorf("unknown broker %q (want servicebus or rabbitmq)", broker)
}
