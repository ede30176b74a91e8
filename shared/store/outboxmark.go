package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// maxMarkBatch bounds the rows one marking UPDATE covers.
const maxMarkBatch = 256

// markTimeout bounds one marking UPDATE.
const markTimeout = 5 * time.Second

// marker marks outbox rows published with one UPDATE for every row that is
// waiting when the previous UPDATE finishes (group commit): one call at a
// time costs what marking a single row costs, concurrent calls share the
// statement and its transaction. The first call whose batch it is runs the
// UPDATE for everyone in it; the calls that arrive meanwhile queue up and
// the first of them runs the next batch, so no goroutine outlives a call.
type marker struct {
	mu      sync.Mutex
	queue   []*markReq
	running bool
}

type markReq struct {
	id   int64
	done chan error // buffered: the runner never blocks on a caller gone
	lead chan struct{}
}

// mark marks row id published and returns when the UPDATE that covered it
// committed, or when ctx ends (the row may still be marked then).
func (m *marker) mark(ctx context.Context, pool *pgxpool.Pool, id int64) error {
	r := &markReq{id: id, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	m.mu.Lock()
	m.queue = append(m.queue, r)
	if !m.running {
		m.running = true
		r.lead <- struct{}{}
	}
	m.mu.Unlock()
	select {
	case <-r.lead:
		m.run(ctx, pool)
	case err := <-r.done:
		return err
	case <-ctx.Done():
		m.abandon(r)
		return ctx.Err()
	}
	return <-r.done
}

// run takes the queue (up to maxMarkBatch rows, the caller's own among
// them), marks it, and hands the next batch to the first caller queued
// since. The UPDATE runs on the leading caller's context values but not its
// cancellation (bounded by markTimeout instead): one client hanging up must
// not fail the marks of everyone else in the batch. A batch that fails
// fails for everyone in it; the relay publishes those rows again later.
func (m *marker) run(ctx context.Context, pool *pgxpool.Pool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	m.mu.Lock()
	n := min(len(m.queue), maxMarkBatch)
	batch := m.queue[:n:n]
	m.queue = m.queue[n:]
	m.mu.Unlock()

	ids := make([]int64, len(batch))
	for i, r := range batch {
		ids[i] = r.id
	}
	_, err := pool.Exec(ctx, `UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL
		WHERE id = ANY($1) AND published_at IS NULL`, ids)
	if err != nil {
		err = fmt.Errorf("marking %d outbox rows: %w", len(ids), err)
	}
	for _, r := range batch {
		r.done <- err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.handOn()
}

// handOn lets the first queued caller run the next batch, if any. m.mu is
// held.
func (m *marker) handOn() {
	if len(m.queue) == 0 {
		m.running = false
		return
	}
	m.queue[0].lead <- struct{}{}
}

// abandon takes r, whose caller gave up, out of the queue. If r was to run
// the next batch, the next caller in the queue does. A request already in a
// batch stays there; its result goes unread.
func (m *marker) abandon(r *markReq) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.Index(m.queue, r)
	if i < 0 {
		return
	}
	m.queue = slices.Delete(m.queue, i, i+1)
	select {
	case <-r.lead:
		m.handOn()
	default:
	}
}
