package servicebus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"

	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/clock"
	"github.com/orderflow/orderflow/emulator/servicebus/sbtest"
	"github.com/orderflow/orderflow/internal/testkit"
)

// Sessions through the real azservicebus SDK (v1.11): session receivers by id and accept-next,
// session locks, state and listing (servicebus-amqp 3.6 and 6).

type sessionBundle struct {
	srv    *servicebus.Server
	client *azservicebus.Client
	queue  string // RequiresSession
	topic  string // with subscriptions "s" (RequiresSession) and "plain"
	ctx    context.Context
	// clock is the emulator's entity time: it stands still until the test advances it.
	clock *clock.Fake
}

// setupSessions starts an emulator on 127.0.0.1:0 (accept-next default wait 300 ms, a fake clock)
// with a unique session-enabled queue (q's other settings apply) and a unique topic with a
// session-enabled subscription "s" and a plain one, "plain".
func setupSessions(t *testing.T, q servicebus.QueueConfig) sessionBundle {
	t.Helper()
	q.Name, q.RequiresSession = uniqueName(t), true
	topic := uniqueName(t) + "-topic"
	clk := clock.NewFake(time.Now())
	// A short server-side accept-next wait for clients that send no com.microsoft:timeout (the SDK
	// sends one whenever its context has a deadline); it is connection time, not the fake clock's.
	srv := sbtest.New(t, sbtest.WithClock(clk),
		sbtest.WithConfig(servicebus.Config{AcceptNextSessionTimeout: 300 * time.Millisecond, Logger: testLogger(t)}),
		sbtest.Queue(q),
		sbtest.Topic(servicebus.TopicConfig{Name: topic},
			servicebus.SubscriptionConfig{Name: "s", RequiresSession: true}, servicebus.SubscriptionConfig{Name: "plain"}))
	return sessionBundle{srv: srv, client: newClient(t, srv), queue: q.Name, topic: topic, ctx: testContext(t), clock: clk}
}

