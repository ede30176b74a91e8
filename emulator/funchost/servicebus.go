package funchost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"
)

// sbTrigger is serviceBusTrigger (extension 5.x, functions-protocol 2.5, 5.1): peek-lock
// receive from a queue or a topic subscription, up to maxConcurrentCalls
// invocations at once, lock renewal while an invocation runs (up to
// maxAutoLockRenewalDuration), complete on success (autoCompleteMessages),
// abandon on failure so the broker's MaxDeliveryCount dead-letters poison.
//
// prefetchCount is read but not emulated: the Go SDK has no prefetch; the
// receiver asks for as many messages as it has free invocation slots.
type sbTrigger struct {
	host         *Host
	fn           *Function
	binding      *Binding
	queue        string
	topic        string
	sub          string
	newClient    func() (*azservicebus.Client, string, error)
	maxCalls     int
	prefetch     int
	renewFor     time.Duration // 0 = no renewal, <0 = unlimited
	autoComplete bool

	mu       sync.Mutex
	cancel   context.CancelFunc
	done     chan struct{}
	inflight sync.WaitGroup
}

// sbOptions is host.json extensions.serviceBus (5.x names).
type sbOptions struct {
	PrefetchCount              *int   `json:"prefetchcount"`
	MaxConcurrentCalls         *int   `json:"maxconcurrentcalls"`
	MaxAutoLockRenewalDuration string `json:"maxautolockrenewalduration"`
	AutoCompleteMessages       *bool  `json:"autocompletemessages"`
}

func newSBTrigger(h *Host, fn *Function, b *Binding) (Trigger, error) {
	t := &sbTrigger{host: h, fn: fn, binding: b, queue: b.Str("queueName"), topic: b.Str("topicName"), sub: b.Str("subscriptionName"),
		maxCalls: 16 * runtime.NumCPU(), renewFor: 5 * time.Minute, autoComplete: true}
	switch {
	case t.queue != "" && t.topic == "":
	case t.queue == "" && t.topic != "" && t.sub != "":
	default:
		return nil, fmt.Errorf("%w: serviceBusTrigger needs queueName, or topicName and subscriptionName", ErrConfig)
	}
	if b.Bool("isSessionsEnabled") {
		return nil, fmt.Errorf("%w: session-enabled serviceBusTrigger is not supported by this host", ErrConfig)
	}
	if b.Cardinality == "many" {
		return nil, fmt.Errorf("%w: serviceBusTrigger with cardinality many is not supported by this host (its custom-handler shape is not established)", ErrConfig)
	}
	var opt sbOptions
	if raw, ok := h.app.Extensions["servicebus"]; ok {
		if err := json.Unmarshal(lowerKeys(raw), &opt); err != nil {
			return nil, fmt.Errorf("%w: extensions.serviceBus: %v", ErrConfig, err)
		}
	}
	if opt.MaxConcurrentCalls != nil && *opt.MaxConcurrentCalls > 0 {
		t.maxCalls = *opt.MaxConcurrentCalls
	}
	if opt.PrefetchCount != nil {
		t.prefetch = *opt.PrefetchCount
	}
	if opt.MaxAutoLockRenewalDuration != "" {
		d, err := parseTimeSpan(opt.MaxAutoLockRenewalDuration)
		if err != nil {
			return nil, fmt.Errorf("%w: maxAutoLockRenewalDuration: %v", ErrConfig, err)
		}
		t.renewFor = d // negative means infinite
	}
	if opt.AutoCompleteMessages != nil {
		t.autoComplete = *opt.AutoCompleteMessages
	}
	if _, ok := b.Props["autocompletemessages"]; ok {
		t.autoComplete = b.Bool("autoCompleteMessages")
	}
	if !t.autoComplete {
		h.log.Warn("autoCompleteMessages=false: a custom handler cannot settle messages, so successful ones are redelivered after the lock expires", "function", fn.Name)
	}
	newClient, err := sbConnection(h.app.settings, b.Str("connection"))
	if err != nil {
		return nil, err
	}
	t.newClient = newClient
	return t, nil
}

