package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/shared/store/storetest"
)

// markCounter counts the statements that mark outbox rows published.
type markCounter struct{ n atomic.Int64 }

func (c *markCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.HasPrefix(d.SQL, "UPDATE outbox SET published_at") {
		c.n.Add(1)
	}
	return ctx
}

func (c *markCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// placeN creates n orders and returns their outbox events.
func placeN(t *testing.T, ctx context.Context, s *store.Store, n int) []store.Event {
	t.Helper()
	events := make([]store.Event, n)
	for i := range events {
		p, err := s.Orders.Create(ctx, request(), "", "order.created")
		if err != nil {
			t.Fatal(err)
		}
		if p.Event.ID != p.OutboxID || p.Event.Type != "OrderCreated" || p.Event.Subject != "order.created" || len(p.Event.Payload) == 0 {
			t.Fatalf("Placed.Event = %+v for outbox row %d", p.Event, p.OutboxID)
		}
		events[i] = p.Event
	}
	return events
}

// TestPublishCommittedSharesMarks publishes many just-created events at
// once: every row ends up marked, and the marks share UPDATE statements
// (one per row before: a lock-and-mark transaction per event).
func TestPublishCommittedSharesMarks(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var marks markCounter
	cfg := storetest.Config(t)
	cfg.Tracer = &marks
	s, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	const n = 40
	events := placeN(t, ctx, s, n)
	// Every publish returns at the same moment, so the marks arrive together.
	var arrived sync.WaitGroup
	arrived.Add(n)
	publish := func(context.Context, store.Event) error {
		arrived.Done()
		arrived.Wait()
		return nil
	}
	var wg sync.WaitGroup
	for _, e := range events {
		wg.Go(func() {
			if err := s.Outbox.PublishCommitted(ctx, e, publish); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p, err := s.Outbox.Pending(ctx); err != nil || p != 0 {
		t.Fatalf("pending = %d, %v; want every row marked", p, err)
	}
	// The pool has 4 connections: at most a handful of batches.
	if got := marks.n.Load(); got > n/4 {
		t.Fatalf("%d marking statements for %d events arriving together, want at most %d", got, n, n/4)
	} else {
		t.Logf("%d marking statements for %d events", got, n)
	}
	var attempts int
	if err := s.Pool().QueryRow(ctx, `SELECT min(attempts) FROM outbox`).Scan(&attempts); err != nil || attempts != 1 {
		t.Fatalf("attempts = %d, %v; want 1", attempts, err)
	}
}

// TestPublishCommittedGivenUpWaitersDoNotStall cancels callers queued behind
// a mark that waits for a row lock: the others complete, and the marker
// runs again afterwards.
func TestPublishCommittedGivenUpWaitersDoNotStall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	events := placeN(t, b.ctx, b.store, 9)
	ok := func(context.Context, store.Event) error { return nil }

	// Another session holds the first row, so the first mark waits.
	tx, err := b.store.Pool().Begin(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(b.ctx) }()
	if _, err := tx.Exec(b.ctx, `SELECT 1 FROM outbox WHERE id = $1 FOR UPDATE`, events[0].ID); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- b.store.Outbox.PublishCommitted(b.ctx, events[0], ok) }()
	time.Sleep(100 * time.Millisecond) // let it start its UPDATE

	var wg sync.WaitGroup
	errs := make([]error, len(events))
	gone, giveUp := context.WithCancel(b.ctx)
	for i := 1; i < len(events); i++ {
		ctx := b.ctx
		if i%2 == 1 {
			ctx = gone
		}
		wg.Go(func() { errs[i] = b.store.Outbox.PublishCommitted(ctx, events[i], ok) })
	}
	time.Sleep(100 * time.Millisecond) // let them queue
	giveUp()
	if err := tx.Rollback(b.ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatalf("first mark: %v", err)
	}
	for i := 1; i < len(events); i++ {
		if i%2 == 0 && errs[i] != nil {
			t.Errorf("mark %d: %v", i, errs[i])
		}
		if i%2 == 1 && errs[i] != nil && !errors.Is(errs[i], context.Canceled) {
			t.Errorf("given-up mark %d: %v, want nil or context.Canceled", i, errs[i])
		}
	}
	// The marker is idle again: one more row is marked.
	last := placeN(t, b.ctx, b.store, 1)[0]
	if err := b.store.Outbox.PublishCommitted(b.ctx, last, ok); err != nil {
		t.Fatal(err)
	}
	var unmarked int
	if err := b.store.Pool().QueryRow(b.ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL AND id = ANY($1)`,
		[]int64{events[0].ID, events[2].ID, events[4].ID, events[6].ID, events[8].ID, last.ID}).Scan(&unmarked); err != nil || unmarked != 0 {
		t.Fatalf("%d rows of completed marks left unpublished (%v)", unmarked, err)
	}
}

// TestPublishCommittedFailureHandsRowToRelay: a failed publish is recorded
// and the relay takes the row at once despite its grace period, while a new
// row nobody tried yet is left to its creator until the grace has passed.
func TestPublishCommittedFailureHandsRowToRelay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	events := placeN(t, b.ctx, b.store, 2)
	failed, fresh := events[0], events[1]
	boom := errors.New("broker down")
	err := b.store.Outbox.PublishCommitted(b.ctx, failed, func(context.Context, store.Event) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("PublishCommitted = %v, want %v", err, boom)
	}
	var relayed []int64
	collect := func(_ context.Context, e store.Event) error {
		relayed = append(relayed, e.ID)
		return nil
	}
	n, err := b.store.Outbox.Relay(b.ctx, 10, time.Hour, collect)
	if err != nil || n != 1 || relayed[0] != failed.ID {
		t.Fatalf("relay with grace: n=%d err=%v relayed %v, want only the failed row %d", n, err, relayed, failed.ID)
	}
	if p, err := b.store.Outbox.Pending(b.ctx); err != nil || p != 1 {
		t.Fatalf("pending = %d, %v; want the fresh row", p, err)
	}
	n, err = b.store.Outbox.Relay(b.ctx, 10, 0, collect)
	if err != nil || n != 1 || relayed[1] != fresh.ID {
		t.Fatalf("relay after the grace: n=%d err=%v relayed %v", n, err, relayed)
	}
}

// TestPublishCommittedLeaderHangingUpDoesNotFailTheBatch: the caller that
// runs a shared UPDATE gives up while it waits for a row lock; the UPDATE
// still marks every row of the batch (before, the leader's cancellation
// cancelled the statement and failed the others' marks too).
func TestPublishCommittedLeaderHangingUpDoesNotFailTheBatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	events := placeN(t, b.ctx, b.store, 3)
	ok := func(context.Context, store.Event) error { return nil }
	lock := func(id int64) pgx.Tx {
		tx, err := b.store.Pool().Begin(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
		if _, err := tx.Exec(b.ctx, `SELECT 1 FROM outbox WHERE id = $1 FOR UPDATE`, id); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	// Row 0 holds up the first batch, so rows 1 and 2 queue into the second,
	// which row 2's lock then holds up while its leader (row 1) hangs up.
	tx0, tx2 := lock(events[0].ID), lock(events[2].ID)
	errs := make([]chan error, 3)
	leaderCtx, hangUp := context.WithCancel(b.ctx)
	defer hangUp()
	for i, ctx := range []context.Context{b.ctx, leaderCtx, b.ctx} {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- b.store.Outbox.PublishCommitted(ctx, events[i], ok) }()
		time.Sleep(100 * time.Millisecond) // queue in this order
	}
	if err := tx0.Rollback(b.ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errs[0]; err != nil {
		t.Fatalf("first mark: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // the second batch's UPDATE waits for row 2
	hangUp()
	time.Sleep(100 * time.Millisecond)
	if err := tx2.Rollback(b.ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errs[2]; err != nil {
		t.Fatalf("mark batched behind a leader that hung up: %v", err)
	}
	<-errs[1]
	var unmarked int
	if err := b.store.Pool().QueryRow(b.ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL AND id = ANY($1)`,
		[]int64{events[1].ID, events[2].ID}).Scan(&unmarked); err != nil || unmarked != 0 {
		t.Fatalf("%d rows of the batch left unpublished (%v)", unmarked, err)
	}
}
