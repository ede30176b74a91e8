package servicebus_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	emulator "github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/shared/bus/bustest"
	"github.com/orderflow/orderflow/shared/bus/servicebus"
	"github.com/orderflow/orderflow/shared/topology"
)

// TEST_SERVICEBUS_CONNECTION points the conformance suite also at a Service
// Bus namespace (Azure, or an emulator running elsewhere) that has the
// topology of shared/topology provisioned. Without it only the in-process
// emulator runs the suite.
const liveEnv = "TEST_SERVICEBUS_CONNECTION"

// emulatorBackend starts a private in-process emulator with the topology's
// topic and subscriptions.
func emulatorBackend(t *testing.T) bustest.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, emulator.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("stopping the emulator: %v", err)
		}
	})
	top := topology.Default()
	if err := srv.CreateTopic(emulator.TopicConfig{Name: top.Topic}); err != nil {
		t.Fatal(err)
	}
	for _, s := range top.Subscriptions {
		if err := srv.CreateSubscription(top.Topic, emulator.SubscriptionConfig{Name: s.Name, MaxDeliveryCount: s.MaxDeliveryCount}); err != nil {
			t.Fatal(err)
		}
	}
	return backend(t, srv.ConnectionString(), top, false)
}

func liveBackend(t *testing.T) bustest.Backend {
	t.Helper()
	return backend(t, os.Getenv(liveEnv), topology.Default(), true)
}

// backend publishes with the adapter under test and receives with the SDK.
// shared marks a namespace that other runs may use at the same time.
func backend(t *testing.T, conn string, top topology.Topology, shared bool) bustest.Backend {
	t.Helper()
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
		Shared:    shared,
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

func TestConformanceEmulator(t *testing.T) {
	t.Parallel()
	bustest.Run(t, emulatorBackend)
}

func TestConformanceLive(t *testing.T) {
	t.Parallel()
	if os.Getenv(liveEnv) == "" {
		t.Skip(liveEnv + " is not set: no real namespace to run the suite against too (TestConformanceEmulator runs it in-process)")
	}
	bustest.Run(t, liveBackend)
}
