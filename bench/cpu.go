package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// CPU accounting per process group, from /proc/<pid>/stat (utime+stime, in
// clock ticks) read before and after a timed window. A poller re-reads
// every group's processes every cpuPoll so that processes that exit or
// start inside the window (pgbench's backends, autovacuum workers) are
// counted up to their last reading.

// cpuGroup names a set of processes measured together.
type cpuGroup string

const (
	cpuBench      cpuGroup = "bench process (host + emulator + SMTP sink, one process)"
	cpuLoad       cpuGroup = "load client (own process)"
	cpuHandler    cpuGroup = "handler"
	cpuPGBackends cpuGroup = "postgres backends of the benchmark's database"
	cpuPGBack     cpuGroup = "postgres background processes (whole server, shared)"
	cpuRabbit     cpuGroup = "rabbitmq beam.smp (whole server, shared)"
	cpuPgbench    cpuGroup = "pgbench client"
)

// clockTicks is USER_HZ (sysconf(_SC_CLK_TCK)); 100 on every Linux
// architecture Go supports.
const clockTicks = 100

const cpuPoll = 200 * time.Millisecond

// cpuMeter measures one window.
type cpuMeter struct {
	pool     *pgxpool.Pool // a connection to the postgres database (not the measured one)
	db       string        // the measured database
	handlers []int
	extra    map[cpuGroup]func() []int
	rabbit   []int // beam.smp

	mu    sync.Mutex
	first map[int]int64 // ticks at the pid's first reading (0 when first seen after the start)
	last  map[int]int64
	group map[int]cpuGroup

	xact0  int64
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

// cpuReport is the outcome of one window.
type cpuReport struct {
	Seconds float64
	// Ms is CPU milliseconds per group over the window.
	Ms map[cpuGroup]float64
	// Xacts is the committed+rolled back transaction delta of the database.
	Xacts int64
}

// perOrder returns CPU ms per order per group, plus "ours" (bench process +
// handler) and "postgres" (backends + background) sums.
func (r cpuReport) perOrder(orders int) map[string]float64 {
	out := map[string]float64{}
	if orders == 0 {
		return out
	}
	for g, ms := range r.Ms {
		out[string(g)] = round3(ms / float64(orders))
	}
	out["xacts per order"] = round3(float64(r.Xacts) / float64(orders))
	return out
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// startCPU takes the first readings of the bench process, the handlers,
// PostgreSQL (the backends connected to db, the server's background
// processes) and RabbitMQ's beam.smp, and the database's transaction
// counter, then polls until stop.
func startCPU(ctx context.Context, db string, handlers []int, extra map[cpuGroup]func() []int) (*cpuMeter, error) {
	pool, err := pgxpool.New(ctx, fmt.Sprintf(postgresURL, "postgres")+"&application_name=bench-cpu&pool_max_conns=1")
	if err != nil {
		return nil, err
	}
	m := &cpuMeter{pool: pool, db: db, handlers: handlers, extra: extra,
		first: map[int]int64{}, last: map[int]int64{}, group: map[int]cpuGroup{}, done: make(chan struct{})}
	if m.xact0, err = m.xacts(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := m.read(ctx, true); err != nil {
		pool.Close()
		return nil, err
	}
	m.start = time.Now()
	pctx, cancel := context.WithCancel(ctx)
	m.cancel = cancel
	go func() {
		defer close(m.done)
		t := time.NewTicker(cpuPoll)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				_ = m.read(pctx, false)
			}
		}
	}()
	return m, nil
}

// stop takes the last readings. The transaction counter is read after
// settle: PostgreSQL 15 backends flush their statistics at most once a
// second while busy and ten seconds after going idle.
func (m *cpuMeter) stop(ctx context.Context, settle time.Duration) (cpuReport, error) {
	defer m.pool.Close()
	m.cancel()
	<-m.done
	if err := m.read(ctx, false); err != nil {
		return cpuReport{}, err
	}
	r := cpuReport{Seconds: time.Since(m.start).Seconds(), Ms: map[cpuGroup]float64{}}
	m.mu.Lock()
	for pid, g := range m.group {
		r.Ms[g] += float64(m.last[pid]-m.first[pid]) * 1000 / clockTicks
	}
	m.mu.Unlock()
	if settle > 0 {
		time.Sleep(settle)
	}
	x, err := m.xacts(ctx)
	if err != nil {
		return r, err
	}
	r.Xacts = x - m.xact0
	return r, nil
}

func (m *cpuMeter) xacts(ctx context.Context) (int64, error) {
	var n int64
	err := m.pool.QueryRow(ctx, `SELECT coalesce(sum(xact_commit + xact_rollback), 0)::bigint FROM pg_stat_database WHERE datname = $1`, m.db).Scan(&n)
	return n, err
}

func (m *cpuMeter) read(ctx context.Context, initial bool) error {
	groups := map[int]cpuGroup{os.Getpid(): cpuBench}
	for _, p := range m.handlers {
		groups[p] = cpuHandler
	}
	rows, err := m.pool.Query(ctx, `SELECT pid, backend_type = 'client backend' AND datname = $1 FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND application_name <> $2
		AND ((backend_type = 'client backend' AND datname = $1) OR backend_type <> 'client backend')`, m.db, observerApp)
	if err != nil {
		return err
	}
	for rows.Next() {
		var pid int
		var ours bool
		if err := rows.Scan(&pid, &ours); err != nil {
			return err
		}
		if ours {
			groups[pid] = cpuPGBackends
		} else {
			groups[pid] = cpuPGBack
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// Scanning /proc is costly enough to show in this process's figure:
	// RabbitMQ's processes are looked up once, at the start.
	if initial {
		m.rabbit = pidsNamed("beam.smp")
	}
	for _, p := range m.rabbit {
		groups[p] = cpuRabbit
	}
	for g, f := range m.extra {
		for _, p := range f() {
			groups[p] = g
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for pid, g := range groups {
		t, err := procTicks(pid)
		if err != nil {
			continue // exited between the listing and the reading
		}
		if _, seen := m.group[pid]; !seen {
			m.group[pid] = g
			if initial {
				m.first[pid] = t
			}
		}
		m.last[pid] = t
	}
	return nil
}

// procTicks is utime+stime of pid (all its threads), in clock ticks.
func procTicks(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return u + st, nil
}

// pidsNamed lists the processes whose command name is name.
func pidsNamed(name string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(b)) == name {
			out = append(out, pid)
		}
	}
	return out
}

// cpuSummary renders per-order figures in a stable order, for logs.
func cpuSummary(per map[string]float64) string {
	keys := make([]string, 0, len(per))
	for k := range per {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n    %-62s %8.3f", k, per[k])
	}
	return b.String()
}

// cpuResults turns per-order figures into results rows named prefix-cpu-*.
func cpuResults(prefix string, per map[string]float64, params map[string]any) []Result {
	keys := make([]string, 0, len(per))
	for k := range per {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Result
	for _, k := range keys {
		unit, name := "ms/order", prefix+"-cpu "+k
		if k == "xacts per order" {
			unit, name = "xacts/order", prefix+"-xacts"
		}
		r := newResult(name, k, unit, per[k], 0, false)
		r.Params = params
		out = append(out, r)
	}
	return out
}

// statsSettle is how long to wait for PostgreSQL 15's transaction
// statistics of idle backends to reach pg_stat_database.
const statsSettle = 11 * time.Second
