package handler

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orderflow/orderflow/shared/email"
	"github.com/orderflow/orderflow/shared/order"
	"github.com/orderflow/orderflow/shared/store"
)

// queueTriggerName is the trigger binding name in the queue functions'
// function.json files.
const queueTriggerName = "message"

// processOrder is ProcessOrder / ProcessOrderRabbitMQ: it reserves stock and
// confirms or rejects the order, once per event id. Any error fails the
// invocation, so the host abandons (Service Bus) or requeues (RabbitMQ) the
// message until the broker dead-letters it.
func (h *Handler) processOrder(ctx context.Context, inv Invocation) ([]string, error) {
	ev, note, err := orderCreated(inv)
	if err != nil {
		return nil, err
	}
	consumer := h.consumerName("ProcessOrder")
	var out store.Outcome
	err = h.waitOutOutage(ctx, func(ctx context.Context) error {
		var err error
		out, err = h.cfg.Store.Processing.Reserve(ctx, consumer, ev.EventID, ev.OrderID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("processing order %s (event %s, %s): %w", ev.OrderID, ev.EventID, note, err)
	}
	switch {
	case out.Duplicate:
		return []string{fmt.Sprintf("event %s already processed; nothing changed (%s)", ev.EventID, note)}, nil
	case out.Decision.Status == "":
		return []string{fmt.Sprintf("order %s is no longer pending; nothing changed (%s)", ev.OrderID, note)}, nil
	}
	h.orderDecided(ctx, string(out.Decision.Status))
	h.cfg.Logger.InfoContext(ctx, "order processed", "orderId", ev.OrderID, "status", out.Decision.Status, "reason", out.Decision.Reason)
	return []string{fmt.Sprintf("order %s %s %s(%s)", ev.OrderID, out.Decision.Status, reasonSuffix(out.Decision.Reason), note)}, nil
}

// sendEmail is SendEmail / SendEmailRabbitMQ: it sends the confirmation
// email once per order, recording it in the same step.
func (h *Handler) sendEmail(ctx context.Context, inv Invocation) ([]string, error) {
	ev, note, err := orderCreated(inv)
	if err != nil {
		return nil, err
	}
	m := email.OrderReceived(ev, h.cfg.EmailFrom, time.Now().UTC())
	rec := store.SentEmail{OrderID: ev.OrderID, Kind: email.KindOrderReceived, EventID: ev.EventID,
		Recipient: m.To, MessageID: m.MessageID, Transport: h.cfg.Mailer.Transport()}
	var sent bool
	err = h.waitOutOutage(ctx, func(ctx context.Context) error {
		var err error
		sent, err = h.cfg.Store.Emails.SendOnce(ctx, rec, func(ctx context.Context) error { return h.cfg.Mailer.Send(ctx, m) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("emailing order %s (event %s, %s): %w", ev.OrderID, ev.EventID, note, err)
	}
	if !sent {
		return []string{fmt.Sprintf("email for order %s already sent; not sent again (%s)", ev.OrderID, note)}, nil
	}
	return []string{fmt.Sprintf("email %s for order %s sent to %s via %s (%s)", m.MessageID, ev.OrderID, m.To, rec.Transport, note)}, nil
}

// outageWait bounds how long one invocation waits out a database outage.
// It stays well below the Service Bus lock (1 min, renewed anyway) and
// functionTimeout (5 min).
const outageWait = 30 * time.Second

// waitOutOutage runs fn again, with backoff, while it fails with
// store.ErrUnavailable, for up to outageWait. An unavailable database says
// nothing about the message: failing at once would let the broker's
// immediate redeliveries use up every delivery attempt within a
// PostgreSQL restart of a second or two and dead-letter healthy events.
func (h *Handler) waitOutOutage(ctx context.Context, fn func(context.Context) error) error {
	deadline := time.Now().Add(outageWait)
	delay := 100 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || !errors.Is(err, store.ErrUnavailable) || time.Now().Add(delay).After(deadline) {
			return err
		}
		h.cfg.Logger.WarnContext(ctx, "database unavailable; retrying within the invocation", "retryIn", delay, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func reasonSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	return "because " + reason + " "
}

func (h *Handler) consumerName(function string) string {
	if s, ok := h.cfg.Topology.Subscription(function); ok {
		return s.Name
	}
	return function
}

// orderCreated decodes the OrderCreated event of a queue invocation and
// describes the delivery (message id, delivery count) for the logs.
func orderCreated(inv Invocation) (order.OrderCreated, string, error) {
	body, err := MessageBody(inv.Data.Message)
	if err != nil {
		return order.OrderCreated{}, "", err
	}
	note := deliveryNote(inv.Metadata)
	ev, err := order.ParseOrderCreated(body)
	if err != nil {
		return order.OrderCreated{}, note, fmt.Errorf("poison message (%s): %w", note, err)
	}
	return ev, note, nil
}

// MessageBody recovers the exact message bytes from Data.<trigger>. With
// "dataType": "binary" (our function.json) the host sends base64. Without
// it a body arrives as a string, often JSON-encoded twice (docs/functions-protocol.md
// 2.3); both are accepted so a changed function.json cannot garble bodies.
func MessageBody(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("invocation has no Data.%s", queueTriggerName)
	}
	// The usual case, a base64 string, is decoded in place; a base64
	// string never holds escapes, so its JSON text is its value (base64
	// decoding skips line breaks, which a JSON string cannot hold raw).
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && !bytes.ContainsAny(raw, "\r\n") {
		b := make([]byte, base64.StdEncoding.DecodedLen(n-2))
		if m, err := base64.StdEncoding.Decode(b, raw[1:n-1]); err == nil {
			return b[:m], nil
		}
	}
	s, ok := unmarshalString(raw)
	if !ok {
		// A JSON object or array: the body itself.
		return raw, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	var inner string
	if strings.HasPrefix(s, `"`) && json.Unmarshal([]byte(s), &inner) == nil {
		return []byte(inner), nil
	}
	return []byte(s), nil
}

// deliveryNote summarises the delivery metadata both queue triggers send
// (Service Bus: MessageId, DeliveryCount; RabbitMQ: BasicProperties,
// Redelivered), tolerating the host's string-encoded values.
func deliveryNote(md Metadata) string {
	str := func(raw json.RawMessage) string {
		s, ok := unmarshalString(raw)
		if !ok {
			return strings.Trim(string(raw), `"`)
		}
		if inner, ok := unmarshalString(s); ok {
			return inner
		}
		return s
	}
	var parts []string
	if v := md.MessageID; v != nil {
		parts = append(parts, "message "+str(v))
	}
	if v := md.DeliveryCount; v != nil {
		parts = append(parts, "delivery "+str(v))
	}
	if v := md.BasicProperties; v != nil {
		var p struct {
			MessageID string         `json:"MessageId"`
			Headers   map[string]any `json:"Headers"`
		}
		if json.Unmarshal(v, &p) == nil && p.MessageID != "" {
			parts = append(parts, "message "+p.MessageID)
		}
	}
	if v := md.Redelivered; v != nil {
		parts = append(parts, "redelivered "+str(v))
	}
	if len(parts) == 0 {
		return "no delivery metadata"
	}
	return strings.Join(parts, ", ")
}
