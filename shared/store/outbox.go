package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Event is one outbox row: an event waiting to be published.
type Event struct {
	// ID is the outbox sequence number; events are published in ID order.
	ID          int64
	EventID     uuid.UUID
	Type        string
	Subject     string
	ContentType string
	// Payload is the exact body to publish.
	Payload []byte
	// Trace is the W3C trace context of the request that created the
	// event (WithTraceContext); empty when it had none.
	Trace TraceContext
}

// PublishFunc publishes one event and returns only after the broker has
// confirmed it.
type PublishFunc func(ctx context.Context, e Event) error

// Outbox reads unpublished events and marks them published.
type Outbox struct {
	pool  *pgxpool.Pool
	marks marker
}

// PublishCommitted publishes e, the event of an outbox row its caller has
// just committed (Placed.Event), and marks the row published. It neither
// reads nor locks the row: the event is in memory, and the relay leaves such
// a row alone for a grace period (Relay). The mark is one UPDATE shared with
// the marks of concurrent calls (group commit), so under load a published
// event costs a fraction of a statement and no transaction of its own.
//
// A failed publish is recorded on the row (attempts, last_error), which
// also hands the row to the relay at once; the error is returned. A crash
// or a failed mark after a successful publish leaves the row unpublished:
// the relay publishes it again after the grace period and consumers drop
// the copy by its event id (at-least-once delivery, as before).
func (o *Outbox) PublishCommitted(ctx context.Context, e Event, publish PublishFunc) error {
	if pubErr := publish(ctx, e); pubErr != nil {
		_, err := o.pool.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1 AND published_at IS NULL`,
			e.ID, pubErr.Error())
		if err != nil {
			return fmt.Errorf("publishing outbox event %d: %w (recording the failure: %w)", e.ID, pubErr, classify(err))
		}
		return fmt.Errorf("publishing outbox event %d: %w", e.ID, pubErr)
	}
	if err := o.marks.mark(ctx, o.pool, e.ID); err != nil {
		return fmt.Errorf("marking outbox row %d published: %w", e.ID, classify(err))
	}
	return nil
}

// Relay publishes up to limit unpublished events in ID order, each in its
// own transaction that holds the row lock (FOR UPDATE SKIP LOCKED) while
// publishing, so several relays run safely side by side and each row is
// marked only after the broker confirmed it. It stops at the first failure
// so later events do not overtake it, and returns how many it published.
//
// Rows younger than grace that nobody tried to publish yet (attempts = 0)
// are skipped: they belong to the request that created them, which is
// publishing them (PublishCommitted) and gives up within its publish
// timeout; relaying them too would only send duplicates. A grace longer
// than that timeout keeps the relay and the fast path apart.
func (o *Outbox) Relay(ctx context.Context, limit int, grace time.Duration, publish PublishFunc) (int, error) {
	n := 0
	for n < limit {
		ok, err := o.publishNext(ctx, `WHERE published_at IS NULL AND (attempts > 0 OR created_at <= now() - $1::interval)`, grace, publish)
		if err != nil || !ok {
			return n, err
		}
		n++
	}
	return n, nil
}

// Pending counts unpublished events.
func (o *Outbox) Pending(ctx context.Context) (int, error) {
	var n int
	err := o.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&n)
	return n, classify(err)
}

// publishNext locks the first matching row, publishes it and marks it, in
// one transaction of two round trips: BEGIN with the locking SELECT, then
// the UPDATE with COMMIT.
func (o *Outbox) publishNext(ctx context.Context, where string, arg any, publish PublishFunc) (bool, error) {
	args := []any{}
	if arg != nil {
		args = append(args, arg)
	}
	published, pubErr, err := o.publishLocked(ctx, where, args, publish)
	if err != nil {
		return false, classify(err)
	}
	if pubErr != nil {
		return false, fmt.Errorf("publishing outbox event: %w", pubErr)
	}
	return published, nil
}

func (o *Outbox) publishLocked(ctx context.Context, where string, args []any, publish PublishFunc) (published bool, pubErr, err error) {
	tx := pipedTx{pool: o.pool}
	defer tx.end(ctx)
	var (
		b     pgx.Batch
		e     Event
		found bool
	)
	var parent, state *string
	b.Queue(`SELECT id, event_id, event_type, subject, content_type, payload, trace_parent, trace_state FROM outbox `+where+`
		ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`, args...).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&e.ID, &e.EventID, &e.Type, &e.Subject, &e.ContentType, &e.Payload, &parent, &state)
		if parent != nil {
			e.Trace.Parent = *parent
		}
		if state != nil {
			e.Trace.State = *state
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("locking outbox row: %w", err)
		}
		found = true
		return nil
	})
	if err := tx.send(ctx, &b); err != nil {
		return false, nil, err
	}
	if !found {
		return false, nil, nil // end rolls back the empty transaction
	}
	var mark pgx.Batch
	if pubErr = publish(ctx, e); pubErr != nil {
		// Record the failure and commit it; the row stays unpublished.
		mark.Queue(`UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1`, e.ID, pubErr.Error())
		return false, pubErr, tx.commit(ctx, &mark)
	}
	mark.Queue(`UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1`, e.ID)
	if err := tx.commit(ctx, &mark); err != nil {
		return false, nil, fmt.Errorf("marking outbox row %d published: %w", e.ID, err)
	}
	return true, nil, nil
}
