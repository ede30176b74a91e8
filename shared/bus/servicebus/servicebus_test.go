package servicebus_test

import (
	"context"
	"errors"
	"testing"

	"github.com/orderflow/orderflow/shared/bus"
	"github.com/orderflow/orderflow/shared/bus/servicebus"
)

func setup(t *testing.T) bus.Message {
	t.Helper()
	return bus.Message{ID: "e-1", Type: "OrderCreated", Subject: "order.created", ContentType: "application/json", Body: []byte(`{"a":1}`)}
}

func TestMessageMapping(t *testing.T) {
	t.Parallel()
	m := setup(t)
	got := servicebus.Message(m)
	if got.MessageID == nil || *got.MessageID != "e-1" || got.ContentType == nil || *got.ContentType != "application/json" ||
		got.Subject == nil || *got.Subject != "order.created" || string(got.Body) != `{"a":1}` ||
		got.ApplicationProperties["type"] != "OrderCreated" {
		t.Fatalf("mapping wrong: %+v", got)
	}
	empty := servicebus.Message(bus.Message{Body: []byte("x")})
	if empty.MessageID != nil || empty.ContentType != nil || empty.Subject != nil || empty.ApplicationProperties != nil {
		t.Fatalf("empty fields must stay unset: %+v", empty)
	}
}

func TestNewNeedsConnection(t *testing.T) {
	t.Parallel()
	_, err := servicebus.New(servicebus.Config{})
	var be *bus.BrokerError
	if !errors.As(err, &be) || be.Op != "configure" {
		t.Fatalf("want configure error, got %v", err)
	}
}

func TestConnectionStringPublisherLifecycle(t *testing.T) {
	t.Parallel()
	// A syntactically valid connection string: New must not do I/O, and
	// Close must be idempotent and make Publish fail with ErrClosed.
	p, err := servicebus.New(servicebus.Config{ConnectionString: "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0;UseDevelopmentEmulator=true"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := p.Publish(ctx, setup(t)); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
}

func TestCredentialFromIdentitySettings(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"managedidentity", ""} {
		c, err := servicebus.Credential(kind, "00000000-0000-0000-0000-000000000001")
		if err != nil || c == nil {
			t.Fatalf("credential %q: %v", kind, err)
		}
	}
	p, err := servicebus.New(servicebus.Config{Namespace: "ns.servicebus.windows.net", Credential: "managedidentity"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
