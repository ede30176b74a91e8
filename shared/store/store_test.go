package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/shared/order"
	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/shared/store/storetest"
)

var (
	beans = uuid.MustParse("a0000000-0000-4000-8000-000000000001")
	mug   = uuid.MustParse("a0000000-0000-4000-8000-000000000002")
)

type bundle struct {
	ctx   context.Context
	store *store.Store
}

func setup(t *testing.T) bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return bundle{ctx: ctx, store: storetest.New(t)}
}

func request() order.CreateRequest {
	return order.CreateRequest{CustomerName: "Ana", CustomerEmail: "ana@example.com",
		Items: []order.ItemRequest{{ProductID: beans, Quantity: 2}, {ProductID: mug, Quantity: 1}}}
}

func count(t *testing.T, b bundle, table string) int {
	t.Helper()
	var n int
	if err := b.store.Pool().QueryRow(b.ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrateConcurrentOnFreshSchema(t *testing.T) {
	t.Parallel()
	cfg := storetest.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			s, err := store.Open(ctx, cfg)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate failed: %v", err)
		}
	}
	s, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("listing migrations: %v", err)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) {
		t.Fatalf("schema_migrations rows = %d, %v; want %d", n, err, len(files))
	}
}

func TestCreateOrderWritesOrderItemsAndOutbox(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p, err := b.store.Orders.Create(b.ctx, request(), "", "order.created")
	if err != nil {
		t.Fatal(err)
	}
	if p.Order.Status != order.StatusPending || p.Order.Total.String() != "59.30" || p.OutboxID == 0 || p.Replayed {
		t.Fatalf("unexpected %+v", p)
	}
	got, err := b.store.Orders.Get(b.ctx, p.Order.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(p.Order.CreatedAt) || len(got.Items) != 2 || got.Items[0].UnitPrice.String() != "24.90" || !got.Total.Equal(p.Order.Total) {
		t.Fatalf("stored order differs: %+v vs %+v", got, p.Order)
	}
	var payload []byte
	if err := b.store.Pool().QueryRow(b.ctx, `SELECT payload FROM outbox WHERE id = $1`, p.OutboxID).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	ev, err := order.ParseOrderCreated(payload)
	if err != nil || ev.OrderID != p.Order.ID || ev.Total.String() != "59.30" || len(ev.Items) != 2 {
		t.Fatalf("outbox event %+v, %v", ev, err)
	}
	if _, err := b.store.Orders.Get(b.ctx, uuid.New()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing order: %v", err)
	}
}

func TestCreateOrderUnknownProductWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req := request()
	req.Items = append(req.Items, order.ItemRequest{ProductID: uuid.New(), Quantity: 1})
	_, err := b.store.Orders.Create(b.ctx, req, "k1", "order.created")
	var ve *order.ValidationError
	if !errors.As(err, &ve) || ve.Fields[0].Field != "items[2].productId" {
		t.Fatalf("want validation error on items[2], got %v", err)
	}
	for _, table := range []string{"orders", "order_items", "outbox"} {
		if n := count(t, b, table); n != 0 {
			t.Errorf("%s has %d rows", table, n)
		}
	}
}

func TestCreateOrderIdempotencyRace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 8
	ids := make([]uuid.UUID, n)
	var replays atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := b.store.Orders.Create(b.ctx, request(), "same-key", "order.created")
			if err != nil {
				t.Errorf("create %d: %v", i, err)
				return
			}
			ids[i] = p.Order.ID
			if p.Replayed {
				replays.Add(1)
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("different orders for one key: %v", ids)
		}
	}
	if replays.Load() != n-1 || count(t, b, "orders") != 1 || count(t, b, "outbox") != 1 || count(t, b, "order_items") != 2 {
		t.Fatalf("replays=%d orders=%d outbox=%d", replays.Load(), count(t, b, "orders"), count(t, b, "outbox"))
	}
	other := request()
	other.Items[0].Quantity = 3
	if _, err := b.store.Orders.Create(b.ctx, other, "same-key", "order.created"); !errors.Is(err, store.ErrIdempotencyConflict) {
		t.Fatalf("reused key with another body: %v", err)
	}
}

func TestOutboxTwoRelaysPublishEachEventOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 20
	for range n {
		if _, err := b.store.Orders.Create(b.ctx, request(), "", "order.created"); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[uuid.UUID]int{}
	publish := func(_ context.Context, e store.Event) error {
		mu.Lock()
		defer mu.Unlock()
		seen[e.EventID]++
		return nil
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := b.store.Outbox.Relay(b.ctx, n, 0, publish); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("published %d distinct events, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("event %s published %d times", id, c)
		}
	}
	if p, err := b.store.Outbox.Pending(b.ctx); err != nil || p != 0 {
		t.Fatalf("pending = %d, %v", p, err)
	}
}

func TestOutboxRelayStopsAtFailureAndKeepsOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 3 {
		if _, err := b.store.Orders.Create(b.ctx, request(), "", "order.created"); err != nil {
			t.Fatal(err)
		}
	}
	boom := errors.New("broker down")
	var got []int64
	n, err := b.store.Outbox.Relay(b.ctx, 10, 0, func(_ context.Context, e store.Event) error {
		if len(got) == 1 {
			return boom
		}
		got = append(got, e.ID)
		return nil
	})
	if !errors.Is(err, boom) || n != 1 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	var attempts int
	var lastErr string
	if err := b.store.Pool().QueryRow(b.ctx, `SELECT attempts, last_error FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 1`).Scan(&attempts, &lastErr); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || lastErr != "broker down" {
		t.Fatalf("failure not recorded: %d %q", attempts, lastErr)
	}
	n, err = b.store.Outbox.Relay(b.ctx, 10, 0, func(_ context.Context, e store.Event) error {
		got = append(got, e.ID)
		return nil
	})
	if err != nil || n != 2 || !(got[0] < got[1] && got[1] < got[2]) {
		t.Fatalf("n=%d err=%v order=%v", n, err, got)
	}
}

func TestProducts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seed, err := b.store.Products.List(b.ctx)
	if err != nil || len(seed) != 5 {
		t.Fatalf("seed products: %d %v", len(seed), err)
	}
	price, _ := order.ParseMoney("3.10")
	p, err := b.store.Products.Create(b.ctx, order.NewProduct{Name: "Aeropress", Price: price, Stock: 4})
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.store.Products.Get(b.ctx, p.ID)
	if err != nil || got.Price.String() != "3.10" || got.Stock != 4 {
		t.Fatalf("got %+v %v", got, err)
	}
}

func TestUnavailableDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens there.
	_, err := store.Open(ctx, store.Config{URL: "postgres://postgres@127.0.0.1:1/x?sslmode=disable"})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
}
