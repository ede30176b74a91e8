package storetest

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EntraDatabase creates a fresh database and a login role for it, the way
// infra/DEPLOY.md provisions Azure: the database exists beforehand and the
// role (a managed identity's, named with a hyphen like one) has no CREATEDB
// and exactly the grants of infra/sql/grant-app-role.sql — CONNECT and
// TEMPORARY on the database, USAGE and CREATE on schema public — with
// PUBLIC's default privileges on both revoked so those grants are all it
// has. Both are dropped when the test ends.
func EntraDatabase(t testing.TB) (database, role string) {
	t.Helper()
	suffix := strings.ToLower(rand.Text()[:12])
	database, role = "orderflow_entra_"+suffix, "orderflow-id-"+suffix
	db, r := pgx.Identifier{database}.Sanitize(), pgx.Identifier{role}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := adminConn(ctx, t, "postgres")
	defer admin.Close(context.WithoutCancel(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn := adminConn(ctx, t, "postgres")
		defer conn.Close(ctx)
		for _, sql := range []string{"DROP DATABASE IF EXISTS " + db + " WITH (FORCE)", "DROP ROLE IF EXISTS " + r} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				t.Logf("storetest: %s: %v", sql, err)
			}
		}
	})
	for _, sql := range []string{
		"CREATE ROLE " + r + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
		"CREATE DATABASE " + db,
		"REVOKE ALL ON DATABASE " + db + " FROM PUBLIC",
		"GRANT CONNECT, TEMPORARY ON DATABASE " + db + " TO " + r,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("storetest: %s: %v", sql, err)
		}
	}
	conn := adminConn(ctx, t, database)
	defer conn.Close(context.WithoutCancel(ctx))
	for _, sql := range []string{
		"REVOKE ALL ON SCHEMA public FROM PUBLIC",
		"GRANT USAGE, CREATE ON SCHEMA public TO " + r,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("storetest: %s: %v", sql, err)
		}
	}
	return database, role
}

// adminConn connects as the test server's superuser to database.
func adminConn(ctx context.Context, t testing.TB, database string) *pgx.Conn {
	t.Helper()
	cc, err := pgx.ParseConfig(URL())
	if err != nil {
		t.Fatalf("storetest: parsing %s: %v", URL(), err)
	}
	cc.Database = database
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		t.Fatalf("storetest: connecting to %s: %v", database, err)
	}
	return conn
}
