// Package store keeps orders, products and the transactional outbox in
// PostgreSQL through a pgx/v5 pool. Versioned SQL migrations are embedded in
// the binary and applied at Open under an advisory lock.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures a Store. The zero value plus a URL is ready to use.
type Config struct {
	// URL is the PostgreSQL connection URL (required). The database it
	// names is created if missing.
	URL string
	// Schema puts every table into this schema (search_path) and creates
	// it if missing. Default: "" (the server's search_path, i.e. public).
	Schema string
	// MaxConns bounds the pool. Default: 10.
	MaxConns int32
	// ConnectTimeout bounds each new connection. Default: 3s.
	ConnectTimeout time.Duration
	// BeforeConnect runs before every new connection and may change its
	// config, e.g. set Password to a fresh Entra ID token for password-less
	// Azure Database for PostgreSQL (TokenPassword.BeforeConnect).
	// Default: nil (nothing changed).
	BeforeConnect func(ctx context.Context, cfg *pgx.ConnConfig) error
	// SkipCreateDatabase turns off creating the database, for roles that
	// may not (an Entra identity on Azure, where the deployment creates
	// it). Default: false.
	SkipCreateDatabase bool
	// SkipMigrate turns off applying migrations in Open. Default: false.
	SkipMigrate bool
	// Logger receives migration progress. Default: slog.Default().
	Logger *slog.Logger
	// Tracer traces queries, batches and connects (otelpgx.NewTracer for
	// OpenTelemetry). Default: nil (no tracing).
	Tracer pgx.QueryTracer
}

func (c Config) withDefaults() Config {
	if c.MaxConns == 0 {
		c.MaxConns = 10
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 3 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Store is the PostgreSQL adapter. Its repositories share one pool.
type Store struct {
	pool   *pgxpool.Pool
	config Config

	// Orders stores orders with their items and outbox events.
	Orders *Orders
	// Products stores the catalogue.
	Products *Products
	// Outbox reads and marks unpublished events.
	Outbox *Outbox
	// Processing applies OrderCreated events (ProcessOrder).
	Processing *Processing
	// Emails records sent emails (SendEmail).
	Emails *Emails
}

// Open connects, creates the database if needed and applies migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	pcfg, err := poolConfig(cfg)
	if err != nil {
		return nil, err
	}
	if !cfg.SkipCreateDatabase {
		if err := ensureDatabase(ctx, pcfg.ConnConfig, cfg.BeforeConnect); err != nil {
			return nil, err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("creating pool: %w", err)
	}
	s := &Store{pool: pool, config: cfg, Orders: &Orders{pool: pool}, Products: &Products{pool: pool}, Outbox: &Outbox{pool: pool},
		Processing: &Processing{pool: pool}, Emails: &Emails{pool: pool}}
	if !cfg.SkipMigrate {
		if err := s.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return s, nil
}

func poolConfig(cfg Config) (*pgxpool.Config, error) {
	if cfg.URL == "" {
		return nil, errors.New("store: URL is required")
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("parsing database URL: %w", err)
	}
	pcfg.MaxConns = cfg.MaxConns
	pcfg.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	pcfg.ConnConfig.Tracer = cfg.Tracer
	if cfg.Schema != "" {
		pcfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	// The token hook: Entra ID auth sets the password per new connection.
	pcfg.BeforeConnect = cfg.BeforeConnect
	pcfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		pgxdecimal.Register(c.TypeMap())
		registerUUID(c.TypeMap())
		return nil
	}
	return pcfg, nil
}

// ensureDatabase creates the configured database when it does not exist,
// connecting to the "postgres" maintenance database of the same server.
func ensureDatabase(ctx context.Context, cc *pgx.ConnConfig, before func(context.Context, *pgx.ConnConfig) error) error {
	name := cc.Database
	if name == "" || name == "postgres" {
		return nil
	}
	admin := cc.Copy()
	admin.Database = "postgres"
	if before != nil {
		if err := before(ctx, admin); err != nil {
			return fmt.Errorf("preparing admin connection: %w", err)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return classify(fmt.Errorf("connecting to create database %q: %w", name, err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return classify(fmt.Errorf("checking database %q: %w", name, err))
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	// Another instance may have created it at the same time.
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
		return nil
	}
	if err != nil {
		return classify(fmt.Errorf("creating database %q: %w", name, err))
	}
	return nil
}

// Ping checks that PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error {
	return classify(s.pool.Ping(ctx))
}

// Pool exposes the pool for tests and checks that need raw SQL.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool. It is safe to call more than once.
func (s *Store) Close() {
	if s != nil && s.pool != nil {
		s.pool.Close()
	}
}
