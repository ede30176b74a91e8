package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/shared/setting"
	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/shared/store/storetest"
)

type entraBundle struct {
	ctx      context.Context
	clock    *fakeClock
	cred     *storetest.FakeCredential
	proxy    *storetest.AuthProxy
	database string
	role     string
	cfg      store.Config
}

// setupEntra provisions a database and role as in Azure, puts the token-
// checking proxy in front of the local server, and builds the store config
// the handler builds from POSTGRES_AUTH=entra settings pointing at the proxy.
// The fake credential's n-th token is "tok-n", valid for an hour; the proxy
// accepts tok-1 until told otherwise.
func setupEntra(t *testing.T) entraBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	t.Cleanup(cancel)
	database, role := storetest.EntraDatabase(t)
	proxy := storetest.StartAuthProxy(t)
	proxy.Accept("tok-1")
	clock := &fakeClock{}
	clock.unixNano.Store(time.Now().UnixNano())
	cred := &storetest.FakeCredential{Scope: store.EntraScope, Issue: func(n int) (azcore.AccessToken, error) {
		return azcore.AccessToken{Token: fmt.Sprintf("tok-%d", n), ExpiresOn: clock.Now().Add(time.Hour)}, nil
	}}
	env := map[string]string{
		"POSTGRES_AUTH": "entra", "POSTGRES_HOST": proxy.Host(), "POSTGRES_PORT": strconv.Itoa(proxy.Port()),
		"POSTGRES_DATABASE": database, "POSTGRES_USER": role, "POSTGRES_SSLMODE": "disable", "BROKER": "rabbitmq",
	}
	s, err := setting.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	tp, err := store.NewTokenPassword(store.TokenConfig{Credential: cred, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := store.Config{URL: s.PostgresURL(), BeforeConnect: tp.BeforeConnect, SkipCreateDatabase: true, MaxConns: 8,
		Logger: slog.New(slog.DiscardHandler)}
	return entraBundle{ctx: ctx, clock: clock, cred: cred, proxy: proxy, database: database, role: role, cfg: cfg}
}

func open(t *testing.T, b entraBundle) *store.Store {
	t.Helper()
	s, err := store.Open(b.ctx, b.cfg)
	if err != nil {
		t.Fatalf("opening with an Entra token: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestEntraOpenMigratesAndServesWithTokenAsPassword(t *testing.T) {
	t.Parallel()
	b := setupEntra(t)
	s := open(t, b)
	products, err := s.Products.List(b.ctx)
	if err != nil || len(products) != 5 {
		t.Fatalf("listing products: %d %v", len(products), err)
	}
	// The app role ran the migrations itself, with only the grants of
	// infra/sql/grant-app-role.sql.
	var owner string
	if err := s.Pool().QueryRow(b.ctx, `SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'orders'`).Scan(&owner); err != nil || owner != b.role {
		t.Fatalf("orders owned by %q (%v), want the app role %q", owner, err, b.role)
	}
	logins := b.proxy.Logins()
	if len(logins) == 0 {
		t.Fatal("no login went through the proxy")
	}
	for _, l := range logins {
		// Never the maintenance database: Entra mode must not try CREATE DATABASE.
		if !l.Accepted || l.Password != "tok-1" || l.User != b.role || l.Database != b.database {
			t.Fatalf("login %+v, want user %s on %s with tok-1", l, b.role, b.database)
		}
	}
	if b.cred.Calls() != 1 {
		t.Fatalf("%d credential calls for %d logins, want 1", b.cred.Calls(), len(logins))
	}
}

func TestEntraWrongTokenIsRefused(t *testing.T) {
	t.Parallel()
	b := setupEntra(t)
	b.proxy.Accept("some-other-token")
	_, err := store.Open(b.ctx, b.cfg)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("want the server's 28P01 refusal, got %v", err)
	}
	t.Logf("refused as: %v", err)
	if l := b.proxy.Logins(); len(l) == 0 || l[0].Password != "tok-1" || l[0].Accepted {
		t.Fatalf("logins %+v", l)
	}
}

func TestEntraTokenFailureIsAConnectError(t *testing.T) {
	t.Parallel()
	b := setupEntra(t)
	b.cred.Issue = func(int) (azcore.AccessToken, error) {
		return azcore.AccessToken{}, errors.New("ManagedIdentityCredential: no identity endpoint")
	}
	_, err := store.Open(b.ctx, b.cfg)
	if !errors.Is(err, store.ErrToken) || !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "no identity endpoint") {
		t.Fatalf("want ErrToken (counted as unavailable) with the credential's reason, got %v", err)
	}
	t.Logf("failed as: %v", err)
	if l := b.proxy.Logins(); len(l) != 0 {
		t.Fatalf("no login may be tried without a token, got %+v", l)
	}
}

func TestEntraNewConnectionGetsRefreshedToken(t *testing.T) {
	t.Parallel()
	b := setupEntra(t)
	s := open(t, b)
	// 56 minutes on, tok-1 expires within the 5-minute margin; the server
	// now takes only tok-2.
	b.clock.Advance(56 * time.Minute)
	b.proxy.Accept("tok-2")
	var one int
	if err := s.Pool().QueryRow(b.ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("an open session outlives its token: %v", err)
	}
	before := len(b.proxy.Logins())
	s.Pool().Reset()
	if err := s.Pool().QueryRow(b.ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("new connection after refresh: %v", err)
	}
	logins := b.proxy.Logins()
	if len(logins) <= before || logins[len(logins)-1].Password != "tok-2" || !logins[len(logins)-1].Accepted || b.cred.Calls() != 2 {
		t.Fatalf("after refresh: logins %+v, %d credential calls; want a tok-2 login and 2 calls", logins[before:], b.cred.Calls())
	}
}

func TestEntraConcurrentConnectsShareOneCredentialCall(t *testing.T) {
	t.Parallel()
	b := setupEntra(t)
	b.cfg.SkipMigrate = true // the pool connects lazily: nothing connects before the acquires
	b.cred.Gate = make(chan struct{})
	s := open(t, b)
	const n = 6
	conns := make([]*pgxpool.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { conns[i], errs[i] = s.Pool().Acquire(b.ctx) })
	}
	waitFor(t, func() bool { return b.cred.Calls() >= 1 })
	close(b.cred.Gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("acquire %d: %v", i, errs[i])
		}
		conns[i].Release()
	}
	accepted := 0
	for _, l := range b.proxy.Logins() {
		if l.Accepted && l.Password == "tok-1" {
			accepted++
		}
	}
	if accepted != n || b.cred.Calls() != 1 {
		t.Fatalf("%d tok-1 logins and %d credential calls, want %d and 1", accepted, b.cred.Calls(), n)
	}
}

func TestEntraRefreshFailureMakesRequestsUnavailable(t *testing.T) {
	t.Parallel()
	b := setupEntra(t)
	s := open(t, b)
	b.cred.Issue = func(int) (azcore.AccessToken, error) {
		return azcore.AccessToken{}, errors.New("identity endpoint answered 500")
	}
	b.clock.Advance(56 * time.Minute)
	s.Pool().Reset()
	_, err := s.Products.List(b.ctx)
	// ErrUnavailable is what the API turns into 503 dependency-unavailable.
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, store.ErrToken) || !strings.Contains(err.Error(), "answered 500") {
		t.Fatalf("want an unavailable error carrying the credential's reason, got %v", err)
	}
}
