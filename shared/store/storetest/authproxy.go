package storetest

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// UpstreamAddr is the local PostgreSQL server that AuthProxy forwards to.
const UpstreamAddr = "127.0.0.1:5432"

// Login is one login attempt seen by an AuthProxy.
type Login struct {
	// User and Database are the StartupMessage parameters.
	User, Database string
	// Password is what the client sent as its cleartext password.
	Password string
	// Accepted is true when Password was an accepted token.
	Accepted bool
}

// AuthProxy stands in for Azure Database for PostgreSQL's Microsoft Entra
// login in front of the local server, which trusts every local login: it
// reads the client's StartupMessage, demands a cleartext password, admits
// the client only if that password is an accepted token (else answers
// FATAL 28P01 like PostgreSQL), then opens the real session with the same
// startup parameters and splices bytes both ways. TLS is declined, so
// clients connect with sslmode=disable (or prefer).
type AuthProxy struct {
	upstream string
	ln       net.Listener

	mu     sync.Mutex
	tokens map[string]bool
	logins []Login
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// StartAuthProxy listens on 127.0.0.1:0 in front of UpstreamAddr; the
// proxy stops when the test ends. It accepts no token until Accept.
func StartAuthProxy(t testing.TB) *AuthProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("auth proxy: %v", err)
	}
	p := &AuthProxy{upstream: UpstreamAddr, ln: ln, tokens: map[string]bool{}, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.acceptLoop)
	t.Cleanup(p.Stop)
	return p
}

// Host is the proxy's listening host.
func (p *AuthProxy) Host() string { return p.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the proxy's listening port.
func (p *AuthProxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Accept replaces the set of accepted tokens; open sessions are untouched,
// as on Azure, where a token is checked only at login.
func (p *AuthProxy) Accept(tokens ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokens = map[string]bool{}
	for _, t := range tokens {
		p.tokens[t] = true
	}
}

// Logins returns every login attempt so far, in order.
func (p *AuthProxy) Logins() []Login {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.logins)
}

// Stop closes the listener and every session and waits for them. It is
// idempotent.
func (p *AuthProxy) Stop() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		_ = p.ln.Close()
		for c := range p.conns {
			_ = c.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *AuthProxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			_ = c.Close()
			return
		}
		p.wg.Go(func() {
			defer p.untrack(c)
			_ = p.serve(c)
		})
	}
}

// track registers c so Stop can close it; false once stopped.
func (p *AuthProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *AuthProxy) untrack(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// serve runs one client session: startup, password check, splice.
func (p *AuthProxy) serve(client net.Conn) error {
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	be := pgproto3.NewBackend(client, client)
	var startup *pgproto3.StartupMessage
	for startup == nil {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return fmt.Errorf("reading startup message: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			// Decline encryption; the client continues in plain text.
			if _, err := client.Write([]byte{'N'}); err != nil {
				return err
			}
		case *pgproto3.CancelRequest:
			return p.forwardCancel(m)
		case *pgproto3.StartupMessage:
			// The backend reuses its message; keep a copy.
			startup = &pgproto3.StartupMessage{ProtocolVersion: m.ProtocolVersion, Parameters: maps.Clone(m.Parameters)}
		}
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if err := be.Flush(); err != nil {
		return err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
		return err
	}
	msg, err := be.Receive()
	if err != nil {
		return fmt.Errorf("reading password: %w", err)
	}
	pw, ok := msg.(*pgproto3.PasswordMessage)
	login := Login{User: startup.Parameters["user"], Database: startup.Parameters["database"]}
	if ok {
		login.Password = pw.Password
	}
	p.mu.Lock()
	login.Accepted = ok && p.tokens[login.Password]
	p.logins = append(p.logins, login)
	p.mu.Unlock()
	if !login.Accepted {
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "28P01",
			Message: fmt.Sprintf("password authentication failed for user %q (the token is not accepted)", login.User)})
		return be.Flush()
	}
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "08006", Message: "auth proxy: " + err.Error()})
		_ = be.Flush()
		return err
	}
	if !p.track(up) {
		_ = up.Close()
		return errors.New("auth proxy stopped")
	}
	defer p.untrack(up)
	fe := pgproto3.NewFrontend(up, up)
	fe.Send(startup)
	if err := fe.Flush(); err != nil {
		return fmt.Errorf("sending startup upstream: %w", err)
	}
	_ = client.SetDeadline(time.Time{})
	// From here the server answers the client directly (AuthenticationOk
	// under trust auth, parameters, ReadyForQuery, then the session).
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, client)
		_ = up.Close()
	}()
	_, err = io.Copy(client, up)
	_ = client.Close()
	<-done
	return err
}

// forwardCancel passes a CancelRequest on; the key came from the server.
func (p *AuthProxy) forwardCancel(m *pgproto3.CancelRequest) error {
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		return err
	}
	defer up.Close()
	buf, err := m.Encode(nil)
	if err != nil {
		return err
	}
	_, err = up.Write(buf)
	return err
}
