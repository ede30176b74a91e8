package email_test

import (
	"context"
	"errors"
	"io"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/shared/email"
	"github.com/orderflow/orderflow/shared/email/emailtest"
	"github.com/orderflow/orderflow/shared/order"
)

func setup(t testing.TB) email.Message {
	t.Helper()
	price, _ := order.ParseMoney("9.50")
	ev := order.OrderCreated{
		Version: 1, EventID: uuid.New(), Type: order.EventOrderCreated, OrderID: uuid.MustParse("b0000000-0000-4000-8000-000000000001"),
		Customer: order.Customer{Name: "Ana Lima", Email: "ana@example.com"},
		Items:    []order.EventItem{{ProductID: uuid.New(), Name: "Ceramic mug", Quantity: 2, UnitPrice: price}},
		Total:    price.Times(2),
	}
	return email.OrderReceived(ev, "Orders <orders@shop.example>", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// render renders m and parses it back as an RFC 5322 message.
func render(t *testing.T, m email.Message) *mail.Message {
	t.Helper()
	raw, err := m.Render()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

func TestOrderReceivedIsAValidEmail(t *testing.T) {
	t.Parallel()
	m := setup(t)
	parsed := render(t, m)
	if parsed.Header.Get("Message-ID") != "<order-b0000000-0000-4000-8000-000000000001.order-received@shop.example>" ||
		parsed.Header.Get("To") != "ana@example.com" {
		t.Fatalf("headers: %v", parsed.Header)
	}
	body, _ := io.ReadAll(parsed.Body)
	if !strings.Contains(string(body), "2 x Ceramic mug at 9.50") || !strings.Contains(string(body), "Total: 19.00") {
		t.Fatalf("body: %q", body)
	}
}

func TestSMTPPlainAndStartTLS(t *testing.T) {
	t.Parallel()
	for _, withTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "starttls"}[withTLS], func(t *testing.T) {
			t.Parallel()
			srv := emailtest.Start(t, withTLS)
			s := email.NewSMTP(email.SMTPConfig{Host: srv.Host, Port: srv.Port, TLSConfig: srv.ClientTLS, Username: "u", Password: "p"})
			m := setup(t)
			// net/smtp sends AUTH PLAIN only over TLS or to localhost; both hold here.
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			got := srv.Messages()
			if len(got) != 1 || got[0].To[0] != "ana@example.com" || got[0].From != "orders@shop.example" || got[0].TLS != withTLS || got[0].User != "u" ||
				!strings.Contains(string(got[0].Data), "Message-ID: "+m.MessageID) {
				t.Fatalf("received %+v", got)
			}
		})
	}
}

func TestSMTPServerRefusal(t *testing.T) {
	t.Parallel()
	srv := emailtest.Start(t, false)
	srv.FailNext(1)
	s := email.NewSMTP(email.SMTPConfig{Host: srv.Host, Port: srv.Port})
	if err := s.Send(context.Background(), setup(t)); err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("want 451 refusal, got %v", err)
	}
	if err := s.Send(context.Background(), setup(t)); err != nil || len(srv.Messages()) != 1 {
		t.Fatalf("retry: %v, %d messages", err, len(srv.Messages()))
	}
}

// injected is the address of issue 13: net/mail.ParseAddress accepts it, and
// written as is it adds a Bcc: header line.
const injected = "victim@example.com (x\r\nBcc: attacker@evil.example)"

func TestHeaderInjectionIsRefused(t *testing.T) {
	t.Parallel()
	for name, mutate := range map[string]func(*email.Message){
		"to with comment and CRLF": func(m *email.Message) { m.To = injected },
		"from with CRLF":           func(m *email.Message) { m.From = "Orders <orders@shop.example>\r\nX-Injected: 1" },
		"message-id with CRLF":     func(m *email.Message) { m.MessageID = "<a@b>\r\nX-Injected: 1" },
		"subject with CRLF":        func(m *email.Message) { m.Subject = "hi\r\nX-Injected: 1" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := emailtest.Start(t, false)
			m := setup(t)
			mutate(&m)
			err := email.NewSMTP(email.SMTPConfig{Host: srv.Host, Port: srv.Port}).Send(context.Background(), m)
			for _, got := range srv.Messages() {
				if strings.Contains(string(got.Data), "\r\nBcc:") || strings.Contains(string(got.Data), "\r\nX-Injected:") || len(got.To) != 1 {
					t.Fatalf("an injected header reached the SMTP server: %q (rcpt %v)", got.Data, got.To)
				}
			}
			if !errors.Is(err, email.ErrHeader) && !errors.Is(err, email.ErrNoRecipient) {
				t.Fatal("a header value with CR/LF was sent")
			}
		})
	}
}

func TestHeadersEncodeNamesAndAddresses(t *testing.T) {
	t.Parallel()
	m := setup(t)
	m.From = "Zoë Ñandú <orders@shop.example>"
	m.To = "Ana Lima <ana@example.com>"
	parsed := render(t, m)
	from, err := parsed.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Zoë Ñandú" || from[0].Address != "orders@shop.example" {
		t.Fatalf("From %q: %v %v", parsed.Header.Get("From"), from, err)
	}
	if strings.ContainsRune(parsed.Header.Get("From"), 'ë') {
		t.Fatalf("non-ASCII name not RFC 2047 encoded: %q", parsed.Header.Get("From"))
	}
	to, err := parsed.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "ana@example.com" {
		t.Fatalf("To %q: %v %v", parsed.Header.Get("To"), to, err)
	}
}
