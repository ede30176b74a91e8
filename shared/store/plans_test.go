package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/shared/order"
	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/shared/store/storetest"
)

// TestProductReadSettlesOnGenericPlan checks that PostgreSQL stops planning
// the product read of every order: after the first five executions of a
// prepared statement the plan cache compares the generic plan with the
// custom ones and keeps the generic plan only if it is no costlier. With the
// ids as one array parameter it never was, so every order paid for planning.
// The counts come from pg_prepared_statements, which lists the statements
// of the current session: the store gets a single connection.
func TestProductReadSettlesOnGenericPlan(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := storetest.Config(t)
	cfg.MaxConns = 1
	s, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	three := order.CreateRequest{CustomerName: "Ana", CustomerEmail: "ana@example.com", Items: []order.ItemRequest{
		{ProductID: beans, Quantity: 1}, {ProductID: mug, Quantity: 2},
		{ProductID: uuid.MustParse("a0000000-0000-4000-8000-000000000003"), Quantity: 3}}}
	const runs = 20
	for i := range runs {
		if _, err := s.Products.Get(ctx, beans); err != nil {
			t.Fatal(err)
		}
		placed, err := s.Orders.Create(ctx, request(), fmt.Sprint("two-", i), "order.created")
		if err != nil {
			t.Fatal(err)
		}
		if len(placed.Order.Items) != 2 {
			t.Fatalf("order of two products has %d items", len(placed.Order.Items))
		}
		// Three ids are padded to four.
		placed, err = s.Orders.Create(ctx, three, fmt.Sprint("three-", i), "order.created")
		if err != nil {
			t.Fatal(err)
		}
		for j, it := range placed.Order.Items {
			if it.ProductID != three.Items[j].ProductID || it.Quantity != three.Items[j].Quantity || it.Name == "" {
				t.Fatalf("item %d = %+v, want product %s × %d", j, it, three.Items[j].ProductID, three.Items[j].Quantity)
			}
		}
	}

	rows, err := s.Pool().Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
		WHERE statement LIKE 'SELECT id, name, price, stock, created_at FROM products WHERE%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var executions int64
	for rows.Next() {
		var (
			stmt            string
			generic, custom int64
		)
		if err := rows.Scan(&stmt, &generic, &custom); err != nil {
			t.Fatal(err)
		}
		t.Logf("generic %d, custom %d: %s", generic, custom, stmt)
		executions += generic + custom
		// Five custom plans are how the plan cache starts; then generic.
		if custom > 5 {
			t.Errorf("%d of %d executions planned anew: %s", custom, generic+custom, stmt)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if executions != 3*runs {
		t.Fatalf("found %d executions of the product read, want %d", executions, 3*runs)
	}
}
