// Package storetest gives each test its own PostgreSQL schema in a shared
// test database, so tests of many packages run in parallel against one
// server without seeing each other's rows.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/shared/store"
)

// DefaultURL is the test database used when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/orderflow_test?sslmode=disable"

// URL returns TEST_DATABASE_URL or DefaultURL.
func URL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Config returns a store configuration for a fresh, not yet created schema
// with a unique name; the schema is dropped when the test ends.
func Config(t testing.TB) store.Config {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + strings.ToLower(sanitize(t.Name())) + "_" + hex.EncodeToString(b)
	if len(name) > 63 {
		name = name[len(name)-63:]
		name = "t" + name[1:]
	}
	t.Cleanup(func() { drop(t, name) })
	return store.Config{URL: URL(), Schema: name, MaxConns: 4, Logger: slog.New(slog.DiscardHandler)}
}

// New opens a Store on a fresh migrated schema (seed products included).
func New(t testing.TB) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, Config(t))
	if err != nil {
		t.Fatalf("opening test store: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func drop(t testing.TB, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, URL())
	if err != nil {
		t.Logf("storetest: dropping schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Logf("storetest: dropping schema %s: %v", schema, err)
	}
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 40 {
		out = out[len(out)-40:]
	}
	return out
}
