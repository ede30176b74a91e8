package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
func (p *Processing) Reserve(ctx context.Context, consumer string, eventID, orderID uuid.UUID) (Outcome, error) {
	var out Outcome
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, consumer, eventID)
		if err != nil {
			return fmt.Errorf("recording event in inbox: %w", err)
		}
		if tag.RowsAffected() == 0 {
			out.Duplicate = true
			return nil
		}
		var status order.Status
		err = tx.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1 FOR UPDATE`, orderID).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("order %s: %w", orderID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("locking order %s: %w", orderID, err)
		}
		if status != order.StatusPending {
			return nil
		}
		o, err := getOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, stock FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE`, productIDs(o.Items))
		if err != nil {
			return fmt.Errorf("locking stock: %w", err)
		}
		available := map[uuid.UUID]int{}
		var (
			id    uuid.UUID
			stock int
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &stock}, func() error { available[id] = stock; return nil }); err != nil {
			return fmt.Errorf("reading stock: %w", err)
		}
		out.Decision = order.Reserve(o.Items, available)
		if !o.Status.CanMoveTo(out.Decision.Status) {
			return fmt.Errorf("order %s from %s to %s: %w", orderID, o.Status, out.Decision.Status, order.ErrInvalidTransition)
		}
		if out.Decision.Status == order.StatusConfirmed {
			ids, qty := make([]uuid.UUID, len(o.Items)), make([]int32, len(o.Items))
			for i, it := range o.Items {
				ids[i], qty[i] = it.ProductID, int32(it.Quantity)
			}
			if _, err := tx.Exec(ctx, `UPDATE products p SET stock = p.stock - x.qty
				FROM unnest($1::uuid[], $2::int[]) AS x(id, qty) WHERE p.id = x.id`, ids, qty); err != nil {
				return fmt.Errorf("taking stock: %w", err)
			}
			_, err = tx.Exec(ctx, `UPDATE orders SET status = 'confirmed', confirmed_at = now(), updated_at = now() WHERE id = $1`, orderID)
		} else {
			_, err = tx.Exec(ctx, `UPDATE orders SET status = 'rejected', rejected_at = now(), rejection_reason = $2, updated_at = now() WHERE id = $1`,
				orderID, out.Decision.Reason)
		}
		if err != nil {
			return fmt.Errorf("updating order %s: %w", orderID, err)
		}
		return nil
	})
	if err != nil {
		return Outcome{}, classify(err)
	}
	return out, nil
}

func productIDs(items []order.Item) []uuid.UUID {
	ids := make([]uuid.UUID, len(items))
	for i, it := range items {
		ids[i] = it.ProductID
	}
	return ids
}
