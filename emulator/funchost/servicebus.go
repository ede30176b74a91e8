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
// cardinality "many" hands the function a batch (up to maxMessageBatchSize)
// and settles the whole batch on its result; isSessionsEnabled receives
// session by session (up to maxConcurrentSessions at once, one invocation
// at a time per session, the session lock renewed meanwhile).
//
// prefetchCount is read but cannot be applied: azservicebus (v1.11) has no
// prefetch option (ReceiverOptions holds only ReceiveMode and SubQueue; link
// credit is what each ReceiveMessages call asks for). A value above 0 is
// logged as a warning at start.
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
	batch        bool // cardinality many
	maxBatch     int  // maxMessageBatchSize
	sessions     bool // isSessionsEnabled
	maxSessions  int  // maxConcurrentSessions
	sessionIdle  time.Duration

	conn *connState

	mu       sync.Mutex
	cancel   context.CancelFunc
	done     chan struct{}
	inflight sync.WaitGroup
}

func (t *sbTrigger) health() TriggerHealth { return t.conn.health() }

// sbOptions is host.json extensions.serviceBus (5.x names).
type sbOptions struct {
	PrefetchCount                *int   `json:"prefetchcount"`
	MaxConcurrentCalls           *int   `json:"maxconcurrentcalls"`
	MaxAutoLockRenewalDuration   string `json:"maxautolockrenewalduration"`
	AutoCompleteMessages         *bool  `json:"autocompletemessages"`
	MaxMessageBatchSize          *int   `json:"maxmessagebatchsize"`
	MaxConcurrentSessions        *int   `json:"maxconcurrentsessions"`
	MaxConcurrentCallsPerSession *int   `json:"maxconcurrentcallspersession"`
	SessionIdleTimeout           string `json:"sessionidletimeout"`
}

// Defaults of the extension's ServiceBusOptions (5.x).
const (
	sbDefaultMaxBatch    = 1000
	sbDefaultMaxSessions = 8
	// sbDefaultSessionIdle stands for the SDK's TryTimeout (60 s), the
	// extension's default sessionIdleTimeout.
	sbDefaultSessionIdle = 60 * time.Second
)

