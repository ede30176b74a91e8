package servicebus_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/orderflow/orderflow/shared/bus/bustest"
	"github.com/orderflow/orderflow/shared/bus/servicebus"
	"github.com/orderflow/orderflow/shared/topology"
)

// TEST_SERVICEBUS_CONNECTION points the conformance suite at a Service Bus
// namespace (the emulator or Azure) that has the topology of
// shared/topology provisioned.
const liveEnv = "TEST_SERVICEBUS_CONNECTION"

func liveBackend(t *testing.T) bustest.Backend {
	t.Helper()
	conn := os.Getenv(liveEnv)
	top := topology.Default()
	p, err := servicebus.New(servicebus.Config{ConnectionString: conn, Topic: top.Topic})
	if err != nil {
		t.Fatal(err)
	}
	client, err := azservicebus.NewClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	receivers := map[string]*azservicebus.Receiver{}
	for _, s := range top.Subscriptions {
		r, err := client.NewReceiverForSubscription(top.Topic, s.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		receivers[s.Name] = r
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Close(ctx)
		for _, r := range receivers {
			_ = r.Close(ctx)
		}
		_ = client.Close(ctx)
	})
	receive := func(ctx context.Context, sub string) (*azservicebus.ReceivedMessage, error) {
		msgs, err := receivers[sub].ReceiveMessages(ctx, 1, nil)
		if err != nil {
			return nil, err
		}
		if len(msgs) == 0 {
			return nil, context.DeadlineExceeded
		}
		return msgs[0], receivers[sub].CompleteMessage(ctx, msgs[0], nil)
	}
	return bustest.Backend{
		Publisher: p,
		Topology:  top,
		Shared:    true,
		Receive: func(ctx context.Context, sub string) (bustest.Received, error) {
			m, err := receive(ctx, sub)
			if err != nil {
				return bustest.Received{}, err
			}
			r := bustest.Received{ID: m.MessageID, Body: m.Body}
			if m.ContentType != nil {
				r.ContentType = *m.ContentType
			}
			if m.Subject != nil {
				r.Subject = *m.Subject
			}
			r.Type, _ = m.ApplicationProperties["type"].(string)
			return r, nil
		},
		Purge: func(ctx context.Context) error {
			for _, s := range top.Subscriptions {
				for {
					short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
					_, err := receive(short, s.Name)
					cancel()
					if errors.Is(err, context.DeadlineExceeded) {
						break
					}
					if err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
}

func TestConformanceLive(t *testing.T) {
	t.Parallel()
	if os.Getenv(liveEnv) == "" {
		t.Skip(liveEnv + " is not set: no Service Bus namespace or emulator to run the conformance suite against")
	}
	bustest.Run(t, liveBackend)
}
