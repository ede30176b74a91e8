package store

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/orderflow/orderflow/shared/order"
)

// Products is the catalogue repository.
type Products struct{ pool *pgxpool.Pool }

// List returns every product ordered by name.
func (r *Products) List(ctx context.Context) ([]order.Product, error) {
	rows, err := r.pool.Query(ctx, `SELECT id, name, price, stock, created_at FROM products ORDER BY name, id`)
	if err != nil {
		return nil, classify(fmt.Errorf("listing products: %w", err))
	}
	ps, err := pgx.CollectRows(rows, scanProduct)
	if err != nil {
		return nil, classify(fmt.Errorf("listing products: %w", err))
	}
	return ps, nil
}

// Create stores a new product with a fresh id.
func (r *Products) Create(ctx context.Context, np order.NewProduct) (order.Product, error) {
	rows, err := r.pool.Query(ctx, `INSERT INTO products (id, name, price, stock) VALUES ($1, $2, $3, $4)
		RETURNING id, name, price, stock, created_at`, uuid.New(), np.Name, np.Price.Decimal(), np.Stock)
	if err != nil {
		return order.Product{}, classify(fmt.Errorf("creating product: %w", err))
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanProduct)
	if err != nil {
		return order.Product{}, classify(fmt.Errorf("creating product: %w", err))
	}
	return p, nil
}

// Get returns one product or ErrNotFound.
func (r *Products) Get(ctx context.Context, id uuid.UUID) (order.Product, error) {
	ps, err := productsByID(ctx, r.pool, []uuid.UUID{id})
	if err != nil {
		return order.Product{}, classify(err)
	}
	p, ok := ps[id]
	if !ok {
		return order.Product{}, fmt.Errorf("product %s: %w", id, ErrNotFound)
	}
	return p, nil
}

func productsByID(ctx context.Context, q batcher, ids []uuid.UUID) (map[uuid.UUID]order.Product, error) {
	var (
		b  pgx.Batch
		ps map[uuid.UUID]order.Product
	)
	queueProductsByID(&b, ids, &ps)
	if err := q.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	return ps, nil
}

// queueProductsByID queues the read of the products ids into *ps.
//
// The ids travel as a fixed-arity list, padded to a power of two by
// repeating the last id (a duplicate in = ANY changes nothing), so that a
// handful of statement shapes cover every order size. With one array
// parameter ($1::uuid[]) PostgreSQL re-planned the statement on every
// execution: the generic plan, costed for an array of unknown length, never
// beat the custom plans, and planning was a sizeable part of PostgreSQL's
// CPU per order. With the elements as parameters the generic plan costs the
// same as a custom one, so it is chosen after the first five executions.
func queueProductsByID(b *pgx.Batch, ids []uuid.UUID, ps *map[uuid.UUID]order.Product) {
	args := productIDArgs(ids)
	b.Queue(productsByIDSQL(len(args)), args...).Query(func(rows pgx.Rows) error {
		list, err := pgx.CollectRows(rows, scanProduct)
		if err != nil {
			return fmt.Errorf("reading products: %w", err)
		}
		m := make(map[uuid.UUID]order.Product, len(list))
		for _, p := range list {
			m[p.ID] = p
		}
		*ps = m
		return nil
	})
}

// productIDArgs returns ids as statement arguments, padded by repeating the
// last id up to the next power of two (at least one argument: an empty list
// reads the nil UUID, which is no product).
func productIDArgs(ids []uuid.UUID) []any {
	n := 1
	for n < len(ids) {
		n *= 2
	}
	args := make([]any, n)
	last := uuid.Nil
	for i := range n {
		if i < len(ids) {
			last = ids[i]
		}
		args[i] = last
	}
	return args
}

// productsByIDSQLs caches the statement text per arity.
var productsByIDSQLs sync.Map // int → string

// productsByIDSQL is the product read for n id parameters.
func productsByIDSQL(n int) string {
	if s, ok := productsByIDSQLs.Load(n); ok {
		return s.(string)
	}
	var sb strings.Builder
	sb.WriteString(`SELECT id, name, price, stock, created_at FROM products WHERE id = ANY(ARRAY[`)
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "$%d::uuid", i+1)
	}
	sb.WriteString(`])`)
	s, _ := productsByIDSQLs.LoadOrStore(n, sb.String())
	return s.(string)
}

func scanProduct(row pgx.CollectableRow) (order.Product, error) {
	var (
		p     order.Product
		price decimal.Decimal
	)
	err := row.Scan(&p.ID, &p.Name, &price, &p.Stock, &p.CreatedAt)
	p.Price = order.NewMoney(price)
	p.CreatedAt = p.CreatedAt.UTC()
	return p, err
}
