package servicebus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/auth"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/config"
)

// Authorization as Service Bus does it (docs/servicebus-auth.md): links and $management
// operations need a CBS token for their entity with the right claim, kept per connection in
// conn.grants; internal/auth verifies tokens and holds the rules.

// newAuthorizer builds the server's authorizer from cfg.Policies and the policy file, and returns
// the effective policies (file entries replace configured ones of the same name).
func newAuthorizer(cfg Config) (*auth.Authorizer, []SharedAccessPolicy, error) {
	policies := cfg.Policies
	path := cfg.AuthPath
	if path == "" && cfg.ConfigPath != "" {
		sibling := filepath.Join(filepath.Dir(cfg.ConfigPath), config.AuthFileName)
		if _, err := os.Stat(sibling); err == nil {
			path = sibling
		}
	}
	if path != "" {
		file, err := config.LoadAuth(path)
		if err != nil {
			return nil, nil, err
		}
		extra, err := file.Policies()
		if err != nil {
			return nil, nil, fmt.Errorf("shared access policies %s: %w", path, err)
		}
		policies = mergePolicies(policies, extra)
	}
	a, err := auth.New(auth.Config{Policies: policies, AcceptUnverifiedJWT: cfg.AcceptUnverifiedJWT})
	if err != nil {
		return nil, nil, fmt.Errorf("shared access policies: %w", err)
	}
	return a, policies, nil
}

// mergePolicies returns base with extra added, an extra policy replacing a base one of the same name.
func mergePolicies(base, extra []SharedAccessPolicy) []SharedAccessPolicy {
	out := make([]SharedAccessPolicy, 0, len(base)+len(extra))
	for _, b := range base {
		replaced := false
		for _, e := range extra {
			replaced = replaced || strings.EqualFold(b.Name, e.Name)
		}
		if !replaced {
			out = append(out, b)
		}
	}
	return append(out, extra...)
}

// Authorize checks a token, as an HTTP Authorization header carries it ("SharedAccessSignature
// sr=...", or "Bearer <jwt>" with AcceptUnverifiedJWT), for resource and the need claims, as the
// administration API does for each request. resource is the request URL as received, escapes kept:
// "http://" + r.Host + r.URL.EscapedPath() (the query is ignored), or an entity path ("" is the
// namespace). nil when AllowAnonymous. Every error means 401; none tells which key names exist.
func (s *Server) Authorize(token, resource string, need Right) error {
	if s.cfg.AllowAnonymous {
		return nil
	}
	return s.authz.Authorize(token, resource, need, time.Now())
}

// checkGrant checks that the connection holds a token for resource with the need claims and
// returns the grant; always a never-expiring grant when AllowAnonymous.
func (c *conn) checkGrant(resource string, need auth.Right) (auth.Grant, error) {
	if c.srv.cfg.AllowAnonymous {
		return auth.Grant{Rights: auth.All}, nil
	}
	return c.grants.Check(resource, need, time.Now())
}

// unauthorizedDesc is the client-facing text of an authorization error: what is wrong, never
// which key names exist.
func unauthorizedDesc(err error) string {
	if errors.Is(err, auth.ErrInvalidSignature) {
		return "InvalidSignature: " + auth.ErrInvalidSignature.Error()
	}
	return "Unauthorized: " + err.Error()
}

// opRights is the claim each $management operation needs (docs/servicebus-auth.md).
var opRights = map[string]auth.Right{
	opRenewLock:        auth.Listen,
	opPeek:             auth.Listen,
	opReceiveBySeq:     auth.Listen,
	opUpdateDispo:      auth.Listen,
	opListSessions:     auth.Listen,
	opRenewSessionLock: auth.Listen,
	opGetSessionState:  auth.Listen,
	opSetSessionState:  auth.Listen,
	opSchedule:         auth.Send,
	opCancelSchedule:   auth.Send,
	opAddRule:          auth.Manage,
	opRemoveRule:       auth.Manage,
	opEnumerateRules:   auth.Manage,
}

// authorizeOp answers 401 when the connection lacks the claim op needs on entity's $management
// node; nil when allowed. Unknown operations need Manage (they are refused later anyway).
func (c *conn) authorizeOp(op, entity string) *response {
	need, known := opRights[op]
	if !known {
		need = auth.Manage
	}
	if _, err := c.checkGrant(entity+"/$management", need); err != nil {
		return &response{code: 401, desc: unauthorizedDesc(err)}
	}
	return nil
}

// watchGrant detaches l with amqp:unauthorized-access when the grant that authorized it expires
// and no token the connection holds by then covers the link, as Service Bus detaches links whose
// token was not renewed. Grants without expiry (SASL PLAIN, AllowAnonymous) need no watch.
func (l *link) watchGrant(resource string, need auth.Right, g auth.Grant) {
	if g.Expires.IsZero() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.grantStopped {
		return
	}
	l.grantTimer = time.AfterFunc(time.Until(g.Expires), func() {
		next, err := l.s.c.checkGrant(resource, need)
		if err != nil {
			l.detach(&linkError{Condition: CondUnauthorizedAccess, Description: unauthorizedDesc(err)})
			return
		}
		l.watchGrant(resource, need, next)
	})
}

// stopGrantWatch ends watchGrant for a closing link.
func (l *link) stopGrantWatch() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.grantStopped = true
	if l.grantTimer != nil {
		l.grantTimer.Stop()
	}
}

// requireToken closes the connection with amqp:unauthorized-access unless it holds a grant within
// TokenTimeout, so a client without credentials cannot keep a connection (and what it holds) open.
// Called by serve once the connection is open.
func (c *conn) requireToken() {
	if c.srv.cfg.AllowAnonymous || c.grants.Authorized() {
		return
	}
	c.tokenTimer = time.AfterFunc(c.srv.cfg.TokenTimeout, func() {
		if c.grants.Authorized() {
			return
		}
		c.fail(&connError{Condition: CondUnauthorizedAccess,
			Description: fmt.Sprintf("no valid token was put on $cbs within %v of opening the connection", c.srv.cfg.TokenTimeout)})
	})
}

// stopTokenTimer ends requireToken's wait when the connection ends.
func (c *conn) stopTokenTimer() {
	if c.tokenTimer != nil {
		c.tokenTimer.Stop()
	}
}