// sbConnection resolves the binding's connection like the extension: the
// setting <name> (or AzureWebJobs<name>) holding a connection string, or the
// identity settings <name>__fullyQualifiedNamespace (+ __credential,
// __clientId). An empty name means AzureWebJobsServiceBus (functions-protocol 7).
func sbConnection(st *settings, name string) (func() (*azservicebus.Client, string, error), error) {
	if name == "" {
		name = "AzureWebJobsServiceBus"
	}
	for _, key := range []string{name, "AzureWebJobs" + name} {
		if v, ok := st.get(key); ok && v != "" {
			conn := v
			return func() (*azservicebus.Client, string, error) {
				props, err := azservicebusNamespace(conn)
				if err != nil {
					return nil, "", err
				}
				c, err := azservicebus.NewClientFromConnectionString(conn, nil)
				if err != nil {
					return nil, "", fmt.Errorf("service bus client from connection string: %w", err)
				}
				return c, props, nil
			}, nil
		}
	}
	if fqns, ok := st.get(name + "__fullyQualifiedNamespace"); ok && fqns != "" {
		credKind, _ := st.get(name + "__credential")
		clientID, _ := st.get(name + "__clientId")
		return func() (*azservicebus.Client, string, error) {
			var cred azcore.TokenCredential
			var err error
			if strings.EqualFold(credKind, "managedidentity") {
				opts := &azidentity.ManagedIdentityCredentialOptions{}
				if clientID != "" {
					opts.ID = azidentity.ClientID(clientID)
				}
				cred, err = azidentity.NewManagedIdentityCredential(opts)
			} else {
				cred, err = azidentity.NewDefaultAzureCredential(nil)
			}
			if err != nil {
				return nil, "", fmt.Errorf("azure credential for %s: %w", name, err)
			}
			c, err := azservicebus.NewClient(fqns, cred, nil)
			if err != nil {
				return nil, "", fmt.Errorf("service bus client for %s: %w", fqns, err)
			}
			return c, fqns, nil
		}, nil
	}
	return nil, fmt.Errorf("%w: service bus connection %q: no setting %q, %q or %q", ErrConfig, name, name, "AzureWebJobs"+name, name+"__fullyQualifiedNamespace")
}

// azservicebusNamespace extracts the host of Endpoint=sb://host/ for the Client metadata.
func azservicebusNamespace(conn string) (string, error) {
	for _, part := range strings.Split(conn, ";") {
		k, v, ok := strings.Cut(part, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "Endpoint") {
			v = strings.TrimPrefix(strings.TrimSpace(v), "sb://")
			return strings.TrimSuffix(v, "/"), nil
		}
	}
	return "", fmt.Errorf("%w: service bus connection string has no Endpoint", ErrConfig)
}

func (t *sbTrigger) entity() string {
	if t.queue != "" {
		return t.queue
	}
	return t.topic + "/Subscriptions/" + t.sub
}

func (t *sbTrigger) describe(string) string { return "serviceBusTrigger" }

// Start launches the receive loop; connection problems are retried in the
// background with backoff, as the extension's listener does.
func (t *sbTrigger) Start(ctx context.Context, d Dispatcher) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cancel != nil {
		return fmt.Errorf("service bus trigger %s already started", t.fn.Name)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.cancel, t.done = cancel, make(chan struct{})
	go t.run(runCtx, d)
	return nil
}

// Stop stops receiving (messages fetched but not started are released by
// the SDK) and waits, bounded by ctx, for running invocations to settle.
func (t *sbTrigger) Stop(ctx context.Context) error {
	t.mu.Lock()
	cancel, done := t.cancel, t.done
	t.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping service bus receiver of %s: %w", t.fn.Name, ctx.Err())
	}
}

