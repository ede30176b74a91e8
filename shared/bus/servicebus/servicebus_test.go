package servicebus_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

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
	for _, c := range []struct {
		kind, clientID string
		managed        bool
	}{
		{"managedidentity", "00000000-0000-0000-0000-000000000001", true}, // the Bicep's settings
		{"ManagedIdentity", "", true},                                     // system-assigned
		{"", "00000000-0000-0000-0000-000000000001", false},               // clientId alone does not pick MI, as in Functions
		{"azurecli", "", false},
		{"", "", false},
	} {
		cred, err := servicebus.Credential(c.kind, c.clientID)
		if err != nil {
			t.Fatalf("credential %q/%q: %v", c.kind, c.clientID, err)
		}
		_, mi := cred.(*azidentity.ManagedIdentityCredential)
		_, def := cred.(*azidentity.DefaultAzureCredential)
		if mi != c.managed || def == c.managed {
			t.Errorf("credential %q/%q is %T, want managed identity=%v", c.kind, c.clientID, cred, c.managed)
		}
	}
	p, err := servicebus.New(servicebus.Config{Namespace: "ns.servicebus.windows.net", Credential: "managedidentity", ClientID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// tokenOnly is a credential that must not be needed before TLS is up.
type tokenOnly struct{ calls atomic.Int32 }

func (c *tokenOnly) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// firstByte accepts one connection on a loopback listener and reports the
// first byte the client sends.
func firstByte(t *testing.T) (addr string, got <-chan byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	ch := make(chan byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err == nil {
			ch <- b[0]
		}
	}()
	return ln.Addr().String(), ch
}

// TestNamespaceUsesTokenCredentialOverTLS shows which client New builds
// without the network: with only a namespace it is azservicebus.NewClient
// with the token credential, which opens TLS (a handshake record, 0x16)
// to the namespace; a connection string to the emulator opens plain AMQP
// ('A' of the protocol header). The TLS handshake then fails because the
// listener is no TLS server, so no token is ever requested.
func TestNamespaceUsesTokenCredentialOverTLS(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		cfg  func(addr string, cred *tokenOnly) servicebus.Config
		want byte
	}{
		"namespace": {func(addr string, cred *tokenOnly) servicebus.Config {
			return servicebus.Config{Namespace: addr, TokenCredential: cred}
		}, 0x16},
		"connection string wins": {func(addr string, cred *tokenOnly) servicebus.Config {
			return servicebus.Config{Namespace: "ns.servicebus.windows.net", TokenCredential: cred,
				ConnectionString: "Endpoint=sb://" + addr + "/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0;UseDevelopmentEmulator=true"}
		}, 'A'},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr, got := firstByte(t)
			cred := &tokenOnly{}
			p, err := servicebus.New(c.cfg(addr, cred))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close(context.Background()) })
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := p.Check(ctx); err == nil {
				t.Fatal("check against a silent listener must fail")
			}
			select {
			case b := <-got:
				if b != c.want {
					t.Fatalf("first byte 0x%02x, want 0x%02x", b, c.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the client never connected to the namespace")
			}
			if n := cred.calls.Load(); n != 0 {
				t.Fatalf("%d token requests before a TLS session existed", n)
			}
		})
	}
}
