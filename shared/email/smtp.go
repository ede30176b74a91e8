package email

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"sync"
	"time"
)

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	// Host is the SMTP server (required).
	Host string
	// Port is the server port. Default: 587.
	Port int
	// Username and Password enable AUTH PLAIN, which net/smtp only sends
	// over TLS or to localhost. Default: empty (no AUTH).
	Username, Password string
	// TLSConfig is used for STARTTLS. Default: verify against the system
	// roots with ServerName = Host.
	TLSConfig *tls.Config
	// Timeout bounds one whole send. Default: 15s.
	Timeout time.Duration
	// IdleTimeout is how long a session waits for the next message before
	// it is no longer reused (RFC 5321 servers wait at least 5 minutes).
	// Default: 30s; negative: a new session for every message.
	IdleTimeout time.Duration
}

// maxIdleSMTP bounds the sessions kept open between messages: about the
// number of emails a handler sends at once.
const maxIdleSMTP = 16

// SMTP sends through an SMTP server, upgrading with STARTTLS whenever the
// server offers it. A session (connection, greeting, EHLO, STARTTLS, AUTH)
// is reused for the next message, as SMTP allows, instead of being set up
// and QUIT for every one: that was most of the cost of a send.
type SMTP struct {
	cfg  SMTPConfig
	addr string

	mu     sync.Mutex
	idle   []*smtpSession // most recently used last
	closed bool
}

// smtpSession is one connection, greeted and authenticated.
type smtpSession struct {
	conn      net.Conn
	c         *smtp.Client
	idleSince time.Time
}

var _ Sender = (*SMTP)(nil)

// NewSMTP returns an SMTP sender.
func NewSMTP(cfg SMTPConfig) *SMTP {
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	}
	return &SMTP{cfg: cfg, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}
}

// Transport is "smtp".
func (s *SMTP) Transport() string { return "smtp" }

// Send delivers m; nil means the server accepted it (250 after DATA).
func (s *SMTP) Send(ctx context.Context, m Message) error {
	// Render checks every header before anything goes on the wire.
	data, err := m.Render()
	if err != nil {
		return err
	}
	from, _ := mail.ParseAddress(m.From)
	to, _ := mail.ParseAddress(m.To)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if ss := s.takeIdle(); ss != nil {
		// net/smtp has no contexts: the deadline bounds every command.
		if dl, ok := ctx.Deadline(); ok {
			_ = ss.conn.SetDeadline(dl)
		}
		err := ss.c.Mail(from.Address)
		if err == nil {
			return s.finish(ss, to.Address, data)
		}
		// The server may have closed the idle session (timeout, a limit of
		// messages per connection): nothing of this message was accepted,
		// so it goes out on a new session.
		_ = ss.conn.Close()
	}
	ss, err := s.dial(ctx)
	if err != nil {
		return err
	}
	if err := ss.c.Mail(from.Address); err != nil {
		_ = ss.conn.Close()
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	return s.finish(ss, to.Address, data)
}

// finish sends RCPT and DATA after a successful MAIL and keeps the session
// for the next message if the server accepted this one. Any failure closes
// the session: its state on the server is unknown.
func (s *SMTP) finish(ss *smtpSession, to string, data []byte) error {
	err := func() error {
		if err := ss.c.Rcpt(to); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", to, err)
		}
		w, err := ss.c.Data()
		if err != nil {
			return fmt.Errorf("DATA: %w", err)
		}
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("writing message: %w", err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("server refused message: %w", err)
		}
		return nil
	}()
	if err != nil {
		_ = ss.conn.Close()
		return err
	}
	s.putIdle(ss)
	return nil
}

// dial opens and greets a session, with STARTTLS and AUTH when configured.
func (s *SMTP) dial(ctx context.Context) (*smtpSession, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to SMTP server %s: %w", s.addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("greeting from SMTP server %s: %w", s.addr, err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(s.cfg.TLSConfig); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("STARTTLS with %s: %w", s.addr, err)
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("SMTP AUTH: %w", err)
		}
	}
	return &smtpSession{conn: conn, c: c}, nil
}

// takeIdle returns the most recently used idle session, closing those that
// waited longer than IdleTimeout; nil if there is none.
func (s *SMTP) takeIdle() *smtpSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.idle) > 0 {
		ss := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if time.Since(ss.idleSince) < s.cfg.IdleTimeout {
			return ss
		}
		// The older ones below waited longer still; the server may have
		// dropped them already, so no QUIT.
		_ = ss.conn.Close()
		for _, old := range s.idle {
			_ = old.conn.Close()
		}
		s.idle = s.idle[:0]
	}
	return nil
}

// putIdle keeps ss for the next message, or QUITs it when reuse is off,
// the sender is closed or enough sessions wait already.
func (s *SMTP) putIdle(ss *smtpSession) {
	s.mu.Lock()
	if s.cfg.IdleTimeout < 0 || s.closed || len(s.idle) >= maxIdleSMTP {
		s.mu.Unlock()
		quit(ss)
		return
	}
	ss.idleSince = time.Now()
	s.idle = append(s.idle, ss)
	s.mu.Unlock()
}

// Close QUITs the idle sessions; sends after Close still work, each on a
// session of its own.
func (s *SMTP) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	for _, ss := range idle {
		quit(ss)
	}
	return nil
}

// quit ends a session politely, bounded by a short deadline.
func quit(ss *smtpSession) {
	_ = ss.conn.SetDeadline(time.Now().Add(time.Second))
	_ = ss.c.Quit()
	_ = ss.c.Close()
}