func (t *sbTrigger) run(ctx context.Context, d Dispatcher) {
	defer close(t.done)
	defer t.inflight.Wait()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := t.receive(ctx, d, &backoff)
		if ctx.Err() != nil || errors.Is(err, ErrGaveUp) {
			return
		}
		t.host.log.Warn("service bus receiver failed; retrying", "function", t.fn.Name, "entity", t.entity(), "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (t *sbTrigger) receive(ctx context.Context, d Dispatcher, backoff *time.Duration) error {
	client, fqns, err := t.newClient()
	if err != nil {
		return err
	}
	closeCtx := context.WithoutCancel(ctx)
	defer client.Close(closeCtx)
	var r *azservicebus.Receiver
	if t.queue != "" {
		r, err = client.NewReceiverForQueue(t.queue, nil)
	} else {
		r, err = client.NewReceiverForSubscription(t.topic, t.sub, nil)
	}
	if err != nil {
		return fmt.Errorf("creating receiver: %w", err)
	}
	defer r.Close(closeCtx)
	// Running invocations settle on this receiver: close it only after them.
	defer t.inflight.Wait()
	identifier := fqns + "-" + uuid.NewString()
	slots := make(chan struct{}, t.maxCalls)
	for range t.maxCalls {
		slots <- struct{}{}
	}
	t.host.log.Info("service bus receiver started", "function", t.fn.Name, "entity", t.entity(), "maxConcurrentCalls", t.maxCalls, "prefetchCount", t.prefetch)
	for {
		// Ask for as many messages as there are free invocation slots.
		select {
		case <-ctx.Done():
			return nil
		case <-t.host.Done():
			// The host gave up on the handler: stop receiving, as the real
			// host stops; unreceived messages stay in the entity.
			return ErrGaveUp
		case <-slots:
		}
		n := 1
	more:
		for n < t.maxCalls {
			select {
			case <-slots:
				n++
			default:
				break more
			}
		}
		// Return as soon as messages are there: the SDK's default waits 20 ms
		// for more after the first one, which is latency on every dispatch.
		msgs, err := r.ReceiveMessages(ctx, n, &azservicebus.ReceiveMessagesOptions{TimeAfterFirstMessage: time.Millisecond})
		for range n - len(msgs) {
			slots <- struct{}{}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("receiving: %w", err)
		}
		*backoff = 100 * time.Millisecond
		for _, m := range msgs {
			t.inflight.Add(1)
			go func() {
				defer t.inflight.Done()
				defer func() { slots <- struct{}{} }()
				t.handle(ctx, d, r, m, fqns, identifier)
			}()
		}
	}
}

// handle invokes the function for one message, renewing its lock meanwhile,
// and settles it.
func (t *sbTrigger) handle(ctx context.Context, d Dispatcher, r *azservicebus.Receiver, m *azservicebus.ReceivedMessage, fqns, identifier string) {
	invCtx := context.WithoutCancel(ctx)
	renewCtx, stopRenew := context.WithCancel(invCtx)
	renewDone := make(chan struct{})
	go func() { defer close(renewDone); t.renewLock(renewCtx, r, m) }()
	inv := Invocation{Function: t.fn.Name, Reason: fmt.Sprintf("New ServiceBus message detected on '%s'.", t.entity()), Payload: sbPayload(t.binding, m, fqns, identifier)}
	_, err := d.Invoke(invCtx, inv)
	stopRenew()
	<-renewDone
	settleCtx, cancel := context.WithTimeout(invCtx, 30*time.Second)
	defer cancel()
	switch {
	case err == nil && t.autoComplete:
		if cerr := r.CompleteMessage(settleCtx, m, nil); cerr != nil {
			t.host.log.Warn("complete failed; the message will be redelivered", "function", t.fn.Name, "err", cerr)
		}
	case err == nil:
		// autoCompleteMessages=false: nothing settles it (see newSBTrigger).
	default:
		if aerr := r.AbandonMessage(settleCtx, m, nil); aerr != nil {
			t.host.log.Warn("abandon failed; the lock will expire", "function", t.fn.Name, "err", aerr)
		}
	}
}

// renewLock keeps the peek-lock while the invocation runs, renewing when a
// third of the remaining lock time has passed (leaving room for a slow
// management round trip), for at most maxAutoLockRenewalDuration.
func (t *sbTrigger) renewLock(ctx context.Context, r *azservicebus.Receiver, m *azservicebus.ReceivedMessage) {
	if t.renewFor == 0 || m.LockedUntil == nil {
		return
	}
	var deadline <-chan time.Time
	if t.renewFor > 0 {
		tm := time.NewTimer(t.renewFor)
		defer tm.Stop()
		deadline = tm.C
	}
	for {
		wait := max(time.Until(*m.LockedUntil)/3, 100*time.Millisecond)
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-time.After(wait):
		}
		if err := r.RenewMessageLock(ctx, m, nil); err != nil {
			if ctx.Err() == nil {
				t.host.log.Warn("lock renewal failed", "function", t.fn.Name, "err", err)
			}
			return
		}
	}
}

