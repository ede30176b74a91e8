package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/shared/identity"
)

// EntraScope is the OAuth scope of Azure Database for PostgreSQL tokens.
const EntraScope = "https://ossrdbms-aad.database.windows.net/.default"

// TokenConfig configures a TokenPassword.
type TokenConfig struct {
	// Credential issues the access tokens (required): Credential(clientID)
	// in production, a fake in tests.
	Credential azcore.TokenCredential
	// Scope is the token scope. Default: EntraScope.
	Scope string
	// RefreshBefore is how long before its expiry (or at the credential's
	// suggested refresh time, if earlier) a token is replaced, so that a
	// connection never starts with a token that expires during login.
	// Default: 5m.
	RefreshBefore time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (c TokenConfig) withDefaults() TokenConfig {
	if c.Scope == "" {
		c.Scope = EntraScope
	}
	if c.RefreshBefore == 0 {
		c.RefreshBefore = 5 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// TokenPassword supplies Microsoft Entra ID access tokens as PostgreSQL
// passwords (password-less Azure Database for PostgreSQL). Tokens are cached
// and replaced before they expire; concurrent connects during a refresh
// share one credential call. PostgreSQL checks the token only at login, so
// open connections are unaffected by its expiry.
type TokenPassword struct {
	cfg TokenConfig

	mu      sync.Mutex
	token   azcore.AccessToken
	refresh *tokenFetch // the refresh in flight, nil when none
}

// tokenFetch is one credential call that concurrent callers wait for.
type tokenFetch struct {
	done  chan struct{}
	token azcore.AccessToken
	err   error
	// abandoned means the fetching caller's context ended first, so err
	// says nothing about the credential.
	abandoned bool
}

// NewTokenPassword checks cfg; it does no I/O.
func NewTokenPassword(cfg TokenConfig) (*TokenPassword, error) {
	if cfg.Credential == nil {
		return nil, errors.New("store: TokenConfig.Credential is required")
	}
	return &TokenPassword{cfg: cfg.withDefaults()}, nil
}

// BeforeConnect is a Config.BeforeConnect hook that sets the password of
// each new connection to a valid token.
func (p *TokenPassword) BeforeConnect(ctx context.Context, cc *pgx.ConnConfig) error {
	tok, err := p.Password(ctx)
	if err != nil {
		return err
	}
	cc.Password = tok
	return nil
}

// Password returns a token valid for at least RefreshBefore, asking the
// credential for a new one when needed. Errors wrap ErrToken.
func (p *TokenPassword) Password(ctx context.Context) (string, error) {
	for {
		p.mu.Lock()
		if p.fresh() {
			tok := p.token.Token
			p.mu.Unlock()
			return tok, nil
		}
		f, leader := p.refresh, false
		if f == nil {
			f, leader = &tokenFetch{done: make(chan struct{})}, true
			p.refresh = f
			p.mu.Unlock()
			p.fetch(ctx, f)
		} else {
			p.mu.Unlock()
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return "", fmt.Errorf("%w (scope %s): waiting for the token: %w", ErrToken, p.cfg.Scope, ctx.Err())
		}
		// The caller that ran the fetch gave up (its context ended): the
		// others still waiting try again with their own context.
		if f.err != nil && f.abandoned && !leader {
			continue
		}
		if f.err != nil {
			return "", f.err
		}
		return f.token.Token, nil
	}
}

// fresh reports whether the cached token is usable; p.mu is held.
func (p *TokenPassword) fresh() bool {
	if p.token.Token == "" {
		return false
	}
	refreshAt := p.token.ExpiresOn.Add(-p.cfg.RefreshBefore)
	if !p.token.RefreshOn.IsZero() && p.token.RefreshOn.Before(refreshAt) {
		refreshAt = p.token.RefreshOn
	}
	return p.cfg.Now().Before(refreshAt)
}

// fetch runs one credential call and publishes its result to f's waiters.
// A failure is not cached: the next connect tries again.
func (p *TokenPassword) fetch(ctx context.Context, f *tokenFetch) {
	tok, err := p.cfg.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{p.cfg.Scope}})
	switch {
	case err != nil:
		f.err = fmt.Errorf("%w (scope %s): %w", ErrToken, p.cfg.Scope, err)
	case tok.Token == "":
		f.err = fmt.Errorf("%w (scope %s): the credential returned an empty token", ErrToken, p.cfg.Scope)
	case !p.cfg.Now().Before(tok.ExpiresOn):
		f.err = fmt.Errorf("%w (scope %s): the credential returned a token that expired at %s", ErrToken, p.cfg.Scope, tok.ExpiresOn.Format(time.RFC3339))
	}
	f.token, f.abandoned = tok, ctx.Err() != nil
	p.mu.Lock()
	if f.err == nil {
		p.token = tok
	}
	p.refresh = nil
	p.mu.Unlock()
	close(f.done)
}

// Credential picks the Azure credential for the PostgreSQL token from
// AZURE_CLIENT_ID, which the Bicep template sets: the user-assigned managed
// identity clientID when set, else the default chain (environment, workload
// identity, managed identity, Azure CLI, azd) for developer logins. The
// rule is shared/identity's, which Service Bus uses too. It does no I/O.
func Credential(clientID string) (azcore.TokenCredential, error) {
	return identity.Credential(clientID != "", clientID)
}
