package main

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/shared/store"
)

// pgbenchResult is the intake baseline: pgbench running the handler's SQL.
type pgbenchResult struct {
	Rate      float64 // orders/s, handler's transaction boundaries
	P50, P99  time.Duration
	OneTxRate float64 // orders/s with every statement in one transaction
	Clients   int
	Duration  time.Duration
	// CPU is CPU ms per order of pgbench and PostgreSQL in the main pass.
	CPU map[string]float64
}

// The baseline is measured once per run and shared by the intake and the
// end-to-end comparisons.
var pgbenchOnce struct {
	sync.Once
	res pgbenchResult
	err error
}

func pgbenchIntake(ctx context.Context, cfg runConfig) (pgbenchResult, error) {
	pgbenchOnce.Do(func() { pgbenchOnce.res, pgbenchOnce.err = runPgbench(ctx, cfg) })
	return pgbenchOnce.res, pgbenchOnce.err
}

// intakeScript is what CreateOrder runs for one order with an
// Idempotency-Key (shared/store: Orders.Create, then
// Outbox.PublishCommitted), statement for statement and round trip for round
// trip, with pgbench variables for the parameters. The handler spends three
// round trips:
//  1. one pipelined batch (an implicit transaction) reading the
//     idempotency key and the products;
//  2. one statement writing order, items and outbox row (data-modifying
//     CTEs), committing on its own;
//  3. after the broker publish (which pgbench cannot do), the UPDATE
//     marking the row published, committing on its own.
//
// The handler shares step 3 among concurrent requests (one UPDATE for the
// rows waiting); pgbench cannot, so it marks each order's row alone, as the
// handler does when requests do not overlap. pgbench sends the pipelined
// group with \startpipeline/\endpipeline like pgx sends a batch. With oneTx
// every statement runs in one transaction (BEGIN with the reads, the insert,
// the mark and COMMIT).
func intakeScript(oneTx bool) string {
	const payload = `{"version":1,"eventId":"00000000-0000-4000-8000-000000000000","type":"OrderCreated",` +
		`"orderId":"00000000-0000-4000-8000-000000000001","customer":{"name":"Bench Client","email":"bench-1@example.com"},` +
		`"items":[{"productId":"a0000000-0000-4000-8000-000000000005","name":"Gift card","quantity":1,"unitPrice":"25.00"}],` +
		`"total":"25.00","createdAt":"2026-01-01T00:00:00.000000Z"}`
	hash := strings.Repeat("ab", 32)
	var b strings.Builder
	fmt.Fprintf(&b, "\\set n random(1, 4000000000000000000)\n")
	b.WriteString("\\startpipeline\n")
	if oneTx {
		b.WriteString("BEGIN;\n")
	}
	b.WriteString("SELECT id, request_hash FROM orders WHERE idempotency_key = 'bench-' || :n::text;\n")
	fmt.Fprintf(&b, "SELECT id, name, price, stock, created_at FROM products WHERE id = ANY(ARRAY['%s']::uuid[]);\n", benchProduct)
	b.WriteString("\\endpipeline\n")
	fmt.Fprintf(&b, "WITH o AS ("+
		"INSERT INTO orders (id, status, customer_name, customer_email, total, idempotency_key, request_hash, created_at, updated_at) "+
		"VALUES (md5('o' || :n::text)::uuid, 'pending', 'Bench Client', 'bench-' || :n::text || '@example.com', 25.00, 'bench-' || :n::text, "+
		"decode('%s', 'hex'), now(), now()) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"+
		"), items AS ("+
		"INSERT INTO order_items (order_id, line, product_id, name, quantity, unit_price) "+
		"SELECT o.id, x.* FROM o, unnest(ARRAY[1]::int[], ARRAY['%s']::uuid[], ARRAY['Gift card']::text[], ARRAY[1]::int[], ARRAY[25.00]::numeric[]) AS x"+
		") INSERT INTO outbox (event_id, event_type, subject, content_type, payload, trace_parent, trace_state) "+
		"SELECT md5('e' || :n::text)::uuid, 'OrderCreated'::text, 'order.created'::text, 'application/json'::text, convert_to('%s', 'UTF8'), "+
		"NULL::text, NULL::text FROM o RETURNING id \\gset\n",
		hash, benchProduct, payload)
	b.WriteString("UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL " +
		"WHERE id = ANY(ARRAY[:id]::bigint[]) AND published_at IS NULL;\n")
	if oneTx {
		b.WriteString("COMMIT;\n")
	}
	return b.String()
}

