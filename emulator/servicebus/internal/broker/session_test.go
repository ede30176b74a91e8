package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// Sessions on the fake clock. Queue "sq" requires sessions (lock 30 s, max 3
// deliveries); topic "t" gets subscription "ss" requiring sessions.

type sessionBundle struct {
	bundle
}

func setupSessions(t *testing.T) sessionBundle {
	t.Helper()
	bd := setup(t)
	must(t, bd.b.CreateQueue(broker.QueueConfig{Name: "sq", LockDuration: 30 * time.Second, MaxDeliveryCount: 3, RequiresSession: true}))
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "ss", RequiresSession: true}))
	return sessionBundle{bd}
}

func smsg(session, body string) *broker.Message {
	m := msg(body)
	m.Properties.GroupID = session
	m.Properties.Present |= broker.PropGroupID
	return m
}

func (sb sessionBundle) accept(t *testing.T, addr, id string) *broker.SessionReceiver {
	t.Helper()
	r, err := sb.b.AcceptSession(addr, id, broker.PeekLock)
	must(t, err)
	t.Cleanup(r.Close)
	return r
}

func sessionBodies(msgs []*broker.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Body)
	}
	return out
}

func tryReceive(t *testing.T, r *broker.SessionReceiver, max int) []*broker.Message {
	t.Helper()
	msgs, err := r.TryReceive(max)
	must(t, err)
	return msgs
}

func TestSessionFIFOPerSession(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	sb.send(t, "sq", smsg("a", "a1"), smsg("b", "b1"), smsg("a", "a2"), smsg("b", "b2"), smsg("a", "a3"))
	a, b := sb.accept(t, "sq", "a"), sb.accept(t, "sq", "b")
	if got := sessionBodies(tryReceive(t, b, 10)); !slices.Equal(got, []string{"b1", "b2"}) {
		t.Errorf("session b got %v", got)
	}
	got := tryReceive(t, a, 2)
	if !slices.Equal(sessionBodies(got), []string{"a1", "a2"}) {
		t.Errorf("session a got %v", sessionBodies(got))
	}
	// An abandoned message comes back ahead of the rest of its session.
	must(t, sb.b.Abandon("sq", got[1].LockToken, nil))
	if again := sessionBodies(tryReceive(t, a, 10)); !slices.Equal(again, []string{"a2", "a3"}) {
		t.Errorf("session a after abandon got %v", again)
	}
}

func TestSessionCannotBeLockedTwice(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	r := sb.accept(t, "sq", "s")
	_, err := sb.b.AcceptSession("sq", "s", broker.PeekLock)
	wantErr(t, err, broker.ErrSessionLocked)
	r.Close()
	_, err = r.TryReceive(1)
	wantErr(t, err, broker.ErrClosed)
	sb.accept(t, "sq", "s") // free again
}

