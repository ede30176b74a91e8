package email_test

import (
	"context"
	"testing"
	"time"

	"github.com/orderflow/orderflow/shared/email"
	"github.com/orderflow/orderflow/shared/email/emailtest"
)

// A session is reused for the next message: one connection (and one
// greeting, EHLO, STARTTLS, AUTH) for many messages, not one each.
func TestSMTPReusesSession(t *testing.T) {
	t.Parallel()
	for _, withTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "starttls"}[withTLS], func(t *testing.T) {
			t.Parallel()
			srv := emailtest.Start(t, withTLS)
			s := email.NewSMTP(email.SMTPConfig{Host: srv.Host, Port: srv.Port, TLSConfig: srv.ClientTLS, Username: "u", Password: "p"})
			defer func() { _ = s.Close() }()
			for range 5 {
				if err := s.Send(context.Background(), setup(t)); err != nil {
					t.Fatal(err)
				}
			}
			got := srv.Messages()
			if len(got) != 5 || srv.Connections() != 1 {
				t.Fatalf("%d messages over %d connections, want 5 over 1", len(got), srv.Connections())
			}
			for _, m := range got {
				if m.TLS != withTLS || m.User != "u" || m.From != "orders@shop.example" || len(m.To) != 1 {
					t.Fatalf("received %+v", m)
				}
			}
		})
	}
}

// A session the server dropped while idle costs the next message nothing:
// it goes out on a new one.
func TestSMTPDroppedSessionIsReplaced(t *testing.T) {
	t.Parallel()
	srv := emailtest.Start(t, false)
	s := email.NewSMTP(email.SMTPConfig{Host: srv.Host, Port: srv.Port})
	defer func() { _ = s.Close() }()
	if err := s.Send(context.Background(), setup(t)); err != nil {
		t.Fatal(err)
	}
	srv.DropConnections()
	if err := s.Send(context.Background(), setup(t)); err != nil {
		t.Fatalf("send after the server dropped the session: %v", err)
	}
	if n, c := len(srv.Messages()), srv.Connections(); n != 2 || c != 2 {
		t.Fatalf("%d messages over %d connections, want 2 over 2", n, c)
	}
}

// A refused message leaves the session in an unknown state: it is not
// reused, and the retry goes out on a new one.
func TestSMTPRefusalDropsSession(t *testing.T) {
	t.Parallel()
	srv := emailtest.Start(t, false)
	s := email.NewSMTP(email.SMTPConfig{Host: srv.Host, Port: srv.Port})
	defer func() { _ = s.Close() }()
	srv.FailNext(1)
	if err := s.Send(context.Background(), setup(t)); err == nil {
		t.Fatal("want the 451 refusal")
	}
	if err := s.Send(context.Background(), setup(t)); err != nil {
		t.Fatal(err)
	}
	if n, c := len(srv.Messages()), srv.Connections(); n != 1 || c != 2 {
		t.Fatalf("%d messages over %d connections, want 1 over 2", n, c)
	}
}

// With IdleTimeout negative every message has a
// session of its own.
func TestSMTPIdleTimeout(t *testing.T) {
	t.Parallel()
	srv := emailtest.Start(t, false)
	s := email.NewSMTP(email.SMTPConfig{Host: srv.Host, Port: srv.Port, IdleTimeout: -1})
	for range 3 {
		if err := s.Send(context.Background(), setup(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n, c := len(srv.Messages()), srv.Connections(); n != 3 || c != 3 {
		t.Fatalf("%d messages over %d connections, want 3 over 3", n, c)
	}
}

// BenchmarkSMTPSend sends through an in-process server (its CPU counts too)
// with the session reused and with a session per message, as before.
func BenchmarkSMTPSend(b *testing.B) {
	for _, bc := range []struct {
		name string
		idle time.Duration
	}{{"reused", 0}, {"session-per-message", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := emailtest.Start(b, false)
			s := email.NewSMTP(email.SMTPConfig{Host: srv.Host, Port: srv.Port, IdleTimeout: bc.idle})
			defer func() { _ = s.Close() }()
			m := setup(b)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Send(context.Background(), m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
