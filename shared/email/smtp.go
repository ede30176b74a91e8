package email

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
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
}

// SMTP sends through an SMTP server, upgrading with STARTTLS whenever the
// server offers it.
type SMTP struct{ cfg SMTPConfig }

var _ Sender = (*SMTP)(nil)

// NewSMTP returns an SMTP sender.
func NewSMTP(cfg SMTPConfig) *SMTP {
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	}
	return &SMTP{cfg: cfg}
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
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connecting to SMTP server %s: %w", addr, err)
	}
	// net/smtp has no contexts: the deadline bounds every command.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("greeting from SMTP server %s: %w", addr, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(s.cfg.TLSConfig); err != nil {
			return fmt.Errorf("STARTTLS with %s: %w", addr, err)
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return fmt.Errorf("SMTP AUTH: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("RCPT TO %s: %w", to.Address, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("writing message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("server refused message: %w", err)
	}
	_ = c.Quit()
	return nil
}
