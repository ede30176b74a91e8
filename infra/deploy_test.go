package infra_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// setupBash returns the path of bash, skipping when there is none.
func setupBash(t *testing.T) string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not on PATH")
	}
	return bash
}

// TestDeployWithoutAz runs deploy.sh with a PATH that holds no az: it must
// stop at once with exit 127 and say what to install.
func TestDeployWithoutAz(t *testing.T) {
	t.Parallel()
	bash := setupBash(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "deploy.sh")
	cmd.Env = []string{"PATH=" + t.TempDir(), "ORDERFLOW_RESOURCE_GROUP=rg"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 127 {
		t.Fatalf("deploy.sh without az: err = %v, want exit status 127; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "Azure CLI ('az') is not on PATH") {
		t.Fatalf("stderr does not explain the missing az:\n%s", stderr.String())
	}
}

func TestDeployScriptSyntax(t *testing.T) {
	t.Parallel()
	bash := setupBash(t)
	out, err := exec.Command(bash, "-n", "deploy.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("bash -n deploy.sh: %v\n%s", err, out)
	}
}

// TestGrantAppRoleSQL runs sql/grant-app-role.sql with psql against the local
// PostgreSQL, twice (it must be re-runnable). Azure's
// pgaadauth_create_principal exists only on Azure, so a stand-in with the
// same signature that creates a plain login role is installed in a scratch
// "admin" database; everything else is the script as deployed.
func TestGrantAppRoleSQL(t *testing.T) {
	t.Parallel()
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql is not on PATH: the SQL grant step cannot be exercised")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const base = "postgres://postgres@127.0.0.1:5432/%s?sslmode=disable"
	admin, err := pgx.Connect(ctx, fmt.Sprintf(base, "postgres"))
	if err != nil {
		t.Fatalf("connecting to PostgreSQL on 127.0.0.1:5432: %v", err)
	}
	defer admin.Close(context.Background())

	id := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
	adminDB, appDB, role := "infra_admin_"+id, "infra_app_"+id, "id-orderflow-"+id
	for _, db := range []string{adminDB, appDB} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, fmt.Sprintf(base, "postgres"))
		if err != nil {
			return
		}
		defer c.Close(ctx)
		for _, db := range []string{adminDB, appDB} {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
		}
		_, _ = c.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize())
	})
	stub, err := pgx.Connect(ctx, fmt.Sprintf(base, adminDB))
	if err != nil {
		t.Fatal(err)
	}
	_, err = stub.Exec(ctx, `CREATE FUNCTION pgaadauth_create_principal(name text, is_admin boolean, is_mfa boolean)
		RETURNS text LANGUAGE plpgsql AS $$
		BEGIN EXECUTE format('CREATE ROLE %I LOGIN', name); RETURN 'Created role for ' || name; END $$`)
	stub.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}

	script, _ := filepath.Abs(filepath.Join("sql", "grant-app-role.sql"))
	for run := 1; run <= 2; run++ {
		cmd := exec.CommandContext(ctx, psql, "host=127.0.0.1 port=5432 user=postgres dbname="+adminDB,
			"-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "app_role="+role, "-v", "app_db="+appDB, "-f", script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("run %d: psql: %v\n%s", run, err, out)
		}
	}

	app, err := pgx.Connect(ctx, fmt.Sprintf(base, appDB))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	var connect, create, superuser, createdb bool
	err = app.QueryRow(ctx, `SELECT has_database_privilege($1, current_database(), 'CONNECT'),
		has_schema_privilege($1, 'public', 'CREATE'), r.rolsuper, r.rolcreatedb
		FROM pg_roles r WHERE r.rolname = $1`, role).Scan(&connect, &create, &superuser, &createdb)
	if err != nil {
		t.Fatalf("role %s after the grant: %v", role, err)
	}
	if !connect || !create || superuser || createdb {
		t.Fatalf("role %s: connect=%v create-in-public=%v superuser=%v createdb=%v; want true true false false", role, connect, create, superuser, createdb)
	}
}
