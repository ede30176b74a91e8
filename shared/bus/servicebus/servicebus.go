// Package servicebus publishes order events to an Azure Service Bus topic
// with azservicebus. Entities (topic, subscriptions, dead-lettering) are
// provisioned by configuration (Bicep, the emulator's Config.json), never
// by this adapter.
package servicebus

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/orderflow/orderflow/shared/bus"
	"github.com/orderflow/orderflow/shared/identity"
	"github.com/orderflow/orderflow/shared/topology"
)

const broker = "servicebus"

// Config configures a Publisher: either ConnectionString, or Namespace with
// an Entra ID credential.
type Config struct {
	// ConnectionString is a Service Bus connection string. Default: empty.
	ConnectionString string
	// Namespace is the fully qualified namespace
	// (<name>.servicebus.windows.net), used when ConnectionString is empty.
	Namespace string
	// Credential is "managedidentity" for a managed identity; anything else
	// uses the default Azure credential chain. Default: empty.
	Credential string
	// ClientID selects a user-assigned managed identity. Default: empty.
	ClientID string
	// TokenCredential, when set, is used with Namespace instead of the
	// credential that Credential and ClientID select (tests pass a fake).
	// Default: nil.
	TokenCredential azcore.TokenCredential
	// Topic is the topic to send to. Default: topology.Default().Topic.
	Topic string
}

// Publisher is a bus.Publisher on a Service Bus topic.
type Publisher struct {
	topic string

	mu     sync.Mutex
	client *azservicebus.Client
	sender *azservicebus.Sender
	closed bool
}

var _ bus.Publisher = (*Publisher)(nil)

// New creates the client; azservicebus connects lazily on first use.
func New(cfg Config) (*Publisher, error) {
	if cfg.Topic == "" {
		cfg.Topic = topology.Default().Topic
	}
	client, err := newClient(cfg)
	if err != nil {
		return nil, &bus.BrokerError{Broker: broker, Op: "configure", Err: err}
	}
	sender, err := client.NewSender(cfg.Topic, nil)
	if err != nil {
		return nil, &bus.BrokerError{Broker: broker, Op: "configure", Err: err}
	}
	return &Publisher{topic: cfg.Topic, client: client, sender: sender}, nil
}

func newClient(cfg Config) (*azservicebus.Client, error) {
	if cfg.ConnectionString != "" {
		return azservicebus.NewClientFromConnectionString(cfg.ConnectionString, nil)
	}
	if cfg.Namespace == "" {
		return nil, errors.New("servicebus: ConnectionString or Namespace is required")
	}
	cred := cfg.TokenCredential
	if cred == nil {
		var err error
		if cred, err = Credential(cfg.Credential, cfg.ClientID); err != nil {
			return nil, err
		}
	}
	// Token credentials always connect with TLS (amqps) on port 5671, or
	// on the port given as <host>:<port>.
	return azservicebus.NewClient(cfg.Namespace, cred, nil)
}

// Credential maps the Functions identity settings (<conn>__credential,
// <conn>__clientId) to a credential, as the Functions host does: managed
// identity only when the credential setting says managedidentity, so a
// client id alone selects nothing (docs/functions-protocol.md 7).
func Credential(kind, clientID string) (azcore.TokenCredential, error) {
	return identity.Credential(strings.EqualFold(kind, "managedidentity"), clientID)
}

// Message maps a bus.Message to a Service Bus message: message id, content
// type and subject as system properties, the event type as the "type"
// application property, the body as a single data section.
func Message(m bus.Message) *azservicebus.Message {
	msg := &azservicebus.Message{Body: m.Body}
	if m.ID != "" {
		msg.MessageID = &m.ID
	}
	if m.ContentType != "" {
		msg.ContentType = &m.ContentType
	}
	if m.Subject != "" {
		msg.Subject = &m.Subject
	}
	if m.Type != "" || len(m.Properties) > 0 {
		msg.ApplicationProperties = make(map[string]any, len(m.Properties)+1)
		for k, v := range m.Properties {
			msg.ApplicationProperties[k] = v
		}
	}
	if m.Type != "" {
		msg.ApplicationProperties["type"] = m.Type
	}
	return msg
}

// Publish sends m to the topic; SendMessage returns after the broker
// accepted it.
func (p *Publisher) Publish(ctx context.Context, m bus.Message) error {
	p.mu.Lock()
	sender, closed := p.sender, p.closed
	p.mu.Unlock()
	if closed {
		return bus.ErrClosed
	}
	if err := sender.SendMessage(ctx, Message(m), nil); err != nil {
		return &bus.BrokerError{Broker: broker, Op: "send", Err: err}
	}
	return nil
}

// Check opens the sender link by sizing an empty batch, which needs the
// broker's answer.
func (p *Publisher) Check(ctx context.Context) error {
	p.mu.Lock()
	sender, closed := p.sender, p.closed
	p.mu.Unlock()
	if closed {
		return bus.ErrClosed
	}
	if _, err := sender.NewMessageBatch(ctx, nil); err != nil {
		return &bus.BrokerError{Broker: broker, Op: "check", Err: err}
	}
	return nil
}

// Close closes the sender and the client. It is idempotent.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	err := errors.Join(p.sender.Close(ctx), p.client.Close(ctx))
	if err != nil {
		return &bus.BrokerError{Broker: broker, Op: "close", Err: err}
	}
	return nil
}