// send sends (session, body) pairs to entity in one batch, in order.
func (b sessionBundle) send(t *testing.T, entity string, pairs ...string) {
	t.Helper()
	sender, err := b.client.NewSender(entity, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(context.Background())
	batch, err := sender.NewMessageBatch(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := batch.AddMessage(&azservicebus.Message{SessionID: &pairs[i], Body: []byte(pairs[i+1])}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := sender.SendMessageBatch(b.ctx, batch, nil); err != nil {
		t.Fatalf("SendMessageBatch: %v", err)
	}
}

func (b sessionBundle) accept(t *testing.T, id string) *azservicebus.SessionReceiver {
	t.Helper()
	r, err := b.client.AcceptSessionForQueue(b.ctx, b.queue, id, nil)
	if err != nil {
		t.Fatalf("AcceptSessionForQueue(%q): %v", id, err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// dialAMQP opens a go-amqp connection (SASL PLAIN) for what the SDK cannot express, closed
// when the test ends.
func (b sessionBundle) dialAMQP(t *testing.T) *amqp.Conn {
	t.Helper()
	conn, err := amqp.Dial(b.ctx, "amqp://"+b.srv.AMQPAddr(), &amqp.ConnOptions{
		SASLType: amqp.SASLTypePlain(servicebus.DefaultKeyName, servicebus.DefaultKey)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestSessionAcceptByID(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	b.send(t, b.queue, "sa", "a1", "sb", "b1", "sa", "a2", "sa", "a3")
	r := b.accept(t, "sa")
	// LockedUntil comes from com.microsoft:locked-until-utc (.NET ticks): now + the 1 min default lock.
	if left := time.Until(r.LockedUntil()); r.SessionID() != "sa" || left < 50*time.Second || left > 61*time.Second {
		t.Fatalf("SessionID %q LockedUntil %v (in %v)", r.SessionID(), r.LockedUntil(), left)
	}
	msgs := receiveN(t, b.ctx, r, 3)
	if got := bodiesOf(msgs); !slices.Equal(got, []string{"a1", "a2", "a3"}) {
		t.Fatalf("session sa got %v", got)
	}
	for _, m := range msgs {
		if m.SessionID == nil || *m.SessionID != "sa" {
			t.Errorf("message %s SessionID %v", m.Body, m.SessionID)
		}
		if err := r.CompleteMessage(b.ctx, m, nil); err != nil {
			t.Fatalf("CompleteMessage: %v", err)
		}
	}
	// Peek on a session receiver sees only its session: sa is empty now, sb still has b1.
	peeked, err := r.PeekMessages(b.ctx, 10, nil)
	if err != nil || len(peeked) != 0 {
		t.Fatalf("PeekMessages on sa = %v, %v", bodiesOf(peeked), err)
	}
	if got := bodiesOf(receiveN(t, b.ctx, b.accept(t, "sb"), 1)); !slices.Equal(got, []string{"b1"}) {
		t.Fatalf("session sb got %v", got)
	}
}

func TestSessionAcceptNextPicksSessionWithMessages(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	b.accept(t, "held-and-empty")
	stateOnly := b.accept(t, "state-only")
	if err := stateOnly.SetSessionState(b.ctx, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if err := stateOnly.Close(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.send(t, b.queue, "full", "f1")
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	r, err := b.client.AcceptNextSessionForQueue(ctx, b.queue, nil)
	if err != nil {
		t.Fatalf("AcceptNextSessionForQueue: %v", err)
	}
	defer r.Close(context.Background())
	if r.SessionID() != "full" || r.LockedUntil().IsZero() {
		t.Fatalf("accepted %q, LockedUntil %v", r.SessionID(), r.LockedUntil())
	}
	if got := bodiesOf(receiveN(t, ctx, r, 1)); !slices.Equal(got, []string{"f1"}) {
		t.Fatalf("got %v", got)
	}
}

func TestSessionOrderWithTwoSessionsInterleaved(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	var pairs []string
	want := map[string][]string{}
	for i := range 20 {
		id := []string{"odd", "even"}[i%2]
		body := id + "-" + string(rune('a'+i))
		pairs = append(pairs, id, body)
		want[id] = append(want[id], body)
	}
	b.send(t, b.queue, pairs...)
	type result struct {
		id     string
		bodies []string
		err    error
	}
	results := make(chan result, 2)
	for _, id := range []string{"odd", "even"} {
		r := b.accept(t, id)
		go func() {
			res := result{id: id}
			for len(res.bodies) < 10 && res.err == nil {
				// Ask for exactly what is left, and wait for all of it: a
				// ReceiveMessages call that returns with credit left starts
				// the SDK's releaser, which releases the next message that
				// arrives and leaves the one after it prefetched, so the
				// next call returns them swapped (on Service Bus too). Every
				// message is sent before, so each batch fills at once.
				var msgs []*azservicebus.ReceivedMessage
				if msgs, res.err = r.ReceiveMessages(b.ctx, min(3, 10-len(res.bodies)),
					&azservicebus.ReceiveMessagesOptions{TimeAfterFirstMessage: 20 * time.Second}); res.err != nil {
					break
				}
				for _, m := range msgs {
					if res.err = r.CompleteMessage(b.ctx, m, nil); res.err != nil {
						break
					}
				}
				res.bodies = append(res.bodies, bodiesOf(msgs)...)
			}
			results <- res
		}()
	}
	got := map[string][]string{}
	for range 2 {
		res := <-results
		if res.err != nil {
			t.Fatalf("receiving session %s: %v", res.id, res.err)
		}
		got[res.id] = res.bodies
	}
	for _, id := range []string{"odd", "even"} {
		if !slices.Equal(got[id], want[id]) {
			t.Errorf("session %s got %v, want %v", id, got[id], want[id])
		}
	}
}

func TestSessionStateRoundTripAndClear(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	r := b.accept(t, "st") // a session without messages can be accepted
	state, err := r.GetSessionState(b.ctx, nil)
	if err != nil || state != nil {
		t.Fatalf("initial state %q, %v", state, err)
	}
	if err := r.SetSessionState(b.ctx, []byte{0, 1, 2, 'x'}, nil); err != nil {
		t.Fatalf("SetSessionState: %v", err)
	}
	if state, err = r.GetSessionState(b.ctx, nil); err != nil || string(state) != "\x00\x01\x02x" {
		t.Fatalf("state after set %q, %v", state, err)
	}
	if err := r.SetSessionState(b.ctx, nil, nil); err != nil {
		t.Fatalf("SetSessionState(nil): %v", err)
	}
	if state, err = r.GetSessionState(b.ctx, nil); err != nil || state != nil {
		t.Fatalf("state after clear %q, %v", state, err)
	}
}

func TestSessionRenewLock(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{LockDuration: 10 * time.Second})
	r := b.accept(t, "renew")
	first := r.LockedUntil()
	if first.IsZero() {
		t.Fatal("LockedUntil is zero after accept")
	}
	b.clock.Advance(4 * time.Second)
	if err := r.RenewSessionLock(b.ctx, nil); err != nil {
		t.Fatalf("RenewSessionLock: %v", err)
	}
	if want := first.Add(4 * time.Second); !r.LockedUntil().Equal(want) {
		t.Fatalf("LockedUntil %v after renewing 4 s later, want %v", r.LockedUntil(), want)
	}
	if want := b.clock.Now().Add(10 * time.Second).Truncate(time.Millisecond); !r.LockedUntil().Equal(want) {
		t.Errorf("renewed lock ends at %v, want the fake now + the 10 s lock duration, %v", r.LockedUntil(), want)
	}
	b.clock.Advance(9 * time.Second) // 13 s after accept: the renewal kept it
	if err := r.RenewSessionLock(b.ctx, nil); err != nil {
		t.Fatalf("RenewSessionLock within the renewed lock: %v", err)
	}
}

func TestSessionAlreadyLocked(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	b.accept(t, "taken")
	other, err := azservicebus.NewClientFromConnectionString(b.srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	_, err = other.AcceptSessionForQueue(b.ctx, b.queue, "taken", nil)
	if cond := amqpCondition(err); cond != "com.microsoft:session-cannot-be-locked" {
		t.Fatalf("second accept: %v (condition %q)", err, cond)
	}
}

func TestSessionAcceptNextTimesOut(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	b.send(t, b.queue, "busy", "m")
	b.accept(t, "busy") // the only session with messages is held
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	_, err := b.client.AcceptNextSessionForQueue(ctx, b.queue, nil)
	if sbCode(err) != azservicebus.CodeTimeout {
		t.Fatalf("AcceptNextSessionForQueue with nothing free: %v (code %q), want CodeTimeout", err, sbCode(err))
	}
}

func TestSessionLockReleasedOnClose(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	b.send(t, b.queue, "s", "m1")
	r1 := b.accept(t, "s")
	first := receiveN(t, b.ctx, r1, 1)[0]
	if err := r1.Close(b.ctx); err != nil {
		t.Fatal(err)
	}
	r2 := b.accept(t, "s")
	again := receiveN(t, b.ctx, r2, 1)[0]
	if string(again.Body) != "m1" || again.SequenceNumber == nil || *again.SequenceNumber != *first.SequenceNumber {
		t.Fatalf("after close got %q seq %v, want m1 seq %d", again.Body, again.SequenceNumber, *first.SequenceNumber)
	}
	if again.DeliveryCount != first.DeliveryCount {
		t.Errorf("DeliveryCount %d after a released session, was %d", again.DeliveryCount, first.DeliveryCount)
	}
	if err := r2.CompleteMessage(b.ctx, again, nil); err != nil {
		t.Fatalf("CompleteMessage: %v", err)
	}
}

func TestNonSessionReceiverOnSessionQueueRefused(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	r, err := b.client.NewReceiverForQueue(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	_, err = r.ReceiveMessages(b.ctx, 1, nil)
	if cond := amqpCondition(err); cond != amqp.ErrCondNotAllowed {
		t.Fatalf("ReceiveMessages: %v (condition %q), want amqp:not-allowed", err, cond)
	}
	sender, err := b.client.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(context.Background())
	err = sender.SendMessage(b.ctx, &azservicebus.Message{Body: []byte("no session")}, nil)
	if cond := amqpCondition(err); cond != amqp.ErrCondNotAllowed {
		t.Fatalf("send without SessionID: %v (condition %q), want amqp:not-allowed", err, cond)
	}
}

func TestSessionMessageDeadLetteredAtMaxDeliveryCount(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{MaxDeliveryCount: 2})
	b.send(t, b.queue, "poison", "p")
	r := b.accept(t, "poison")
	for range 2 {
		m := receiveN(t, b.ctx, r, 1)[0]
		if err := r.AbandonMessage(b.ctx, m, nil); err != nil {
			t.Fatalf("AbandonMessage: %v", err)
		}
	}
	dlq, err := b.client.NewReceiverForQueue(b.queue, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close(context.Background())
	d := receiveN(t, b.ctx, dlq, 1)[0]
	if string(d.Body) != "p" || d.DeadLetterReason == nil || *d.DeadLetterReason != "MaxDeliveryCountExceeded" ||
		d.SessionID == nil || *d.SessionID != "poison" {
		t.Fatalf("dead-lettered %q reason %v session %v", d.Body, d.DeadLetterReason, d.SessionID)
	}
}

func TestSessionSubscription(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	b.send(t, b.topic, "t1", "x", "t1", "y")
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	r, err := b.client.AcceptNextSessionForSubscription(ctx, b.topic, "s", nil)
	if err != nil {
		t.Fatalf("AcceptNextSessionForSubscription: %v", err)
	}
	defer r.Close(context.Background())
	if r.SessionID() != "t1" {
		t.Fatalf("accepted %q", r.SessionID())
	}
	if got := bodiesOf(receiveN(t, ctx, r, 2)); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("got %v", got)
	}
	// The plain subscription got its copies too, and takes no session receiver.
	if _, err := b.client.AcceptSessionForSubscription(ctx, b.topic, "plain", "t1", nil); amqpCondition(err) != amqp.ErrCondNotAllowed {
		t.Fatalf("session receiver on a subscription without sessions: %v, want amqp:not-allowed", err)
	}
	plain, err := b.client.NewReceiverForSubscription(b.topic, "plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(context.Background())
	if got := bodiesOf(receiveN(t, ctx, plain, 2)); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("plain subscription got %v", got)
	}
	byID, err := b.client.AcceptSessionForSubscription(ctx, b.topic, "s", "other", nil)
	if err != nil {
		t.Fatalf("AcceptSessionForSubscription: %v", err)
	}
	defer byID.Close(context.Background())
	if byID.SessionID() != "other" {
		t.Fatalf("accepted %q", byID.SessionID())
	}
}

func TestSessionListSessions(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	b.send(t, b.queue, "m2", "x", "m1", "y")
	before := time.Now().Add(-time.Minute)
	r := b.accept(t, "with-state")
	if err := r.SetSessionState(b.ctx, []byte("s"), nil); err != nil {
		t.Fatal(err)
	}
	pager := b.client.NewListSessionsForQueuePager(b.queue, nil)
	var ids []string
	for pager.More() {
		page, err := pager.NextPage(b.ctx)
		if err != nil {
			t.Fatalf("NextPage: %v", err)
		}
		ids = append(ids, page.Sessions...)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"m1", "m2", "with-state"}) {
		t.Fatalf("sessions %v", ids)
	}
	// With SessionStateUpdatedAfter only sessions whose state changed since then are listed.
	page, err := b.client.NewListSessionsForQueuePager(b.queue, &azservicebus.ListSessionsOptions{SessionStateUpdatedAfter: &before}).NextPage(b.ctx)
	if err != nil || !slices.Equal(page.Sessions, []string{"with-state"}) {
		t.Fatalf("sessions with state updated after %v: %v, %v", before, page.Sessions, err)
	}
}

func TestSessionLockReleasedWhenConnectionDrops(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	// A bare go-amqp connection holds the session, then goes away without detaching its link.
	conn, err := amqp.Dial(b.ctx, "amqp://"+b.srv.AMQPAddr(), &amqp.ConnOptions{
		SASLType: amqp.SASLTypePlain(servicebus.DefaultKeyName, servicebus.DefaultKey)})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := conn.NewSession(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := "dropped"
	recv, err := sess.NewReceiver(b.ctx, b.queue, &amqp.ReceiverOptions{
		SettlementMode: amqp.ReceiverSettleModeSecond.Ptr(),
		Filters:        []amqp.LinkFilter{amqp.NewLinkFilter("com.microsoft:session-filter", 0x137000000C, id)},
	})
	if err != nil {
		t.Fatalf("session attach: %v", err)
	}
	if got := recv.LinkSourceFilterValue("com.microsoft:session-filter"); got != id {
		t.Fatalf("attach reply filter value %v, want %q", got, id)
	}
	if _, isTicks := recv.Properties()["com.microsoft:locked-until-utc"].(int64); !isTicks {
		t.Fatalf("locked-until-utc = %T, want long ticks", recv.Properties()["com.microsoft:locked-until-utc"])
	}
	if _, err := b.client.AcceptSessionForQueue(b.ctx, b.queue, id, nil); amqpCondition(err) != "com.microsoft:session-cannot-be-locked" {
		t.Fatalf("accept while held: %v", err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	// The server releases the session when it tears the connection down; poll until it has.
	testkit.Eventually(t, 10*time.Second, func() error {
		r, err := b.client.AcceptSessionForQueue(b.ctx, b.queue, id, nil)
		if err != nil {
			return fmt.Errorf("session still locked after its connection closed: %w", err)
		}
		_ = r.Close(b.ctx)
		return nil
	})
}

func TestSessionLockExpiresWithoutRenewal(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{LockDuration: time.Minute})
	b.send(t, b.queue, "lapse", "m1")
	holder := b.accept(t, "lapse")
	first := receiveN(t, b.ctx, holder, 1)[0]
	other, err := azservicebus.NewClientFromConnectionString(b.srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	// Nobody renews: once the 1 min lock lapses another client can take the session, and the
	// message locked under it is delivered again, its delivery not counted.
	b.clock.Advance(time.Minute - time.Millisecond)
	if _, err := other.AcceptSessionForQueue(b.ctx, b.queue, "lapse", nil); amqpCondition(err) != "com.microsoft:session-cannot-be-locked" {
		t.Fatalf("accept 1 ms before the lock lapses: %v, want session-cannot-be-locked", err)
	}
	b.clock.Advance(time.Millisecond)
	taker, err := other.AcceptSessionForQueue(b.ctx, b.queue, "lapse", nil)
	if err != nil {
		t.Fatalf("accept after the lock lapsed: %v", err)
	}
	defer taker.Close(context.Background())
	again := receiveN(t, b.ctx, taker, 1)[0]
	if *again.SequenceNumber != *first.SequenceNumber || again.DeliveryCount != first.DeliveryCount {
		t.Fatalf("redelivered seq %d count %d, first seq %d count %d", *again.SequenceNumber, again.DeliveryCount,
			*first.SequenceNumber, first.DeliveryCount)
	}
}

func TestAcceptNextWithoutTimeoutUsesServerDefault(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	conn := b.dialAMQP(t)
	sess, err := conn.NewSession(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Accept-next (null filter value) without com.microsoft:timeout on an empty queue: the
	// server's AcceptNextSessionTimeout (300 ms here) applies.
	_, err = sess.NewReceiver(b.ctx, b.queue, &amqp.ReceiverOptions{
		SettlementMode: amqp.ReceiverSettleModeSecond.Ptr(),
		Filters:        []amqp.LinkFilter{amqp.NewLinkFilter("com.microsoft:session-filter", 0x137000000C, nil)},
	})
	if cond := amqpCondition(err); cond != "com.microsoft:timeout" {
		t.Fatalf("accept-next on an empty queue: %v (condition %q), want com.microsoft:timeout", err, cond)
	}
}

func TestSessionDeferredMessage(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	b.send(t, b.queue, "d", "later", "d", "now", "other", "elsewhere")
	other := b.accept(t, "other")
	elsewhere := receiveN(t, b.ctx, other, 1)[0]
	if err := other.DeferMessage(b.ctx, elsewhere, nil); err != nil {
		t.Fatalf("DeferMessage: %v", err)
	}
	r := b.accept(t, "d")
	later := receiveN(t, b.ctx, r, 1)[0]
	if err := r.DeferMessage(b.ctx, later, nil); err != nil {
		t.Fatalf("DeferMessage: %v", err)
	}
	if got := bodiesOf(receiveN(t, b.ctx, r, 1)); !slices.Equal(got, []string{"now"}) {
		t.Fatalf("after deferral got %v", got)
	}
	deferred, err := r.ReceiveDeferredMessages(b.ctx, []int64{*later.SequenceNumber}, nil)
	if err != nil || len(deferred) != 1 || string(deferred[0].Body) != "later" || deferred[0].State != azservicebus.MessageStateDeferred {
		t.Fatalf("ReceiveDeferredMessages = %v, %v", bodiesOf(deferred), err)
	}
	if err := r.CompleteMessage(b.ctx, deferred[0], nil); err != nil {
		t.Fatalf("CompleteMessage of the deferred message: %v", err)
	}
	// Another session's deferred message is not found through this session's receiver.
	if _, err := r.ReceiveDeferredMessages(b.ctx, []int64{*elsewhere.SequenceNumber}, nil); sbCode(err) != azservicebus.CodeNotFound {
		t.Fatalf("receiving session other's deferred message through session d: %v (code %q), want CodeNotFound", err, sbCode(err))
	}
}

func TestSessionReceiveAndDelete(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	b.send(t, b.queue, "rd", "1", "rd", "2")
	r, err := b.client.AcceptSessionForQueue(b.ctx, b.queue, "rd", &azservicebus.SessionReceiverOptions{
		ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	if err != nil {
		t.Fatal(err)
	}
	if got := bodiesOf(receiveN(t, b.ctx, r, 2)); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("got %v", got)
	}
	if err := r.Close(b.ctx); err != nil {
		t.Fatal(err)
	}
	peeked, err := b.accept(t, "rd").PeekMessages(b.ctx, 10, nil)
	if err != nil || len(peeked) != 0 {
		t.Fatalf("after ReceiveAndDelete the session still has %v (%v)", bodiesOf(peeked), err)
	}
}

func TestAbandonedAcceptNextLocksNothing(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	conn := b.dialAMQP(t)
	nextSession := func(ctx context.Context, s *amqp.Session) (*amqp.Receiver, error) {
		return s.NewReceiver(ctx, b.queue, &amqp.ReceiverOptions{
			SettlementMode: amqp.ReceiverSettleModeSecond.Ptr(),
			Filters:        []amqp.LinkFilter{amqp.NewLinkFilter("com.microsoft:session-filter", 0x137000000C, nil)},
			Properties:     map[string]any{"com.microsoft:timeout": uint32(20000)},
		})
	}
	// The client gives up long before the server's 20 s wait, then ends its AMQP session.
	first, err := conn.NewSession(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(b.ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := nextSession(short, first); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("accept-next on an empty queue within 100 ms: %v, want the client's deadline", err)
	}
	if err := first.Close(b.ctx); err != nil {
		t.Fatalf("ending the session: %v", err)
	}
	// The abandoned accept must not take the session that now gets a message.
	b.send(t, b.queue, "wanted", "w1")
	second, err := conn.NewSession(b.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := nextSession(b.ctx, second)
	if err != nil {
		t.Fatalf("accept-next after the abandoned one: %v", err)
	}
	if got := r.LinkSourceFilterValue("com.microsoft:session-filter"); got != "wanted" {
		t.Fatalf("accepted session %v", got)
	}
}

// TestAbandonedAcceptNextDetachAnswered: go-amqp abandons a link whose attach its context gave up
// on and detaches it right before the session's next attach, still unanswered; it frees the
// link's handle only when the server's detach arrives. With a session of two handles, the third
// link fits only if the server answered that detach (with the refusal attach first, or go-amqp
// would not know the link's server handle). The session stays open throughout, unlike in
// TestAbandonedAcceptNextLocksNothing, and the abandoned accept locks nothing.
func TestAbandonedAcceptNextDetachAnswered(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	conn := b.dialAMQP(t)
	sess, err := conn.NewSession(b.ctx, &amqp.SessionOptions{MaxLinks: 2})
	if err != nil {
		t.Fatal(err)
	}
	nextSession := func(ctx context.Context) (*amqp.Receiver, error) {
		return sess.NewReceiver(ctx, b.queue, &amqp.ReceiverOptions{
			SettlementMode: amqp.ReceiverSettleModeSecond.Ptr(),
			Filters:        []amqp.LinkFilter{amqp.NewLinkFilter("com.microsoft:session-filter", 0x137000000C, nil)},
			Properties:     map[string]any{"com.microsoft:timeout": uint32(20000)},
		})
	}
	short, cancel := context.WithTimeout(b.ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := nextSession(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("accept-next on an empty queue within 100 ms: %v, want the client's deadline", err)
	}
	// This attach goes out right after go-amqp's detach of the abandoned link (handle 0), so it
	// takes handle 1; its answer follows the server's answer to that detach.
	plain, err := sess.NewReceiver(b.ctx, b.topic+"/Subscriptions/plain", nil)
	if err != nil {
		t.Fatalf("receiver after the abandoned accept-next: %v", err)
	}
	defer func() { _ = plain.Close(b.ctx) }()
	b.send(t, b.queue, "wanted", "w1")
	r, err := nextSession(b.ctx)
	if err != nil {
		t.Fatalf("accept-next on the abandoned link's handle: %v", err)
	}
	defer func() { _ = r.Close(b.ctx) }()
	if got := r.LinkSourceFilterValue("com.microsoft:session-filter"); got != "wanted" {
		t.Fatalf("accepted session %v", got)
	}
}

// Closing a session receiver releases the session before the close returns, as on Service Bus:
// accepting it again at once never finds it locked.
func TestSessionReacceptRightAfterClose(t *testing.T) {
	t.Parallel()
	b := setupSessions(t, servicebus.QueueConfig{})
	b.send(t, b.queue, "again", "m")
	for i := range 200 {
		r, err := b.client.AcceptSessionForQueue(b.ctx, b.queue, "again", nil)
		if err != nil {
			t.Fatalf("accept %d right after the previous receiver closed: %v", i, err)
		}
		if err := r.Close(b.ctx); err != nil {
			t.Fatal(err)
		}
	}
}
