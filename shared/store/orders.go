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
	// Event is that outbox row as written, ready for
	// Outbox.PublishCommitted; zero when Replayed.
	Event Event
	// Replayed is true when the Idempotency-Key matched an earlier order
	// and nothing was written.
	Replayed bool
}

// Create prices req against the catalogue and writes, atomically, the
// pending order, its items and an outbox row with the OrderCreated event
// (subject is the event's routing key). With a non-empty idempotencyKey a
// retry returns the first order and writes nothing; unknown products come
// back as *order.ValidationError.
//
// It costs two round trips: one batch reads the idempotency key and the
// products, one statement writes the order, its items and the outbox row
// (data-modifying CTEs, so it commits on its own and writes all or nothing).
// A concurrent request with the same key that commits in between makes the
// insert write nothing (ON CONFLICT DO NOTHING covers all three tables) and
// the earlier order is returned.
func (r *Orders) Create(ctx context.Context, req order.CreateRequest, idempotencyKey, subject string) (Placed, error) {
	placed, err := r.create(ctx, req, idempotencyKey, subject)
	if err != nil {
		return Placed{}, classify(err)
	}
	return placed, nil
}

func (r *Orders) create(ctx context.Context, req order.CreateRequest, idempotencyKey, subject string) (Placed, error) {
	hash := requestHash(req)
	var (
		b        pgx.Batch
		prev     keyHolder
		products map[uuid.UUID]order.Product
	)
	if idempotencyKey != "" {
		queueKeyHolder(&b, idempotencyKey, &prev)
	}
	queueProductsByID(&b, req.ProductIDs(), &products)
	if err := r.pool.SendBatch(ctx, &b).Close(); err != nil {
		return Placed{}, err
	}
	if prev.found {
		return r.replayOf(ctx, prev, hash)
	}
	if err := order.UnknownProducts(req, products); err != nil {
		return Placed{}, err
	}
	// Microseconds: what PostgreSQL keeps, so the response equals a later GET.
	now := time.Now().UTC().Truncate(time.Microsecond)
	o, err := order.New(uuid.New(), req, products, now)
	if err != nil {
		return Placed{}, err
	}
	ev := order.NewOrderCreated(uuid.New(), o)
	payload, err := json.Marshal(ev)
	if err != nil {
		return Placed{}, fmt.Errorf("encoding OrderCreated: %w", err)
	}
	var key *string
	if idempotencyKey != "" {
		key = &idempotencyKey
	}
	n := len(o.Items)
	lines, qty := make([]int32, n), make([]int32, n)
	ids, names := make([]uuid.UUID, n), make([]string, n)
	prices := make([]decimal.Decimal, n)
	for i, it := range o.Items {
		lines[i], ids[i], names[i], qty[i], prices[i] = int32(i+1), it.ProductID, it.Name, int32(it.Quantity), it.UnitPrice.Decimal()
	}
	var outboxID int64
	tc := traceContextFrom(ctx)
	err = r.pool.QueryRow(ctx, insertOrderSQL,
		o.ID, o.Status, o.Customer.Name, o.Customer.Email, o.Total.Decimal(), key, hash, now,
		lines, ids, names, qty, prices,
		ev.EventID, ev.Type, subject, order.EventContentType, payload, nullable(tc.Parent), nullable(tc.State)).Scan(&outboxID)
	if errors.Is(err, pgx.ErrNoRows) {
		// A concurrent request with the same key committed first.
		return r.replay(ctx, idempotencyKey, hash)
	}
	if err != nil {
		return Placed{}, fmt.Errorf("inserting order: %w", err)
	}
	return Placed{Order: o, OutboxID: outboxID, Event: Event{ID: outboxID, EventID: ev.EventID, Type: ev.Type, Subject: subject,
		ContentType: order.EventContentType, Payload: payload, Trace: tc}}, nil
}