func newSBTrigger(h *Host, fn *Function, b *Binding) (Trigger, error) {
	t := &sbTrigger{host: h, fn: fn, binding: b, queue: b.Str("queueName"), topic: b.Str("topicName"), sub: b.Str("subscriptionName"),
		maxCalls: 16 * runtime.NumCPU(), renewFor: 5 * time.Minute, autoComplete: true, conn: newConnState(b.Type)}
	switch {
	case t.queue != "" && t.topic == "":
	case t.queue == "" && t.topic != "" && t.sub != "":
	default:
		return nil, bindingError("queueName", "serviceBusTrigger needs queueName, or topicName and subscriptionName")
	}
	t.sessions = b.Bool("isSessionsEnabled")
	switch b.Cardinality {
	case "", "one":
	case "many":
		t.batch = true
	default:
		return nil, bindingError("cardinality", "%q: want one or many", b.Cardinality)
	}
	t.maxBatch, t.maxSessions, t.sessionIdle = sbDefaultMaxBatch, sbDefaultMaxSessions, sbDefaultSessionIdle
	var opt sbOptions
	if raw, ok := h.app.Extensions["servicebus"]; ok {
		if err := json.Unmarshal(lowerKeys(raw), &opt); err != nil {
			return nil, hostError("extensions.serviceBus", "%v", err)
		}
	}
	if opt.MaxConcurrentCalls != nil && *opt.MaxConcurrentCalls > 0 {
		t.maxCalls = *opt.MaxConcurrentCalls
	}
	if opt.PrefetchCount != nil {
		if *opt.PrefetchCount < 0 {
			return nil, hostError("extensions.serviceBus.prefetchCount", "%d: must be 0 or more", *opt.PrefetchCount)
		}
		t.prefetch = *opt.PrefetchCount
	}
	if opt.MaxMessageBatchSize != nil {
		if *opt.MaxMessageBatchSize < 1 {
			return nil, hostError("extensions.serviceBus.maxMessageBatchSize", "%d: must be 1 or more", *opt.MaxMessageBatchSize)
		}
		t.maxBatch = *opt.MaxMessageBatchSize
	}
	if raw, ok := b.Props["maxmessagebatchsize"]; ok {
		var n int
		if err := json.Unmarshal(raw, &n); err != nil || n < 1 {
			return nil, bindingError("maxMessageBatchSize", "%s: must be a number, 1 or more", raw)
		}
		t.maxBatch = n
	}
	if opt.MaxConcurrentSessions != nil {
		if *opt.MaxConcurrentSessions < 1 {
			return nil, hostError("extensions.serviceBus.maxConcurrentSessions", "%d: must be 1 or more", *opt.MaxConcurrentSessions)
		}
		t.maxSessions = *opt.MaxConcurrentSessions
	}
	if n := opt.MaxConcurrentCallsPerSession; n != nil && *n != 1 && t.sessions {
		h.log.Warn("extensions.serviceBus.maxConcurrentCallsPerSession is not emulated: each session runs one invocation at a time", "function", fn.Name, "maxConcurrentCallsPerSession", *n)
	}
	if opt.SessionIdleTimeout != "" {
		d, err := parseTimeSpan(opt.SessionIdleTimeout)
		if err != nil || d <= 0 {
			return nil, hostError("extensions.serviceBus.sessionIdleTimeout", "%q: want a positive TimeSpan", opt.SessionIdleTimeout)
		}
		t.sessionIdle = d
	}
	if opt.MaxAutoLockRenewalDuration != "" {
		d, err := parseTimeSpan(opt.MaxAutoLockRenewalDuration)
		if err != nil {
			return nil, hostError("extensions.serviceBus.maxAutoLockRenewalDuration", "%q: %v", opt.MaxAutoLockRenewalDuration, err)
		}
		t.renewFor = d // negative means infinite
	}
	if opt.AutoCompleteMessages != nil {
		t.autoComplete = *opt.AutoCompleteMessages
	}
	if _, ok := b.Props["autocompletemessages"]; ok {
		t.autoComplete = b.Bool("autoCompleteMessages")
	}
	if t.prefetch > 0 {
		h.log.Warn("extensions.serviceBus.prefetchCount cannot be applied: the Go Service Bus SDK has no prefetch; each receive asks for as many messages as there are free invocation slots", "function", fn.Name, "prefetchCount", t.prefetch)
	}
	if !t.autoComplete {
		h.log.Warn("autoCompleteMessages=false: a custom handler cannot settle messages, so successful ones are redelivered after the lock expires", "function", fn.Name)
	}
	newClient, err := sbConnection(h.app.settings, b.Str("connection"))
	if err != nil {
		return nil, bindingError("connection", "%v", err)
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
	return nil, fmt.Errorf("service bus connection %q: no app setting %q, %q or %q", name, name, "AzureWebJobs"+name, name+"__fullyQualifiedNamespace")
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
		t.conn.set(0, err)
		t.host.log.Warn("service bus receiver failed; retrying", "function", t.fn.Name, "entity", t.entity(), "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// sbReceiver is what a trigger needs of a Receiver or a SessionReceiver.
type sbReceiver interface {
	ReceiveMessages(ctx context.Context, maxMessages int, options *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error)
	CompleteMessage(ctx context.Context, message *azservicebus.ReceivedMessage, options *azservicebus.CompleteMessageOptions) error
	AbandonMessage(ctx context.Context, message *azservicebus.ReceivedMessage, options *azservicebus.AbandonMessageOptions) error
}

// sbConn is one client connection's context for invocations.
type sbConn struct {
	fqns, identifier string
}

func (t *sbTrigger) receive(ctx context.Context, d Dispatcher, backoff *time.Duration) error {
	client, fqns, err := t.newClient()
	if err != nil {
		return err
	}
	closeCtx := context.WithoutCancel(ctx)
	defer client.Close(closeCtx)
	conn := sbConn{fqns: fqns, identifier: fqns + "-" + uuid.NewString()}
	if t.sessions {
		return t.receiveSessions(ctx, d, client, conn, backoff)
	}
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
	// A receive waits for messages; a peek proves the connection (and the
	// entity) at once, for the health report.
	peekCtx, cancelPeek := context.WithTimeout(ctx, 5*time.Second)
	_, err = r.PeekMessages(peekCtx, 1, nil)
	cancelPeek()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("connecting to %s: %w", t.entity(), err)
	}
	t.conn.set(0, nil)
	slots := make(chan struct{}, t.maxCalls)
	for range t.maxCalls {
		slots <- struct{}{}
	}
	t.host.log.Info("service bus receiver started", "function", t.fn.Name, "entity", t.entity(), "maxConcurrentCalls", t.maxCalls,
		"cardinality", map[bool]string{false: "one", true: "many"}[t.batch], "prefetchCount", t.prefetch)
	renew := func(ctx context.Context, m *azservicebus.ReceivedMessage) error {
		return r.RenewMessageLock(ctx, m, nil)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.host.Done():
			// The host gave up on the handler: stop receiving, as the real
			// host stops; unreceived messages stay in the entity.
			return ErrGaveUp
		case <-slots:
		}
		// One slot is one invocation: a batch of up to maxMessageBatchSize,
		// or, one message per invocation, as many messages as free slots.
		n, want := 1, 1
		if t.batch {
			want = t.maxBatch
		} else {
		more:
			for n < t.maxCalls {
				select {
				case <-slots:
					n++
				default:
					break more
				}
			}
			want = n
		}
		msgs, err := r.ReceiveMessages(ctx, want, t.receiveOptions())
		used := len(msgs)
		if t.batch && used > 0 {
			used = 1
		}
		for range n - used {
			slots <- struct{}{}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("receiving: %w", err)
		}
		*backoff = 100 * time.Millisecond
		t.conn.set(0, nil)
		for _, group := range t.groups(msgs) {
			t.inflight.Add(1)
			go func() {
				defer t.inflight.Done()
				defer func() { slots <- struct{}{} }()
				t.handle(ctx, d, r, group, conn, nil, renew)
			}()
		}
	}
}

// receiveOptions: return as soon as one message is there for single
// dispatch (the SDK's default waits 20 ms for more, which is latency on
// every dispatch); let a batch fill for the SDK's default 20 ms.
func (t *sbTrigger) receiveOptions() *azservicebus.ReceiveMessagesOptions {
	if t.batch {
		return nil
	}
	return &azservicebus.ReceiveMessagesOptions{TimeAfterFirstMessage: time.Millisecond}
}

// groups splits received messages into invocations.
func (t *sbTrigger) groups(msgs []*azservicebus.ReceivedMessage) [][]*azservicebus.ReceivedMessage {
	if len(msgs) == 0 {
		return nil
	}
	if t.batch {
		return [][]*azservicebus.ReceivedMessage{msgs}
	}
	out := make([][]*azservicebus.ReceivedMessage, len(msgs))
	for i, m := range msgs {
		out[i] = []*azservicebus.ReceivedMessage{m}
	}
	return out
}

// receiveSessions runs maxConcurrentSessions session workers: each accepts
// the next available session, runs its messages one invocation at a time
// (the extension's maxConcurrentCallsPerSession default of 1), and releases
// the session once it stays idle for sessionIdleTimeout.
func (t *sbTrigger) receiveSessions(ctx context.Context, d Dispatcher, client *azservicebus.Client, conn sbConn, backoff *time.Duration) error {
	t.host.log.Info("service bus session receiver started", "function", t.fn.Name, "entity", t.entity(), "maxConcurrentSessions", t.maxSessions,
		"sessionIdleTimeout", t.sessionIdle, "cardinality", map[bool]string{false: "one", true: "many"}[t.batch])
	errs := make(chan error, t.maxSessions)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range t.maxSessions {
		go func() { errs <- t.sessionWorker(wctx, d, client, conn, backoff) }()
	}
	var first error
	for range t.maxSessions {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel() // reconnect all workers with a fresh client
		}
	}
	return first
}