func TestAcceptNextSession(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	sb.accept(t, "sq", "held") // locked, and empty: never picked anyway
	sb.send(t, "sq", smsg("x", "x1"), smsg("y", "y1"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []string
	for range 2 {
		r, err := sb.b.AcceptNextSession(ctx, "sq", broker.PeekLock)
		must(t, err)
		t.Cleanup(r.Close)
		got = append(got, r.SessionID())
	}
	if !slices.Equal(got, []string{"x", "y"}) { // oldest first message first
		t.Errorf("accepted %v", got)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	_, err := sb.b.AcceptNextSession(short, "sq", broker.PeekLock)
	wantErr(t, err, broker.ErrNoSession)
}

func TestAcceptNextSessionWaitsForAMessage(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		r   *broker.SessionReceiver
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := sb.b.AcceptNextSession(ctx, "t/Subscriptions/ss", broker.PeekLock)
		done <- result{r, err}
	}()
	sb.send(t, "t", smsg("late", "l1"))
	res := <-done
	must(t, res.err)
	defer res.r.Close()
	if res.r.SessionID() != "late" {
		t.Fatalf("accepted %q", res.r.SessionID())
	}
	msgs, err := res.r.Receive(ctx, 5)
	must(t, err)
	if !slices.Equal(sessionBodies(msgs), []string{"l1"}) {
		t.Errorf("got %v", sessionBodies(msgs))
	}
}

func TestSessionLockExpiry(t *testing.T) {
	t.Parallel()
	for _, viaTimers := range []bool{true, false} {
		t.Run(fmt.Sprint("viaTimers=", viaTimers), func(t *testing.T) {
			t.Parallel()
			sb := setupSessions(t)
			sb.send(t, "sq", smsg("s", "m1"))
			r := sb.accept(t, "sq", "s")
			first := tryReceive(t, r, 1)
			sb.clock.Advance(29 * time.Second)
			sb.b.RunTimers()
			if _, err := r.TryReceive(1); err != nil {
				t.Fatalf("lock lost early: %v", err)
			}
			sb.clock.Advance(time.Second)
			if viaTimers {
				sb.b.RunTimers()
			}
			_, err := r.TryReceive(1)
			wantErr(t, err, broker.ErrSessionLockLost)
			if !r.LockedUntil().IsZero() {
				t.Errorf("LockedUntil %v after expiry", r.LockedUntil())
			}
			// The message locked under the session is back, its delivery not counted.
			wantErr(t, sb.b.Complete("sq", first[0].LockToken), broker.ErrLockLost)
			next := sb.accept(t, "sq", "s")
			again := tryReceive(t, next, 5)
			if len(again) != 1 || again[0].DeliveryCount != 0 || again[0].SequenceNumber != first[0].SequenceNumber {
				t.Fatalf("after expiry got %+v", again)
			}
			must(t, sb.b.Complete("sq", again[0].LockToken))
		})
	}
}

func TestRenewSessionLock(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	r := sb.accept(t, "sq", "s")
	start := r.LockedUntil()
	sb.clock.Advance(20 * time.Second)
	until, err := r.RenewLock()
	must(t, err)
	if !until.Equal(start.Add(20*time.Second)) || !r.LockedUntil().Equal(until) {
		t.Fatalf("renewed to %v, lock was %v", until, start)
	}
	sb.clock.Advance(20 * time.Second) // past the first expiry, before the renewed one
	sb.b.RunTimers()
	viaID, err := sb.b.RenewSessionLock("sq", "s")
	must(t, err)
	if !viaID.Equal(sb.clock.Now().Add(30 * time.Second)) {
		t.Errorf("renew by id gave %v", viaID)
	}
	_, err = sb.b.RenewSessionLock("sq", "nobody-holds-this")
	wantErr(t, err, broker.ErrSessionLockLost)
}

func TestSessionCloseReleasesMessages(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	sb.send(t, "sq", smsg("s", "m1"), smsg("s", "m2"))
	r := sb.accept(t, "sq", "s")
	got := tryReceive(t, r, 1)
	r.Close()
	wantErr(t, sb.b.Complete("sq", got[0].LockToken), broker.ErrLockLost)
	again := tryReceive(t, sb.accept(t, "sq", "s"), 5)
	if !slices.Equal(sessionBodies(again), []string{"m1", "m2"}) || again[0].DeliveryCount != 0 {
		t.Fatalf("after close got %v (count %d)", sessionBodies(again), again[0].DeliveryCount)
	}
}

func TestSessionEntityRules(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	_, err := sb.b.Send("sq", []*broker.Message{smsg("s", "ok"), msg("no session")})
	wantErr(t, err, broker.ErrNotAllowed)
	if st, _ := sb.b.Stats("sq"); st.Total() != 0 {
		t.Errorf("a refused batch left %d messages", st.Total())
	}
	_, err = sb.b.NewReceiver("sq", broker.PeekLock)
	wantErr(t, err, broker.ErrNotAllowed)
	_, err = sb.b.NewReceiver("sq/$DeadLetterQueue", broker.PeekLock)
	must(t, err)
	_, err = sb.b.AcceptSession("q", "s", broker.PeekLock)
	wantErr(t, err, broker.ErrNotAllowed)
	// A topic message without session id is dead-lettered by the session subscription.
	sb.send(t, "t", msg("orphan"))
	d := sb.one(t, "t/Subscriptions/ss/$DeadLetterQueue")
	if d.ApplicationProperties[broker.PropDeadLetterReason] != broker.ReasonSessionIDNull {
		t.Errorf("dead-letter reason %v", d.ApplicationProperties[broker.PropDeadLetterReason])
	}
}

func TestSessionMessageDeadLettersAtMaxDeliveryCount(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	sb.send(t, "sq", smsg("s", "poison"))
	r := sb.accept(t, "sq", "s")
	for range 3 {
		got := tryReceive(t, r, 1)
		if len(got) != 1 {
			t.Fatalf("got %d messages", len(got))
		}
		must(t, sb.b.Abandon("sq", got[0].LockToken, nil))
	}
	if got := tryReceive(t, r, 1); len(got) != 0 {
		t.Fatalf("message still in the session: %v", sessionBodies(got))
	}
	d := sb.one(t, "sq/$DeadLetterQueue")
	if d.ApplicationProperties[broker.PropDeadLetterReason] != broker.ReasonMaxDeliveryCountExceeded || d.Properties.GroupID != "s" {
		t.Errorf("dead-lettered %+v", d)
	}
}

func TestSessionStateAndList(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	state, err := sb.b.SessionState("sq", "s")
	must(t, err)
	if state != nil {
		t.Fatalf("initial state %q", state)
	}
	must(t, sb.b.SetSessionState("sq", "with-state", []byte("step 2")))
	sb.send(t, "sq", smsg("b-msgs", "1"), smsg("a-msgs", "2"))
	state, err = sb.b.SessionState("sq", "with-state")
	must(t, err)
	if string(state) != "step 2" {
		t.Fatalf("state %q", state)
	}
	ids, err := sb.b.ListSessions("sq", time.Time{}, 0, 0)
	must(t, err)
	if !slices.Equal(ids, []string{"a-msgs", "b-msgs", "with-state"}) {
		t.Fatalf("sessions %v", ids)
	}
	if page, _ := sb.b.ListSessions("sq", time.Time{}, 1, 1); !slices.Equal(page, []string{"b-msgs"}) {
		t.Errorf("page skip 1 top 1 = %v", page)
	}
	must(t, sb.b.SetSessionState("sq", "with-state", []byte{}))
	state, err = sb.b.SessionState("sq", "with-state")
	must(t, err)
	if state != nil {
		t.Fatalf("state after clearing %q", state)
	}
	if ids, _ := sb.b.ListSessions("sq", time.Time{}, 0, 0); !slices.Equal(ids, []string{"a-msgs", "b-msgs"}) {
		t.Errorf("sessions after clearing %v", ids)
	}
}

func TestDeletedEntityEndsSessions(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	r := sb.accept(t, "sq", "s")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := sb.b.AcceptNextSession(ctx, "sq", broker.PeekLock)
		done <- err
	}()
	must(t, sb.b.Delete("sq"))
	wantErr(t, <-done, broker.ErrNotFound)
	_, err := r.TryReceive(1)
	wantErr(t, err, broker.ErrNotFound)
}

func TestSessionReceiveDeferredIsScoped(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	seqs := sb.send(t, "sq", smsg("a", "a1"), smsg("b", "b1"))
	a, b := sb.accept(t, "sq", "a"), sb.accept(t, "sq", "b")
	for _, r := range []*broker.SessionReceiver{a, b} {
		m := tryReceive(t, r, 1)[0]
		must(t, sb.b.Defer("sq", m.LockToken, nil))
	}
	_, err := a.ReceiveDeferred([]int64{seqs[1]}, broker.PeekLock)
	wantErr(t, err, broker.ErrMessageNotFound)
	got, err := a.ReceiveDeferred([]int64{seqs[0]}, broker.PeekLock)
	must(t, err)
	if len(got) != 1 || string(got[0].Body) != "a1" || got[0].State != broker.StateDeferred {
		t.Fatalf("got %+v", got)
	}
	a.Close()
	_, err = a.ReceiveDeferred([]int64{seqs[0]}, broker.PeekLock)
	wantErr(t, err, broker.ErrClosed)
}

func TestEmptySessionReacceptedAfterExpiry(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	first := sb.accept(t, "sq", "e") // no messages
	sb.clock.Advance(31 * time.Second)
	// No RunTimers: AcceptSession ends the expired lock itself.
	second := sb.accept(t, "sq", "e")
	if _, err := first.TryReceive(1); err == nil {
		t.Fatal("the expired holder still receives")
	}
	sb.send(t, "sq", smsg("e", "e1"))
	if got := sessionBodies(tryReceive(t, second, 5)); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("new holder got %v", got)
	}
}

