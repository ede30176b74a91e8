package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/internal/testkit"
	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/shared/store/storetest"
)

// fakeClock is a settable clock safe for concurrent readers.
type fakeClock struct{ unixNano atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.unixNano.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.unixNano.Add(int64(d)) }

type tokenBundle struct {
	ctx   context.Context
	clock *fakeClock
	cred  *storetest.FakeCredential
	tp    *store.TokenPassword
}

// setupToken builds a TokenPassword on a fake clock and a fake credential whose
// n-th token is "tok-n", valid for an hour from the moment it is issued.
func setupToken(t *testing.T) tokenBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	clock := &fakeClock{}
	clock.unixNano.Store(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixNano())
	cred := &storetest.FakeCredential{Scope: store.EntraScope, Issue: func(n int) (azcore.AccessToken, error) {
		return azcore.AccessToken{Token: fmt.Sprintf("tok-%d", n), ExpiresOn: clock.Now().Add(time.Hour)}, nil
	}}
	tp, err := store.NewTokenPassword(store.TokenConfig{Credential: cred, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return tokenBundle{ctx: ctx, clock: clock, cred: cred, tp: tp}
}

func password(t *testing.T, b tokenBundle) string {
	t.Helper()
	p, err := b.tp.Password(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenPasswordCachesUntilFiveMinutesBeforeExpiry(t *testing.T) {
	t.Parallel()
	b := setupToken(t)
	if got := password(t, b); got != "tok-1" {
		t.Fatalf("first password %q", got)
	}
	b.clock.Advance(54*time.Minute + 59*time.Second)
	if got := password(t, b); got != "tok-1" || b.cred.Calls() != 1 {
		t.Fatalf("5m01s before expiry: password %q after %d calls, want the cached tok-1 after 1", got, b.cred.Calls())
	}
	b.clock.Advance(2 * time.Second)
	if got := password(t, b); got != "tok-2" || b.cred.Calls() != 2 {
		t.Fatalf("4m59s before expiry: password %q after %d calls, want tok-2 after 2", got, b.cred.Calls())
	}
	for _, scopes := range b.cred.Scopes() {
		if len(scopes) != 1 || scopes[0] != "https://ossrdbms-aad.database.windows.net/.default" {
			t.Fatalf("scopes %q", scopes)
		}
	}
}

func TestTokenPasswordHonoursRefreshOn(t *testing.T) {
	t.Parallel()
	b := setupToken(t)
	issue := b.cred.Issue
	b.cred.Issue = func(n int) (azcore.AccessToken, error) {
		tok, err := issue(n)
		tok.RefreshOn = b.clock.Now().Add(30 * time.Minute)
		return tok, err
	}
	password(t, b)
	b.clock.Advance(31 * time.Minute)
	if got := password(t, b); got != "tok-2" {
		t.Fatalf("after the suggested refresh time: %q, want tok-2", got)
	}
}

func TestTokenPasswordBeforeConnectSetsPassword(t *testing.T) {
	t.Parallel()
	b := setupToken(t)
	cc, err := pgx.ParseConfig("postgres://app@127.0.0.1:1/orders?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.tp.BeforeConnect(b.ctx, cc); err != nil {
		t.Fatal(err)
	}
	if cc.Password != "tok-1" {
		t.Fatalf("password %q", cc.Password)
	}
}

func TestTokenPasswordConcurrentCallersShareOneCall(t *testing.T) {
	t.Parallel()
	b := setupToken(t)
	b.cred.Gate = make(chan struct{})
	const n = 16
	got := make([]string, n)
	errs := make([]error, n)
	var started, done sync.WaitGroup
	for i := range n {
		started.Add(1)
		done.Go(func() {
			started.Done()
			got[i], errs[i] = b.tp.Password(b.ctx)
		})
	}
	started.Wait()
	waitFor(t, func() bool { return b.cred.Calls() >= 1 })
	close(b.cred.Gate)
	done.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != "tok-1" {
			t.Fatalf("caller %d: %q %v", i, got[i], errs[i])
		}
	}
	if c := b.cred.Calls(); c != 1 {
		t.Fatalf("%d concurrent callers made %d credential calls, want 1", n, c)
	}
}

func TestTokenPasswordFailureIsClearAndNotCached(t *testing.T) {
	t.Parallel()
	b := setupToken(t)
	issue := b.cred.Issue
	b.cred.Issue = func(n int) (azcore.AccessToken, error) {
		if n == 1 {
			return azcore.AccessToken{}, errors.New("managed identity endpoint unreachable")
		}
		return issue(n)
	}
	_, err := b.tp.Password(b.ctx)
	if !errors.Is(err, store.ErrToken) || !strings.Contains(err.Error(), "managed identity endpoint unreachable") ||
		!strings.Contains(err.Error(), store.EntraScope) {
		t.Fatalf("want ErrToken with the credential's reason and the scope, got %v", err)
	}
	if got := password(t, b); got != "tok-2" {
		t.Fatalf("after a failure the next call must ask again: %q", got)
	}
}

func TestTokenPasswordRejectsUnusableTokens(t *testing.T) {
	t.Parallel()
	for name, tok := range map[string]func(now time.Time) azcore.AccessToken{
		"empty": func(now time.Time) azcore.AccessToken { return azcore.AccessToken{ExpiresOn: now.Add(time.Hour)} },
		"expired": func(now time.Time) azcore.AccessToken {
			return azcore.AccessToken{Token: "x", ExpiresOn: now.Add(-time.Second)}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupToken(t)
			b.cred.Issue = func(int) (azcore.AccessToken, error) { return tok(b.clock.Now()), nil }
			if _, err := b.tp.Password(b.ctx); !errors.Is(err, store.ErrToken) {
				t.Fatalf("want ErrToken, got %v", err)
			}
		})
	}
}

func TestTokenPasswordWaiterOutlivesCancelledFetcher(t *testing.T) {
	t.Parallel()
	b := setupToken(t)
	b.cred.Gate = make(chan struct{})
	leaderCtx, cancelLeader := context.WithCancel(b.ctx)
	leaderErr := make(chan error, 1)
	go func() {
		_, err := b.tp.Password(leaderCtx)
		leaderErr <- err
	}()
	waitFor(t, func() bool { return b.cred.Calls() == 1 })
	waiter := make(chan string, 1)
	go func() {
		p, err := b.tp.Password(b.ctx)
		if err != nil {
			p = err.Error()
		}
		waiter <- p
	}()
	cancelLeader()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) || !errors.Is(err, store.ErrToken) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(b.cred.Gate)
	if got := <-waiter; got != "tok-2" {
		t.Fatalf("a caller whose context is alive must get a token, got %q", got)
	}
}

func TestNewTokenPasswordNeedsCredential(t *testing.T) {
	t.Parallel()
	if _, err := store.NewTokenPassword(store.TokenConfig{}); err == nil {
		t.Fatal("want an error without a credential")
	}
}

func TestCredentialSelection(t *testing.T) {
	t.Parallel()
	c, err := store.Credential("00000000-0000-0000-0000-000000000001")
	if _, ok := c.(*azidentity.ManagedIdentityCredential); err != nil || !ok {
		t.Fatalf("AZURE_CLIENT_ID set: %T %v, want *azidentity.ManagedIdentityCredential", c, err)
	}
	c, err = store.Credential("")
	if _, ok := c.(*azidentity.DefaultAzureCredential); err != nil || !ok {
		t.Fatalf("AZURE_CLIENT_ID unset: %T %v, want *azidentity.DefaultAzureCredential", c, err)
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, func() error {
		if !cond() {
			return errors.New("condition not met")
		}
		return nil
	})
}
