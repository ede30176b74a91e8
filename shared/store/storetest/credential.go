package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// FakeCredential is an azcore.TokenCredential whose tokens the test
// controls. It counts calls and refuses any scope but Scope.
type FakeCredential struct {
	// Scope is the only scope accepted (required).
	Scope string
	// Issue returns the token of the n-th call (n starts at 1).
	Issue func(n int) (azcore.AccessToken, error)
	// Gate, when not nil, holds every call until it is closed (or the
	// call's context ends), so tests can pile up concurrent callers.
	Gate chan struct{}

	mu     sync.Mutex
	calls  int
	scopes [][]string
}

var _ azcore.TokenCredential = (*FakeCredential)(nil)

// GetToken implements azcore.TokenCredential.
func (c *FakeCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.calls++
	n := c.calls
	c.scopes = append(c.scopes, slices.Clone(opts.Scopes))
	c.mu.Unlock()
	if c.Gate != nil {
		select {
		case <-c.Gate:
		case <-ctx.Done():
			return azcore.AccessToken{}, ctx.Err()
		}
	}
	if len(opts.Scopes) != 1 || opts.Scopes[0] != c.Scope {
		return azcore.AccessToken{}, fmt.Errorf("fake credential: scopes %q, want [%q]", opts.Scopes, c.Scope)
	}
	return c.Issue(n)
}

// Calls is how many times GetToken was called.
func (c *FakeCredential) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// Scopes lists the scopes of every call, in order.
func (c *FakeCredential) Scopes() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.scopes)
}