// runPgbench creates a scratch database with the app's schema (store.Open
// applies the same migrations), runs `pgbench -n -M prepared -f script -c N
// -T secs` with per-transaction logging for the latency percentiles, then
// the one-transaction variant, and drops the database.
func runPgbench(ctx context.Context, cfg runConfig) (pgbenchResult, error) {
	res := pgbenchResult{Clients: cfg.clients, Duration: cfg.intakeTime}
	db := "orderflow_pgbench_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	url := fmt.Sprintf(postgresURL, db)
	st, err := store.Open(ctx, store.Config{URL: url, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return res, fmt.Errorf("scratch database: %w", err)
	}
	st.Close()
	defer func() { _ = dropDatabase(context.WithoutCancel(ctx), db) }()
	dir, err := os.MkdirTemp("", "bench-pgbench")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	log.Printf("  pgbench: %d clients, %s, handler's transaction boundaries", cfg.clients, cfg.intakeTime)
	meter, err := startCPU(ctx, db, nil, map[cpuGroup]func() []int{cpuPgbench: func() []int { return pidsNamed("pgbench") }})
	if err != nil {
		return res, err
	}
	rate, lats, err := pgbench(ctx, dir, url, "two", intakeScript(false), cfg.clients, cfg.intakeTime, true)
	if err != nil {
		return res, err
	}
	cpu, err := meter.stop(ctx, 0)
	if err != nil {
		return res, err
	}
	// pgbench's own count: the statistics of its exited backends may not
	// have reached pg_stat_database.
	cpu.Xacts = 0
	res.CPU = cpu.perOrder(int(rate * cfg.intakeTime.Seconds()))
	delete(res.CPU, "xacts per order")
	log.Printf("  pgbench: CPU ms per order:%s", cpuSummary(res.CPU))
	res.Rate, res.P50, res.P99 = rate, percentile(lats, 50), percentile(lats, 99)
	short := max(cfg.intakeTime/2, 3*time.Second)
	log.Printf("  pgbench: %d clients, %s, one transaction", cfg.clients, short)
	if res.OneTxRate, _, err = pgbench(ctx, dir, url, "one", intakeScript(true), cfg.clients, short, false); err != nil {
		return res, err
	}
	return res, nil
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

func pgbench(ctx context.Context, dir, url, name, script string, clients int, d time.Duration, withLog bool) (float64, []time.Duration, error) {
	path := filepath.Join(dir, name+".sql")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		return 0, nil, err
	}
	args := []string{"-n", "-M", "prepared", "-f", path, "-c", strconv.Itoa(clients), "-j", "2",
		"-T", strconv.Itoa(int(d.Seconds()))}
	prefix := filepath.Join(dir, name+"-log")
	if withLog {
		args = append(args, "-l", "--log-prefix", prefix)
	}
	cmd := exec.CommandContext(ctx, "pgbench", append(args, url)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, nil, fmt.Errorf("pgbench: %w\n%s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return 0, nil, fmt.Errorf("pgbench printed no tps:\n%s", out)
	}
	rate, _ := strconv.ParseFloat(string(m[1]), 64)
	if !withLog {
		return rate, nil, nil
	}
	files, _ := filepath.Glob(prefix + ".*")
	var lats []time.Duration
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return 0, nil, err
		}
		s := bufio.NewScanner(fh)
		for s.Scan() {
			// client_id transaction_no time script_no time_epoch time_us
			fs := strings.Fields(s.Text())
			if len(fs) >= 3 {
				us, _ := strconv.ParseInt(fs[2], 10, 64)
				lats = append(lats, time.Duration(us)*time.Microsecond)
			}
		}
		fh.Close()
	}
	if len(lats) == 0 {
		return 0, nil, fmt.Errorf("pgbench wrote no transaction log under %s", dir)
	}
	return rate, lats, nil
}
