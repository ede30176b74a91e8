package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/shared/order"
	"github.com/orderflow/orderflow/shared/store"
)

func TestReserveConcurrentDuplicatesApplyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p, err := b.store.Orders.Create(b.ctx, request(), "", "order.created")
	if err != nil {
		t.Fatal(err)
	}
	eventID := uuid.New()
	var confirmed, duplicates atomic.Int32
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			out, err := b.store.Processing.Reserve(b.ctx, "process-order", eventID, p.Order.ID)
			switch {
			case err != nil:
				t.Error(err)
			case out.Duplicate:
				duplicates.Add(1)
			case out.Decision.Status == order.StatusConfirmed:
				confirmed.Add(1)
			}
		})
	}
	wg.Wait()
	if confirmed.Load() != 1 || duplicates.Load() != 5 {
		t.Fatalf("confirmed %d duplicates %d", confirmed.Load(), duplicates.Load())
	}
	var beansStock int
	if err := b.store.Pool().QueryRow(b.ctx, `SELECT stock FROM products WHERE id = $1`, beans).Scan(&beansStock); err != nil || beansStock != 98 {
		t.Fatalf("beans stock %d, %v; want 98", beansStock, err)
	}
	// A different event for the same, no longer pending order changes nothing.
	out, err := b.store.Processing.Reserve(b.ctx, "process-order", uuid.New(), p.Order.ID)
	if err != nil || out.Duplicate || out.Decision.Status != "" {
		t.Fatalf("second event: %+v %v", out, err)
	}
	if _, err := b.store.Processing.Reserve(b.ctx, "process-order", uuid.New(), uuid.New()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
	var inbox int
	_ = b.store.Pool().QueryRow(b.ctx, `SELECT count(*) FROM inbox`).Scan(&inbox)
	if inbox != 2 {
		t.Fatalf("inbox rows %d, want 2 (the failed event must not be recorded)", inbox)
	}
	// Every transaction, the failed one included, gave its connection back.
	if n := b.store.Pool().Stat().AcquiredConns(); n != 0 {
		t.Fatalf("%d connections still acquired", n)
	}
}

func TestSendOnceConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p, err := b.store.Orders.Create(b.ctx, request(), "", "order.created")
	if err != nil {
		t.Fatal(err)
	}
	rec := store.SentEmail{OrderID: p.Order.ID, Kind: "order-received", EventID: uuid.New(), Recipient: "ana@example.com", MessageID: "<m@x>", Transport: "smtp"}
	// A failed send leaves no record, so the next delivery tries again.
	boom := errors.New("smtp down")
	if _, err := b.store.Emails.SendOnce(b.ctx, rec, func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("want send error, got %v", err)
	}
	var calls atomic.Int32
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := b.store.Emails.SendOnce(b.ctx, rec, func(context.Context) error { calls.Add(1); return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("send called %d times", calls.Load())
	}
	got, err := b.store.Emails.Get(b.ctx, p.Order.ID, "order-received")
	if err != nil || got.MessageID != "<m@x>" || got.SentAt.IsZero() {
		t.Fatalf("record %+v %v", got, err)
	}
	if n := b.store.Pool().Stat().AcquiredConns(); n != 0 {
		t.Fatalf("%d connections still acquired", n)
	}
}
