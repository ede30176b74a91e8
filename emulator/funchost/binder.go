package funchost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// outputTypes are the output binding types this host can bind; a function
// with any other output binding stops start-up (a missing extension).
var outputTypes = map[string]bool{"http": true, "rabbitmq": true, "servicebus": true}

// binder publishes queue output bindings after a successful invocation,
// converting values with the host's rules (functions-protocol 4.3). A publish failure fails the
// invocation, as in the real host (functions-protocol 4.3 item 7).
type binder struct {
	app *App
	log *slog.Logger

	mu     sync.Mutex
	rabbit map[string]*amqp.Connection     // by URL
	sb     map[string]*azservicebus.Client // by connection name
}

func newBinder(app *App, log *slog.Logger) *binder {
	return &binder{app: app, log: log, rabbit: map[string]*amqp.Connection{}, sb: map[string]*azservicebus.Client{}}
}

// bind publishes every queue output of fn found in res.
func (o *binder) bind(ctx context.Context, fn *Function, res *Result) error {
	hasReturn := false
	for _, b := range fn.Bindings {
		if b.Name == "$return" {
			hasReturn = true
		}
	}
	for i := range fn.Bindings {
		b := &fn.Bindings[i]
		if !strings.EqualFold(b.Direction, "out") {
			continue
		}
		kind := strings.ToLower(b.Type)
		if kind != "rabbitmq" && kind != "servicebus" {
			continue
		}
		raw, ok := res.Output(b.Name, hasReturn)
		if !ok {
			continue
		}
		msgs, decoded, err := outputMessages(raw, b.DataType)
		if err != nil {
			return fmt.Errorf("output binding %s: %w", b.Name, err)
		}
		if len(msgs) == 0 {
			continue
		}
		if kind == "rabbitmq" {
			err = o.publishRabbit(ctx, b, msgs)
		} else {
			err = o.sendServiceBus(ctx, b, msgs, decoded)
		}
		if err != nil {
			return fmt.Errorf("output binding %s: %w", b.Name, err)
		}
	}
	return nil
}

func (o *binder) rabbitConn(url string) (*amqp.Connection, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if c := o.rabbit[url]; c != nil && !c.IsClosed() {
		return c, nil
	}
	c, err := amqp.DialConfig(url, amqp.Config{Properties: amqp.Table{"connection_name": "funchost output bindings"}})
	if err != nil {
		return nil, fmt.Errorf("connecting to RabbitMQ: %w", err)
	}
	o.rabbit[url] = c
	return c, nil
}

// publishRabbit publishes like the extension's collector (functions-protocol 4.3 item 5): the
// default exchange, routing key = queueName, no properties; the queue must
// exist. Confirms make sure a success really reached the broker.
func (o *binder) publishRabbit(ctx context.Context, b *Binding, msgs [][]byte) error {
	name := b.Str("connectionStringSetting")
	url, _ := o.app.settings.get(name)
	if url == "" {
		return fmt.Errorf("%w: connectionStringSetting %q has no value", ErrConfig, name)
	}
	queue := b.Str("queueName")
	conn, err := o.rabbitConn(url)
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("opening channel: %w", err)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil); err != nil {
		return fmt.Errorf("queue %q must exist: %w", queue, err)
	}
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("confirm.select: %w", err)
	}
	var confs []*amqp.DeferredConfirmation
	for _, m := range msgs {
		c, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp.Publishing{Body: m})
		if err != nil {
			return fmt.Errorf("publishing to %q: %w", queue, err)
		}
		confs = append(confs, c)
	}
	for _, c := range confs {
		ok, err := c.WaitContext(ctx)
		if err != nil {
			return fmt.Errorf("waiting for confirm: %w", err)
		}
		if !ok {
			return errors.New("broker nacked an output message")
		}
	}
	return nil
}

func (o *binder) sbClient(name string) (*azservicebus.Client, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if c := o.sb[name]; c != nil {
		return c, nil
	}
	mk, err := sbConnection(o.app.settings, name)
	if err != nil {
		return nil, err
	}
	c, _, err := mk()
	if err != nil {
		return nil, err
	}
	o.sb[name] = c
	return c, nil
}

// sendServiceBus sends like the extension's default string collector (functions-protocol 4.3
// item 4): UTF-8 body, ContentType text/plain. A value the host decoded from
// base64 would reach that collector as byte[] and be sent as the text
// "System.Byte[]" (our reading of the host, functions-protocol 4.3); we
// reproduce that and say so in the log.
func (o *binder) sendServiceBus(ctx context.Context, b *Binding, msgs [][]byte, decoded bool) error {
	entity := b.Str("queueName")
	if entity == "" {
		entity = b.Str("topicName")
	}
	if entity == "" {
		return fmt.Errorf("%w: serviceBus output needs queueName or topicName", ErrConfig)
	}
	client, err := o.sbClient(b.Str("connection"))
	if err != nil {
		return err
	}
	sender, err := client.NewSender(entity, nil)
	if err != nil {
		return fmt.Errorf("sender for %q: %w", entity, err)
	}
	defer sender.Close(context.WithoutCancel(ctx))
	if decoded && !strings.EqualFold(b.DataType, "binary") {
		o.log.Warn("serviceBus output value is valid base64: the real host decodes it to bytes and (by our reading) sends the text System.Byte[]; set dataType binary on the binding", "binding", b.Name)
		msgs = [][]byte{[]byte("System.Byte[]")}
	}
	ct := "text/plain"
	for _, m := range msgs {
		if err := sender.SendMessage(ctx, &azservicebus.Message{Body: m, ContentType: &ct}, nil); err != nil {
			return fmt.Errorf("sending to %q: %w", entity, err)
		}
	}
	return nil
}

// close drops the cached connections.
func (o *binder) close(ctx context.Context) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for url, c := range o.rabbit {
		_ = c.Close()
		delete(o.rabbit, url)
	}
	for name, c := range o.sb {
		_ = c.Close(ctx)
		delete(o.sb, name)
	}
}
