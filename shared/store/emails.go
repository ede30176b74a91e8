package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SentEmail is the record of one email handed over for delivery.
type SentEmail struct {
	OrderID   uuid.UUID
	Kind      string
	EventID   uuid.UUID
	Recipient string
	MessageID string
	// Transport is "smtp" or "log".
	Transport string
	SentAt    time.Time
}

// Emails records sent emails so a redelivered event never sends twice.
type Emails struct{ pool *pgxpool.Pool }

// SendOnce inserts the record and, only if no record for (order, kind)
// existed, calls send while the inserting transaction is open; the record is
// committed only if send succeeded. A concurrent duplicate blocks on the
// row until then and finds it. It reports whether send was called.
// (A crash between the SMTP server's acceptance and the commit can still
// repeat the email; the stable Message-ID lets mail systems drop it.)
//
// The transaction takes two round trips: BEGIN with the insert, then COMMIT.
func (r *Emails) SendOnce(ctx context.Context, e SentEmail, send func(context.Context) error) (bool, error) {
	sent, err := r.sendOnce(ctx, e, send)
	if err != nil {
		return false, classify(err)
	}
	return sent, nil
}

func (r *Emails) sendOnce(ctx context.Context, e SentEmail, send func(context.Context) error) (bool, error) {
	tx := pipedTx{pool: r.pool}
	defer tx.end(ctx)
	var (
		b        pgx.Batch
		inserted bool
	)
	b.Queue(`INSERT INTO sent_emails (order_id, kind, event_id, recipient, message_id, transport)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id, kind) DO NOTHING`,
		e.OrderID, e.Kind, e.EventID, e.Recipient, e.MessageID, e.Transport).Exec(func(ct pgconn.CommandTag) error {
		inserted = ct.RowsAffected() == 1
		return nil
	})
	if err := tx.send(ctx, &b); err != nil {
		return false, fmt.Errorf("recording email: %w", err)
	}
	if !inserted {
		return false, nil // end rolls back the empty transaction
	}
	if err := send(ctx); err != nil {
		return false, fmt.Errorf("sending email: %w", err)
	}
	if err := tx.commit(ctx, nil); err != nil {
		return false, fmt.Errorf("committing email record: %w", err)
	}
	return true, nil
}

// Get returns the record for (order, kind) or ErrNotFound.
func (r *Emails) Get(ctx context.Context, orderID uuid.UUID, kind string) (SentEmail, error) {
	var e SentEmail
	err := r.pool.QueryRow(ctx, `SELECT order_id, kind, event_id, recipient, message_id, transport, sent_at
		FROM sent_emails WHERE order_id = $1 AND kind = $2`, orderID, kind).
		Scan(&e.OrderID, &e.Kind, &e.EventID, &e.Recipient, &e.MessageID, &e.Transport, &e.SentAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return SentEmail{}, fmt.Errorf("email %s for order %s: %w", kind, orderID, ErrNotFound)
	}
	return e, classify(err)
}