// dotnetGUID formats 16 bytes as System.Guid does (first three groups
// little-endian): the lock token as the .NET SDK shows it.
func dotnetGUID(b [16]byte) string {
	var s [16]byte
	s[0], s[1], s[2], s[3] = b[3], b[2], b[1], b[0]
	s[4], s[5] = b[5], b[4]
	s[6], s[7] = b[7], b[6]
	copy(s[8:], b[8:])
	return uuid.UUID(s).String()
}

// sbPayload builds the invocation of a message (functions-protocol 2.5): the body as the
// trigger value, the binding data of ServiceBusTriggerBindingStrategy as
// Metadata, then the JSON-body spill.
func sbPayload(b *Binding, m *azservicebus.ReceivedMessage, fqns, identifier string) *Payload {
	p := &Payload{}
	p.Data.Set(b.Name, TriggerValue(m.Body, b.DataType))
	md := &p.Metadata
	optStr := func(key string, v *string) {
		if v != nil {
			md.Set(key, StringValue(*v))
		}
	}
	md.Set("DeliveryCount", IntValue(int64(m.DeliveryCount)))
	md.Set("LockToken", StringValue(dotnetGUID(m.LockToken)))
	if m.MessageID != "" {
		md.Set("MessageId", StringValue(m.MessageID))
	}
	if m.SequenceNumber != nil {
		md.Set("SequenceNumber", IntValue(*m.SequenceNumber))
	}
	if m.EnqueuedTime != nil {
		md.Set("EnqueuedTimeUtc", DateTimeValue(m.EnqueuedTime.UTC()))
		md.Set("EnqueuedTime", DateTimeOffsetValue(m.EnqueuedTime.UTC()))
	}
	if m.ExpiresAt != nil {
		md.Set("ExpiresAtUtc", DateTimeValue(m.ExpiresAt.UTC()))
		md.Set("ExpiresAt", DateTimeOffsetValue(m.ExpiresAt.UTC()))
	}
	optStr("ContentType", m.ContentType)
	optStr("CorrelationId", m.CorrelationID)
	optStr("ReplyTo", m.ReplyTo)
	optStr("To", m.To)
	optStr("Subject", m.Subject)
	optStr("Label", m.Subject)
	optStr("SessionId", m.SessionID)
	optStr("ReplyToSessionId", m.ReplyToSessionID)
	optStr("PartitionKey", m.PartitionKey)
	optStr("DeadLetterSource", m.DeadLetterSource)
	props := m.ApplicationProperties
	if props == nil {
		props = map[string]any{}
	}
	md.Set("ApplicationProperties", ObjectValue(props))
	md.Set("UserProperties", ObjectValue(props))
	for _, k := range []string{"MessageReceiver", "MessageSession", "MessageActions", "SessionActions", "ReceiveActions"} {
		md.Set(k, ObjectValue(map[string]any{}))
	}
	client := Fields{}
	client.Set("FullyQualifiedNamespace", rawValue(mustJSON(fqns)))
	client.Set("IsClosed", rawValue(mustJSON(false)))
	client.Set("TransportType", rawValue(mustJSON(0)))
	client.Set("Identifier", rawValue(mustJSON(identifier)))
	md.Set("Client", client.Value())
	if !strings.EqualFold(b.DataType, "binary") {
		md.SpillJSON(string(m.Body))
	}
	return p
}
