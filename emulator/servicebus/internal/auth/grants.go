package auth

import (
	"fmt"
	"sync"
	"time"
)

// MaxGrants bounds the grants one connection keeps; beyond it the one expiring first is dropped.
const MaxGrants = 256

// Grants are the grants of one connection (tokens put on $cbs, a SASL PLAIN login), by scope:
// a new token for a scope replaces the previous one, as a renewal does on Service Bus. Safe for
// concurrent use. The zero value is empty and ready.
type Grants struct {
	mu         sync.Mutex
	m          map[string]Grant
	authorized bool // a grant was ever put
}

// Authorized reports whether a grant was ever put (even if it has expired since).
func (s *Grants) Authorized() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authorized
}

// Put records g, replacing the grant of the same scope, dropping expired ones and, at MaxGrants,
// the one that expires first.
func (s *Grants) Put(g Grant, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]Grant{}
	}
	if _, replace := s.m[g.Scope]; !replace && len(s.m) >= MaxGrants {
		victim, first := "", time.Time{}
		for scope, old := range s.m {
			if !old.Expires.IsZero() && !now.Before(old.Expires) {
				delete(s.m, scope)
				continue
			}
			if !old.Expires.IsZero() && (first.IsZero() || old.Expires.Before(first)) {
				victim, first = scope, old.Expires
			}
		}
		if len(s.m) >= MaxGrants {
			delete(s.m, victim)
		}
	}
	s.m[g.Scope] = g
	s.authorized = true
}

// Check finds a grant covering resource with the need claims at now; of several it returns the
// one that lasts longest. Without one the error says why: no token for the resource
// (ErrNoToken), only expired ones (ErrExpired), or none with the claims (ErrMissingRight).
func (s *Grants) Check(resource string, need Right, now time.Time) (Grant, error) {
	path := ResourcePath(resource)
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		best            Grant
		found           bool
		expired, lacked bool
	)
	for _, g := range s.m {
		switch err := g.Allows(path, need, now); {
		case err == nil:
			if !found || outlasts(g, best) {
				best, found = g, true
			}
		case covers(g.Scope, path) && g.Rights&need != need:
			lacked = true
		case covers(g.Scope, path):
			expired = true
		}
	}
	switch {
	case found:
		return best, nil
	case lacked:
		return Grant{}, missing(need, path)
	case expired:
		return Grant{}, fmt.Errorf("%w: put a new token for '%s'", ErrExpired, path)
	}
	return Grant{}, fmt.Errorf("%w: put a token for '%s' on $cbs first", ErrNoToken, path)
}

func outlasts(a, b Grant) bool {
	if b.Expires.IsZero() {
		return false
	}
	return a.Expires.IsZero() || a.Expires.After(b.Expires)
}
