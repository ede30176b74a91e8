package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors.
var (
	// ErrNotFound means the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable means PostgreSQL could not be reached or dropped the
	// connection; nothing was committed and the caller may retry.
	ErrUnavailable = errors.New("database unavailable")
	// ErrIdempotencyConflict means an Idempotency-Key was reused with a
	// different request body.
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different request")
	// ErrToken means no access token (Microsoft Entra ID or Amazon RDS
	// IAM) could be had for a new PostgreSQL connection (POSTGRES_AUTH=entra
	// or rds-iam). It counts as ErrUnavailable: nothing was done and a
	// later retry may succeed.
	ErrToken = errors.New("getting an access token for PostgreSQL")
)

// classify wraps connectivity failures with ErrUnavailable so callers can
// answer 503 instead of 500.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func unavailable(err error) bool {
	var (
		connErr *pgconn.ConnectError
		netErr  net.Error
		pgErr   *pgconn.PgError
	)
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr), errors.Is(err, ErrToken),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	case errors.As(err, &pgErr):
		// Class 08 connection exceptions, admin shutdown, starting up, too many connections.
		return len(pgErr.Code) == 5 && pgErr.Code[:2] == "08" ||
			pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" || pgErr.Code == "53300"
	}
	// pgx reports a connection that died earlier in the pool this way.
	return err.Error() == "conn closed"
}
