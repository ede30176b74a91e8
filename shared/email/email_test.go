package email_test

import (
	"context"
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

func setup(t *testing.T) email.Message {
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

func TestOrderReceivedIsAValidEmail(t *testing.T) {
	t.Parallel()
	m := setup(t)
	parsed, err := mail.ReadMessage(strings.NewReader(string(m.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
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
