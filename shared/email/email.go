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

// Render writes the message as RFC 5322 text with a UTF-8 plain-text body.
// Header values are never written raw: From and To go out as parsed
// addresses (a display name RFC 2047-encoded, comments dropped), and a value
// holding CR or LF is refused with ErrHeader, since it could start a header
// of its own (issue 13: "Bcc:" injection through an address comment).
func (m Message) Render() ([]byte, error) {
	for name, v := range map[string]string{"From": m.From, "To": m.To, "Subject": m.Subject, "Message-ID": m.MessageID} {
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("%w: %s holds a line break", ErrHeader, name)
		}
	}
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("%w: From %q: %v", ErrHeader, m.From, err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrNoRecipient, m.To)
	}
	if id := m.MessageID; len(id) < 3 || id[0] != '<' || id[len(id)-1] != '>' || strings.ContainsAny(id[1:len(id)-1], "<> \t") {
		return nil, fmt.Errorf("%w: Message-ID %q is not <id@domain>", ErrHeader, id)
	}
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", addressHeader(from))
	header("To", addressHeader(to))
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", m.Date.Format(time.RFC1123Z))
	header("Message-ID", m.MessageID)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(m.Text)
	return b.Bytes(), nil
}

// addressHeader writes a parsed address: the bare address when it has no
// display name, otherwise the name RFC 2047-encoded as net/mail does.
func addressHeader(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.String()
}
