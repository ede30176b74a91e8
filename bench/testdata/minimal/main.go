// Command minimal is the intake baseline a user might write instead of a
// Functions app: net/http and pgx, the statements and transaction shape
// the handler had before the cuts in docs/performance.md (products read
// through one uuid[] parameter, outbox row locked and marked in a
// transaction of its own), kept so that a run compares old and new
// designs side by side, for POST /api/orders with an Idempotency-Key (a
// pipelined read of the key and the products, one statement writing order,
// items and outbox row, then lock the outbox row, publish to Service Bus
// and mark it published in a second transaction), and nothing else: no
// validation beyond what JSON decoding does, no problem+json, no
// telemetry. Settings: DATABASE_URL, ServiceBusConnection, PORT.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"
	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
)

type request struct {
	CustomerName  string `json:"customerName"`
	CustomerEmail string `json:"customerEmail"`
	Items         []struct {
		ProductID uuid.UUID `json:"productId"`
		Quantity  int       `json:"quantity"`
	} `json:"items"`
}

type server struct {
	pool   *pgxpool.Pool
	sender *azservicebus.Sender
}

func main() {
	ctx := context.Background()
	pcfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	pcfg.MaxConns = 10 // as the handler's store
	pcfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		pgxdecimal.Register(c.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		log.Fatal(err)
	}
	client, err := azservicebus.NewClientFromConnectionString(os.Getenv("ServiceBusConnection"), nil)
	if err != nil {
		log.Fatal(err)
	}
	sender, err := client.NewSender("orders", nil)
	if err != nil {
		log.Fatal(err)
	}
	s := &server{pool: pool, sender: sender}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/orders", s.create)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) {})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), mux))
}

func (s *server) create(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req request
	body := http.MaxBytesReader(w, r.Body, 64<<10)
	if err := json.NewDecoder(body).Decode(&req); err != nil || len(req.Items) == 0 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	raw, _ := json.Marshal(req)
	hash := sha256.Sum256(raw)
	ids := make([]uuid.UUID, len(req.Items))
	for i, it := range req.Items {
		ids[i] = it.ProductID
	}

	// Round trip 1: the key holder and the products, pipelined.
	var b pgx.Batch
	var holder uuid.UUID
	found := false
	b.Queue(`SELECT id, request_hash FROM orders WHERE idempotency_key = $1`, key).QueryRow(func(row pgx.Row) error {
		var h []byte
		err := row.Scan(&holder, &h)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	type product struct {
		name  string
		price decimal.Decimal
	}
	products := map[uuid.UUID]product{}
	b.Queue(`SELECT id, name, price, stock, created_at FROM products WHERE id = ANY($1::uuid[])`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id uuid.UUID
			var p product
			var stock int
			var created time.Time
			if err := rows.Scan(&id, &p.name, &p.price, &stock, &created); err != nil {
				return err
			}
			products[id] = p
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if found {
		writeJSON(w, http.StatusOK, map[string]any{"id": holder})
		return
	}
	id, eventID := uuid.New(), uuid.New()
	total := decimal.Zero
	lines := make([]int, len(req.Items))
	names := make([]string, len(req.Items))
	qty := make([]int, len(req.Items))
	prices := make([]decimal.Decimal, len(req.Items))
	for i, it := range req.Items {
		p, ok := products[it.ProductID]
		if !ok || it.Quantity < 1 {
			http.Error(w, "unknown product", http.StatusUnprocessableEntity)
			return
		}
		lines[i], names[i], qty[i], prices[i] = i+1, p.name, it.Quantity, p.price
		total = total.Add(p.price.Mul(decimal.NewFromInt(int64(it.Quantity))))
	}
	now := time.Now().UTC()
	payload, _ := json.Marshal(map[string]any{"version": 1, "eventId": eventID, "type": "OrderCreated", "orderId": id,
		"customer": map[string]string{"name": req.CustomerName, "email": req.CustomerEmail}, "total": total.StringFixed(2), "createdAt": now})

	// Round trip 2: order, items and outbox row in one statement. The SQL
	// is a deliberate copy of shared/store's: the baseline stands alone.
	var outboxID int64
	err := s.pool.QueryRow(ctx, `WITH o AS (
	INSERT INTO orders (id, status, customer_name, customer_email, total, idempotency_key, request_hash, created_at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
), items AS (
	INSERT INTO order_items (order_id, line, product_id, name, quantity, unit_price)
	SELECT o.id, x.* FROM o, unnest($9::int[], $10::uuid[], $11::text[], $12::int[], $13::numeric[]) AS x
)
INSERT INTO outbox (event_id, event_type, subject, content_type, payload, trace_parent, trace_state)
SELECT $14::uuid, $15::text, $16::text, $17::text, $18::bytea, $19::text, $20::text FROM o RETURNING id`,
		id, "pending", req.CustomerName, req.CustomerEmail, total, key, hash[:], now, lines, ids, names, qty, prices,
		eventID, "OrderCreated", "order.created", "application/json", payload, nil, nil).Scan(&outboxID)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}

	// Round trips 3 and 4: lock the row, publish, mark it published.
	if err := s.publish(ctx, outboxID, eventID, payload); err != nil {
		log.Printf("publish %d: %v (left in the outbox)", outboxID, err)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "status": "pending", "total": total.StringFixed(2)})
}

func (s *server) publish(ctx context.Context, outboxID int64, eventID uuid.UUID, payload []byte) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var locked int64
	if err := tx.QueryRow(ctx, `SELECT id FROM outbox WHERE id = $1 AND published_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`, outboxID).Scan(&locked); err != nil {
		return err
	}
	mid, ct, subject := eventID.String(), "application/json", "order.created"
	if err := s.sender.SendMessage(ctx, &azservicebus.Message{Body: payload, MessageID: &mid, ContentType: &ct, Subject: &subject}, nil); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1`, outboxID); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
