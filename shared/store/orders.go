package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/orderflow/orderflow/shared/order"
)

// Orders is the order repository.
type Orders struct{ pool *pgxpool.Pool }

// Placed is the result of Orders.Create.
type Placed struct {
	// Order is the stored order.
	Order order.Order
	// OutboxID is the outbox row holding its OrderCreated event; 0 when
	// Replayed.
	OutboxID int64
	// Replayed is true when the Idempotency-Key matched an earlier order
	// and nothing was written.
	Replayed bool
}

// Create prices req against the catalogue and writes, in one transaction,
// the pending order, its items and an outbox row with the OrderCreated event
// (subject is the event's routing key). With a non-empty idempotencyKey a
// retry returns the first order and writes nothing; unknown products come
// back as *order.ValidationError.
func (r *Orders) Create(ctx context.Context, req order.CreateRequest, idempotencyKey, subject string) (Placed, error) {
	hash := requestHash(req)
	var placed Placed
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if idempotencyKey != "" {
			p, found, err := r.replay(ctx, tx, idempotencyKey, hash)
			if err != nil || found {
				placed = p
				return err
			}
		}
		products, err := productsByID(ctx, tx, req.ProductIDs())
		if err != nil {
			return err
		}
		if err := order.UnknownProducts(req, products); err != nil {
			return err
		}
		// Microseconds: what PostgreSQL keeps, so the response equals a later GET.
		now := time.Now().UTC().Truncate(time.Microsecond)
		o, err := order.New(uuid.New(), req, products, now)
		if err != nil {
			return err
		}
		var key *string
		if idempotencyKey != "" {
			key = &idempotencyKey
		}
		tag, err := tx.Exec(ctx, `INSERT INTO orders (id, status, customer_name, customer_email, total, idempotency_key, request_hash, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (idempotency_key) DO NOTHING`,
			o.ID, o.Status, o.Customer.Name, o.Customer.Email, o.Total.Decimal(), key, hash, now)
		if err != nil {
			return fmt.Errorf("inserting order: %w", err)
		}
		if tag.RowsAffected() == 0 {
			// A concurrent request with the same key committed first.
			p, found, err := r.replay(ctx, tx, idempotencyKey, hash)
			if err == nil && !found {
				err = fmt.Errorf("idempotency key %q conflicted but no order holds it", idempotencyKey)
			}
			placed = p
			return err
		}
		if err := insertItems(ctx, tx, o); err != nil {
			return err
		}
		ev := order.NewOrderCreated(uuid.New(), o)
		payload, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encoding OrderCreated: %w", err)
		}
		var outboxID int64
		if err := tx.QueryRow(ctx, `INSERT INTO outbox (event_id, event_type, subject, content_type, payload)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			ev.EventID, ev.Type, subject, order.EventContentType, payload).Scan(&outboxID); err != nil {
			return fmt.Errorf("inserting outbox row: %w", err)
		}
		placed = Placed{Order: o, OutboxID: outboxID}
		return nil
	})
	if err != nil {
		return Placed{}, classify(err)
	}
	return placed, nil
}

// replay looks up the order created with key.
func (r *Orders) replay(ctx context.Context, tx pgx.Tx, key string, hash []byte) (Placed, bool, error) {
	var (
		id   uuid.UUID
		prev []byte
	)
	err := tx.QueryRow(ctx, `SELECT id, request_hash FROM orders WHERE idempotency_key = $1`, key).Scan(&id, &prev)
	if errors.Is(err, pgx.ErrNoRows) {
		return Placed{}, false, nil
	}
	if err != nil {
		return Placed{}, false, fmt.Errorf("looking up idempotency key: %w", err)
	}
	if !bytes.Equal(prev, hash) {
		return Placed{}, true, ErrIdempotencyConflict
	}
	o, err := getOrder(ctx, tx, id)
	if err != nil {
		return Placed{}, true, err
	}
	return Placed{Order: o, Replayed: true}, true, nil
}

func insertItems(ctx context.Context, tx pgx.Tx, o order.Order) error {
	n := len(o.Items)
	lines, qty := make([]int32, n), make([]int32, n)
	ids, names := make([]uuid.UUID, n), make([]string, n)
	prices := make([]decimal.Decimal, n)
	for i, it := range o.Items {
		lines[i], ids[i], names[i], qty[i], prices[i] = int32(i+1), it.ProductID, it.Name, int32(it.Quantity), it.UnitPrice.Decimal()
	}
	_, err := tx.Exec(ctx, `INSERT INTO order_items (order_id, line, product_id, name, quantity, unit_price)
		SELECT $1, * FROM unnest($2::int[], $3::uuid[], $4::text[], $5::int[], $6::numeric[])`,
		o.ID, lines, ids, names, qty, prices)
	if err != nil {
		return fmt.Errorf("inserting order items: %w", err)
	}
	return nil
}

// Get returns the order with its items, or ErrNotFound.
func (r *Orders) Get(ctx context.Context, id uuid.UUID) (order.Order, error) {
	o, err := getOrder(ctx, r.pool, id)
	return o, classify(err)
}

// querier is what both a pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getOrder(ctx context.Context, q querier, id uuid.UUID) (order.Order, error) {
	var (
		o      order.Order
		total  decimal.Decimal
		reason *string
	)
	err := q.QueryRow(ctx, `SELECT id, status, customer_name, customer_email, total, created_at, updated_at, confirmed_at, rejected_at, rejection_reason
		FROM orders WHERE id = $1`, id).Scan(&o.ID, &o.Status, &o.Customer.Name, &o.Customer.Email, &total,
		&o.CreatedAt, &o.UpdatedAt, &o.ConfirmedAt, &o.RejectedAt, &reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("reading order %s: %w", id, err)
	}
	o.Total = order.NewMoney(total)
	if reason != nil {
		o.RejectionReason = *reason
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	for _, t := range []*time.Time{o.ConfirmedAt, o.RejectedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	rows, err := q.Query(ctx, `SELECT product_id, name, quantity, unit_price FROM order_items WHERE order_id = $1 ORDER BY line`, id)
	if err != nil {
		return order.Order{}, fmt.Errorf("reading items of order %s: %w", id, err)
	}
	o.Items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (order.Item, error) {
		var (
			it    order.Item
			price decimal.Decimal
		)
		err := row.Scan(&it.ProductID, &it.Name, &it.Quantity, &price)
		it.UnitPrice = order.NewMoney(price)
		it.LineTotal = it.UnitPrice.Times(it.Quantity)
		return it, err
	})
	if err != nil {
		return order.Order{}, fmt.Errorf("reading items of order %s: %w", id, err)
	}
	return o, nil
}

// requestHash fingerprints a validated request so a reused Idempotency-Key
// with another body can be refused.
func requestHash(req order.CreateRequest) []byte {
	b, _ := json.Marshal(req) // plain struct of strings, ints and UUIDs: cannot fail
	sum := sha256.Sum256(b)
	return sum[:]
}
