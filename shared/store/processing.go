package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/shared/order"
)

// Processing applies OrderCreated events to orders and stock.
type Processing struct{ pool *pgxpool.Pool }

// Outcome is the result of Processing.Reserve.
type Outcome struct {
	// Duplicate is true when the event was processed before; nothing changed.
	Duplicate bool
	// Decision is what happened to the order (zero when Duplicate, or when
	// the order had already left pending).
	Decision order.Decision
}

// Reserve handles one OrderCreated event for consumer in one transaction:
// it records the event id in the inbox (a duplicate changes nothing), locks
// the order and its products (in id order, so concurrent orders cannot
// deadlock), takes the stock for every line or none, and moves the order
// from pending to confirmed or rejected. An unknown order is an error, so
// the message is retried and finally dead-lettered.
//
// The transaction takes two round trips: BEGIN, the inbox insert and the
// locking reads in one batch; the updates and COMMIT in the other. The
// locks are taken in the same order as before (inbox row, order, products
// by id) and the stock is decided from the locked rows, so it never goes
// negative under concurrency.
func (p *Processing) Reserve(ctx context.Context, consumer string, eventID, orderID uuid.UUID) (Outcome, error) {
	out, err := p.reserve(ctx, consumer, eventID, orderID)
	if err != nil {
		return Outcome{}, classify(err)
	}
	return out, nil
}

func (p *Processing) reserve(ctx context.Context, consumer string, eventID, orderID uuid.UUID) (Outcome, error) {
	tx := pipedTx{pool: p.pool}
	defer tx.end(ctx)
	var (
		b         pgx.Batch
		out       Outcome
		o         order.Order
		available = map[uuid.UUID]int{}
	)
	b.Queue(`INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, consumer, eventID).Exec(func(ct pgconn.CommandTag) error {
		out.Duplicate = ct.RowsAffected() == 0
		return nil
	})
	queueOrder(&b, orderID, " FOR UPDATE", &o)
	b.Queue(`SELECT id, stock FROM products WHERE id IN (SELECT product_id FROM order_items WHERE order_id = $1)
		ORDER BY id FOR UPDATE`, orderID).Query(func(rows pgx.Rows) error {
		var (
			id    uuid.UUID
			stock int
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &stock}, func() error { available[id] = stock; return nil }); err != nil {
			return fmt.Errorf("locking stock: %w", err)
		}
		return nil
	})
	err := tx.send(ctx, &b)
	switch {
	case out.Duplicate:
		// Nothing to change whatever the reads found; the inbox insert
		// wrote nothing either.
		return Outcome{Duplicate: true}, nil
	case errors.Is(err, ErrNotFound):
		return Outcome{}, err
	case err != nil:
		return Outcome{}, fmt.Errorf("recording event in inbox and locking order %s: %w", orderID, err)
	case o.Status != order.StatusPending:
		// Keep the inbox record: the event is handled.
		return out, tx.commit(ctx, nil)
	}
	out.Decision = order.Reserve(o.Items, available)
	if !o.Status.CanMoveTo(out.Decision.Status) {
		return Outcome{}, fmt.Errorf("order %s from %s to %s: %w", orderID, o.Status, out.Decision.Status, order.ErrInvalidTransition)
	}
	var w pgx.Batch
	if out.Decision.Status == order.StatusConfirmed {
		ids, qty := make([]uuid.UUID, len(o.Items)), make([]int32, len(o.Items))
		for i, it := range o.Items {
			ids[i], qty[i] = it.ProductID, int32(it.Quantity)
		}
		w.Queue(`UPDATE products p SET stock = p.stock - x.qty
			FROM unnest($1::uuid[], $2::int[]) AS x(id, qty) WHERE p.id = x.id`, ids, qty)
		w.Queue(`UPDATE orders SET status = 'confirmed', confirmed_at = now(), updated_at = now() WHERE id = $1`, orderID)
	} else {
		w.Queue(`UPDATE orders SET status = 'rejected', rejected_at = now(), rejection_reason = $2, updated_at = now() WHERE id = $1`,
			orderID, out.Decision.Reason)
	}
	if err := tx.commit(ctx, &w); err != nil {
		return Outcome{}, fmt.Errorf("updating order %s: %w", orderID, err)
	}
	return out, nil
}