func (t *sbTrigger) sessionWorker(ctx context.Context, d Dispatcher, client *azservicebus.Client, conn sbConn, backoff *time.Duration) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.host.Done():
			return ErrGaveUp
		default:
		}
		var sr *azservicebus.SessionReceiver
		var err error
		if t.queue != "" {
			sr, err = client.AcceptNextSessionForQueue(ctx, t.queue, nil)
		} else {
			sr, err = client.AcceptNextSessionForSubscription(ctx, t.topic, t.sub, nil)
		}
		var sbErr *azservicebus.Error
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &sbErr) && sbErr.Code == azservicebus.CodeTimeout:
			t.conn.set(0, nil)
			continue // no session with messages right now
		case err != nil:
			return fmt.Errorf("accepting the next session: %w", err)
		}
		*backoff = 100 * time.Millisecond
		t.conn.set(0, nil)
		err = t.runSession(ctx, d, sr, conn)
		_ = sr.Close(context.WithoutCancel(ctx))
		if err != nil {
			return err
		}
	}
}

// runSession invokes the function for a session's messages until the
// session stays idle for sessionIdleTimeout.
func (t *sbTrigger) runSession(ctx context.Context, d Dispatcher, sr *azservicebus.SessionReceiver, conn sbConn) error {
	sess := &sbSession{lockedUntil: sr.LockedUntil}
	renew := func(ctx context.Context, _ *azservicebus.ReceivedMessage) error { return sr.RenewSessionLock(ctx, nil) }
	want := 1
	if t.batch {
		want = t.maxBatch
	}
	for {
		idleCtx, cancel := context.WithTimeout(ctx, t.sessionIdle)
		msgs, err := sr.ReceiveMessages(idleCtx, want, t.receiveOptions())
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded) || (err == nil && len(msgs) == 0):
			t.host.log.Debug("session idle; releasing it", "function", t.fn.Name, "sessionId", sr.SessionID())
			return nil
		case err != nil:
			var sbErr *azservicebus.Error
			if errors.As(err, &sbErr) && sbErr.Code == azservicebus.CodeLockLost {
				t.host.log.Warn("session lock lost; accepting another session", "function", t.fn.Name, "sessionId", sr.SessionID())
				return nil
			}
			return fmt.Errorf("receiving from session %q: %w", sr.SessionID(), err)
		}
		for _, group := range t.groups(msgs) {
			t.inflight.Add(1)
			t.handle(ctx, d, sr, group, conn, sess, renew)
			t.inflight.Done()
		}
	}
}

