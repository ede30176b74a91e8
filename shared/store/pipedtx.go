package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipedTx is one explicit transaction on one pooled connection, sent as a
// few pipelined batches: BEGIN travels with the first batch and COMMIT with
// the last, so the transaction costs one network round trip per batch
// (pgx.Tx spends an extra one on each of BEGIN and COMMIT). Statements keep
// the pool's default exec mode, i.e. cached prepared statements.
//
// Use: send zero or more times, then commit; always defer end.
type pipedTx struct {
	pool *pgxpool.Pool
	conn *pgxpool.Conn
}

// send runs b in the transaction, beginning it first if needed. An error
// leaves the transaction failed; end rolls it back.
func (t *pipedTx) send(ctx context.Context, b *pgx.Batch) error {
	if t.conn == nil {
		c, err := t.pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("acquiring connection: %w", err)
		}
		t.conn = c
		b.QueuedQueries = append([]*pgx.QueuedQuery{{SQL: "begin"}}, b.QueuedQueries...)
	}
	return t.conn.SendBatch(ctx, b).Close()
}

// commit runs b (which may be empty) and COMMIT in one round trip. A
// transaction that failed earlier reports pgx.ErrTxCommitRollback.
func (t *pipedTx) commit(ctx context.Context, b *pgx.Batch) error {
	if b == nil {
		b = &pgx.Batch{}
	}
	b.Queue("commit").Exec(func(ct pgconn.CommandTag) error {
		if ct.String() == "ROLLBACK" {
			return pgx.ErrTxCommitRollback
		}
		return nil
	})
	if err := t.send(ctx, b); err != nil {
		return err
	}
	return nil
}

// end rolls back what is still open and returns the connection to the pool.
// It is safe after commit and when nothing was sent.
func (t *pipedTx) end(ctx context.Context) {
	if t.conn == nil {
		return
	}
	c := t.conn
	t.conn = nil
	if !c.Conn().IsClosed() && c.Conn().PgConn().TxStatus() != 'I' {
		// A failed rollback closes the connection; the pool then drops it.
		_, _ = c.Exec(ctx, "rollback")
	}
	c.Release()
}