// insertOrderSQL writes an order, its items and its outbox row in one
// statement. The items and the outbox row are selected FROM the inserted
// order, so an idempotency-key conflict writes none of them and the
// statement returns no row.
const insertOrderSQL = `WITH o AS (
	INSERT INTO orders (id, status, customer_name, customer_email, total, idempotency_key, request_hash, created_at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
), items AS (
	INSERT INTO order_items (order_id, line, product_id, name, quantity, unit_price)
	SELECT o.id, x.* FROM o, unnest($9::int[], $10::uuid[], $11::text[], $12::int[], $13::numeric[]) AS x
)
INSERT INTO outbox (event_id, event_type, subject, content_type, payload, trace_parent, trace_state)
SELECT $14::uuid, $15::text, $16::text, $17::text, $18::bytea, $19::text, $20::text FROM o RETURNING id`

// keyHolder is the order that holds an Idempotency-Key, if any.
type keyHolder struct {
	found bool
	id    uuid.UUID
	hash  []byte
}

func queueKeyHolder(b *pgx.Batch, key string, h *keyHolder) {
	b.Queue(`SELECT id, request_hash FROM orders WHERE idempotency_key = $1`, key).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&h.id, &h.hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("looking up idempotency key: %w", err)
		}
		h.found = true
		return nil
	})
}

// replay returns the order holding key, which must exist.
func (r *Orders) replay(ctx context.Context, key string, hash []byte) (Placed, error) {
	var (
		b pgx.Batch
		h keyHolder
	)
	queueKeyHolder(&b, key, &h)
	if err := r.pool.SendBatch(ctx, &b).Close(); err != nil {
		return Placed{}, err
	}
	if !h.found {
		return Placed{}, fmt.Errorf("idempotency key %q conflicted but no order holds it", key)
	}
	return r.replayOf(ctx, h, hash)
}

// replayOf returns the order holding the key, or ErrIdempotencyConflict
// when it was created from another request.
func (r *Orders) replayOf(ctx context.Context, h keyHolder, hash []byte) (Placed, error) {
	if !bytes.Equal(h.hash, hash) {
		return Placed{}, ErrIdempotencyConflict
	}
	o, err := getOrder(ctx, r.pool, h.id)
	if err != nil {
		return Placed{}, err
	}
	return Placed{Order: o, Replayed: true}, nil
}

// Get returns the order with its items, or ErrNotFound.
func (r *Orders) Get(ctx context.Context, id uuid.UUID) (order.Order, error) {
	o, err := getOrder(ctx, r.pool, id)
	return o, classify(err)
}

// batcher is what a pool, a connection and a transaction offer.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// getOrder reads an order with its items in one round trip.
func getOrder(ctx context.Context, q batcher, id uuid.UUID) (order.Order, error) {
	var (
		b pgx.Batch
		o order.Order
	)
	queueOrder(&b, id, "", &o)
	if err := q.SendBatch(ctx, &b).Close(); err != nil {
		return order.Order{}, err
	}
	return o, nil
}

// queueOrder queues the reads of order id and its items into o; suffix
// may add a locking clause to the order's query. A missing order fails the
// batch with ErrNotFound.
func queueOrder(b *pgx.Batch, id uuid.UUID, suffix string, o *order.Order) {
	b.Queue(`SELECT id, status, customer_name, customer_email, total, created_at, updated_at, confirmed_at, rejected_at, rejection_reason
		FROM orders WHERE id = $1`+suffix, id).QueryRow(func(row pgx.Row) error {
		var (
			total  decimal.Decimal
			reason *string
		)
		err := row.Scan(&o.ID, &o.Status, &o.Customer.Name, &o.Customer.Email, &total,
			&o.CreatedAt, &o.UpdatedAt, &o.ConfirmedAt, &o.RejectedAt, &reason)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("order %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("reading order %s: %w", id, err)
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
		return nil
	})
	b.Queue(`SELECT product_id, name, quantity, unit_price FROM order_items WHERE order_id = $1 ORDER BY line`, id).Query(func(rows pgx.Rows) error {
		items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (order.Item, error) {
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
			return fmt.Errorf("reading items of order %s: %w", id, err)
		}
		o.Items = items
		return nil
	})
}

// requestHash fingerprints a validated request so a reused Idempotency-Key
// with another body can be refused.
func requestHash(req order.CreateRequest) []byte {
	b, _ := json.Marshal(req) // plain struct of strings, ints and UUIDs: cannot fail
	sum := sha256.Sum256(b)
	return sum[:]
}
