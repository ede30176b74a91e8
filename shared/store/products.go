package store

import (
	"context"
	"fmt"

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
func queueProductsByID(b *pgx.Batch, ids []uuid.UUID, ps *map[uuid.UUID]order.Product) {
	b.Queue(`SELECT id, name, price, stock, created_at FROM products WHERE id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
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