// sbSession is the session a message came from, for its metadata.
type sbSession struct{ lockedUntil func() time.Time }

// handle invokes the function for one message or one batch, renewing the
// lock meanwhile (single messages and sessions, up to
// maxAutoLockRenewalDuration; the extension renews no batch locks), and
// settles every message on the result: complete on success
// (autoCompleteMessages), abandon on failure.
func (t *sbTrigger) handle(ctx context.Context, d Dispatcher, r sbReceiver, msgs []*azservicebus.ReceivedMessage, conn sbConn, sess *sbSession,
	renew func(context.Context, *azservicebus.ReceivedMessage) error) {
	// The payload is built before renewal starts: the SDK updates a session
	// receiver's LockedUntil on renewal without synchronisation.
	var p *Payload
	if t.batch {
		p = sbBatchPayload(t.binding, msgs, conn, sess)
	} else {
		p = sbPayload(t.binding, msgs[0], conn, sess)
	}
	invCtx, span := t.processSpan(context.WithoutCancel(ctx), msgs)
	renewCtx, stopRenew := context.WithCancel(invCtx)
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		switch {
		case sess != nil:
			t.renewLock(renewCtx, sess.lockedUntil, func(ctx context.Context) error { return renew(ctx, nil) })
		case !t.batch:
			m := msgs[0]
			if m.LockedUntil != nil {
				t.renewLock(renewCtx, func() time.Time { return *m.LockedUntil }, func(ctx context.Context) error { return renew(ctx, m) })
			}
		}
	}()
	reason := fmt.Sprintf("New ServiceBus message detected on '%s'.", t.entity())
	if t.batch {
		reason = fmt.Sprintf("New ServiceBus batch of %d messages detected on '%s'.", len(msgs), t.entity())
	}
	_, err := d.Invoke(invCtx, Invocation{Function: t.fn.Name, Reason: reason, Payload: p})
	disposition := "complete"
	switch {
	case err == nil && !t.autoComplete:
		disposition = "none"
	case err != nil:
		disposition = "abandon"
	}
	defer func() { settled(span, disposition, err) }()
	stopRenew()
	<-renewDone
	settleCtx, cancel := context.WithTimeout(invCtx, 30*time.Second)
	defer cancel()
	for _, m := range msgs {
		switch {
		case err == nil && t.autoComplete:
			if cerr := r.CompleteMessage(settleCtx, m, nil); cerr != nil {
				t.host.log.Warn("complete failed; the message will be redelivered", "function", t.fn.Name, "err", cerr)
			}
		case err == nil:
			// autoCompleteMessages=false: nothing settles it (see newSBTrigger).
		default:
			t.host.tel.count(settleCtx, t.host.tel.retried, t.fn.Name, "servicebus")
			if aerr := r.AbandonMessage(settleCtx, m, nil); aerr != nil {
				t.host.log.Warn("abandon failed; the lock will expire", "function", t.fn.Name, "err", aerr)
			}
		}
	}
}

// renewLock keeps a lock while the invocation runs, renewing when a third
// of the remaining lock time has passed (leaving room for a slow
// management round trip), for at most maxAutoLockRenewalDuration.
func (t *sbTrigger) renewLock(ctx context.Context, lockedUntil func() time.Time, renew func(context.Context) error) {
	if t.renewFor == 0 {
		return
	}
	var deadline <-chan time.Time
	if t.renewFor > 0 {
		tm := time.NewTimer(t.renewFor)
		defer tm.Stop()
		deadline = tm.C
	}
	for {
		wait := max(time.Until(lockedUntil())/3, 100*time.Millisecond)
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-time.After(wait):
		}
		if err := renew(ctx); err != nil {
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
