// Package email composes the order confirmation email and sends it through
// SMTP, or only logs it when no SMTP server is configured.
package email

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/orderflow/orderflow/shared/order"
)

// KindOrderReceived is the kind of the email sent for OrderCreated.
const KindOrderReceived = "order-received"

// Message is one email ready to send.
type Message struct {
	From      string
	To        string
	Subject   string
	MessageID string // with angle brackets, e.g. <order-…@example.com>
	Date      time.Time
	Text      string
}

// Sender delivers messages.
type Sender interface {
	// Send returns nil once the message was handed over (accepted by the
	// SMTP server, or logged).
	Send(ctx context.Context, m Message) error
	// Transport names how messages leave: "smtp" or "log".
	Transport() string
}

// OrderReceived composes the confirmation for an OrderCreated event. The
// Message-ID is derived from the order id, so a repeated send of the same
// confirmation carries the same id.
func OrderReceived(ev order.OrderCreated, from string, now time.Time) Message {
	domain := "orderflow.localhost"
	if a, err := mail.ParseAddress(from); err == nil {
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
			domain = a.Address[i+1:]
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\r\n\r\nthank you for your order %s. We received:\r\n\r\n", ev.Customer.Name, ev.OrderID)
	for _, it := range ev.Items {
		fmt.Fprintf(&b, "  %d x %s at %s\r\n", it.Quantity, it.Name, it.UnitPrice)
	}
	fmt.Fprintf(&b, "\r\nTotal: %s\r\n\r\nWe will let you know when it ships.\r\n", ev.Total)
	return Message{
		From:      from,
		To:        ev.Customer.Email,
		Subject:   fmt.Sprintf("Your order %s was received", ev.OrderID),
		MessageID: fmt.Sprintf("<order-%s.%s@%s>", ev.OrderID, KindOrderReceived, domain),
		Date:      now,
		Text:      b.String(),
	}
}

// Bytes renders the message as RFC 5322 text with a UTF-8 plain-text body.
func (m Message) Bytes() []byte {
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", m.From)
	header("To", m.To)
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", m.Date.Format(time.RFC1123Z))
	header("Message-ID", m.MessageID)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(m.Text)
	return b.Bytes()
}
