package handler_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testkit"
	"github.com/orderflow/orderflow/shared/order"
)

// publishedAt reports whether the outbox row of orderID is marked published.
func (e *env) published(orderID string) bool {
	e.t.Helper()
	var done bool
	err := e.store.Pool().QueryRow(e.ctx, `SELECT published_at IS NOT NULL FROM outbox
		WHERE convert_from(payload, 'UTF8')::jsonb->>'orderId' = $1`, orderID).Scan(&done)
	if err != nil {
		e.t.Fatalf("reading outbox row of %s: %v", orderID, err)
	}
	return done
}

// expectEvent checks that every subscription holds exactly one OrderCreated
// for orderID, each copy carrying the same eventId as message id.
func (e *env) expectEvent(orderID string) {
	e.t.Helper()
	eventIDs := map[string]bool{}
	for _, s := range e.top.Subscriptions {
		d, ok := e.receive(s.Name, 10*time.Second)
		if !ok {
			e.t.Fatalf("no event on %s", s.Name)
		}
		ev, err := order.ParseOrderCreated(d.Body)
		if err != nil {
			e.t.Fatalf("event on %s: %v: %s", s.Name, err, d.Body)
		}
		if ev.OrderID.String() != orderID || d.MessageId != ev.EventID.String() || d.ContentType != "application/json" ||
			d.Type != "OrderCreated" || d.RoutingKey != "order.created" || d.DeliveryMode != 2 {
			e.t.Fatalf("event on %s: message id %q type %q ct %q key %q mode %d, body %s",
				s.Name, d.MessageId, d.Type, d.ContentType, d.RoutingKey, d.DeliveryMode, d.Body)
		}
		eventIDs[d.MessageId] = true
		if extra, ok := e.receive(s.Name, 0); ok && extra.MessageId != d.MessageId {
			e.t.Fatalf("a second, different event on %s: %s", s.Name, extra.Body)
		}
	}
	if len(eventIDs) != 1 {
		e.t.Fatalf("copies carry different event ids: %v", eventIDs)
	}
}

func TestOrderPublishedRightAfterCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.placeOrder(orderBody(item(beans, 1), item(filter, 2)))
	id := e.idOf(o)
	e.expectEvent(id)
	if !e.published(id) {
		t.Fatal("outbox row not marked after publishing")
	}
}

func TestBrokerDownOrderStillPlacedThenRelayed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Connect the publisher first, so the cut also kills a live connection.
	first := e.placeOrder(orderBody(item(beans, 1)))
	e.expectEvent(e.idOf(first))
	e.mqProxy.Cut()
	o := e.placeOrder(orderBody(item(mug, 2)))
	id := e.idOf(o)
	if e.published(id) {
		t.Fatal("row marked published while the broker was unreachable")
	}
	for _, s := range e.top.Subscriptions {
		if d, ok := e.receive(s.Name, 0); ok {
			t.Fatalf("event on %s while broker cut: %s", s.Name, d.Body)
		}
	}
	// While the broker is still down the relay fails loudly and keeps the row.
	res, body := e.invoke("OutboxRelay", payload(t, "outboxrelay_timer.json", nil))
	if res.StatusCode != http.StatusInternalServerError || !json.Valid(body) || e.published(id) {
		t.Fatalf("relay with broker down: %d %s", res.StatusCode, body)
	}
	e.mqProxy.Restore()
	res, body = e.invoke("OutboxRelay", payload(t, "outboxrelay_timer.json", nil))
	hostAccepts(t, res, body)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "published 1 events, 0 pending") {
		t.Fatalf("relay: %d %s", res.StatusCode, body)
	}
	e.expectEvent(id)
	if !e.published(id) {
		t.Fatal("row not marked after relay")
	}
}

func TestDatabaseDownAnswers503AndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.pgProxy.Cut()
	res, body := e.do(http.MethodPost, "/api/orders", "application/json", orderBody(item(beans, 1)))
	p := checkProblem(t, res, body, http.StatusServiceUnavailable, "")
	if res.Header.Get("Retry-After") == "" || p.Type != "urn:orderflow:problem:dependency-unavailable" {
		t.Fatalf("503 without Retry-After or type: %s", body)
	}
	res, body = e.do(http.MethodGet, "/api/health", "", "")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"postgres":{"status":"down"`) {
		t.Fatalf("health with database down: %d %s", res.StatusCode, body)
	}
	// Client mistakes stay 4xx even while the database is down.
	res, body = e.do(http.MethodPost, "/api/orders", "application/json", orderBody())
	checkProblem(t, res, body, http.StatusUnprocessableEntity, "items")

	e.pgProxy.Restore()
	testkit.Eventually(t, 10*time.Second, func() error {
		res, body = e.do(http.MethodGet, "/api/health", "", "")
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("health never recovered: %s", body)
		}
		return nil
	})
	if c := e.counts(); c["orders"] != 0 || c["order_items"] != 0 || c["outbox"] != 0 {
		t.Fatalf("rows written during the outage: %v", c)
	}
	e.placeOrder(orderBody(item(beans, 1)))
}

func TestBrokerDownHealth503(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mqProxy.Cut()
	res, body := e.do(http.MethodGet, "/api/health", "", "")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"broker":{"status":"down"`) ||
		!strings.Contains(string(body), `"postgres":{"status":"up"`) {
		t.Fatalf("health: %d %s", res.StatusCode, body)
	}
}