// BenchmarkAcceptNextSession measures AcceptNextSession, one receive and
// Complete and Close, with 1000 sessions holding messages.
func BenchmarkAcceptNextSession(b *testing.B) {
	br := broker.New(broker.Config{})
	defer br.Stop()
	if err := br.CreateQueue(broker.QueueConfig{Name: "sq", RequiresSession: true}); err != nil {
		b.Fatal(err)
	}
	batch := make([]*broker.Message, 1000)
	for i := range batch {
		batch[i] = smsg(fmt.Sprint("s", i), "x")
	}
	if _, err := br.Send("sq", batch); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := br.AcceptNextSession(ctx, "sq", broker.PeekLock)
		if err != nil {
			b.Fatal(err)
		}
		msgs, err := r.TryReceive(1)
		if err != nil || len(msgs) != 1 {
			b.Fatal(err, len(msgs))
		}
		if err := br.Complete("sq", msgs[0].LockToken); err != nil {
			b.Fatal(err)
		}
		r.Close()
		// Refill the session, so the backlog stays at 1000 sessions.
		if _, err := br.Send("sq", []*broker.Message{smsg(r.SessionID(), "x")}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAcceptNextOrderFollowsChanges(t *testing.T) {
	t.Parallel()
	sb := setupSessions(t)
	short := smsg("c", "c1")
	short.Header.TTL = 10 * time.Second
	sb.send(t, "sq", smsg("a", "a1"), smsg("b", "b1"), short)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	next := func() string {
		t.Helper()
		r, err := sb.b.AcceptNextSession(ctx, "sq", broker.PeekLock)
		must(t, err)
		t.Cleanup(r.Close)
		return r.SessionID()
	}
	a := sb.accept(t, "sq", "a")
	tryReceive(t, a, 1)
	if got := next(); got != "b" { // a is held
		t.Fatalf("first accept-next took %q, want b", got)
	}
	a.Close() // a1 is released: a is free again with the oldest message
	sb.clock.Advance(11 * time.Second)
	sb.b.RunTimers() // c1 expires: c has nothing left
	if got := next(); got != "a" {
		t.Fatalf("second accept-next took %q, want a", got)
	}
	none, cancelNone := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelNone()
	_, err := sb.b.AcceptNextSession(none, "sq", broker.PeekLock)
	wantErr(t, err, broker.ErrNoSession)
}
