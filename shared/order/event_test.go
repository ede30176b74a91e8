package order_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/orderflow/orderflow/shared/order"
)

func TestOrderCreatedContract(t *testing.T) {
	t.Parallel()
	price, _ := order.ParseMoney("12.5")
	pid := uuid.MustParse(pidA)
	req := order.CreateRequest{CustomerName: "Ana", CustomerEmail: "ana@example.com", Items: []order.ItemRequest{{ProductID: pid, Quantity: 2}}}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	o, err := order.New(uuid.MustParse("b0000000-0000-4000-8000-000000000001"), req,
		map[uuid.UUID]order.Product{pid: {ID: pid, Name: "Beans", Price: price}}, now)
	if err != nil {
		t.Fatal(err)
	}
	ev := order.NewOrderCreated(uuid.MustParse("c0000000-0000-4000-8000-000000000001"), o)
	b, _ := json.Marshal(ev)
	want := `{"version":1,"eventId":"c0000000-0000-4000-8000-000000000001","type":"OrderCreated","orderId":"b0000000-0000-4000-8000-000000000001","customer":{"name":"Ana","email":"ana@example.com"},"items":[{"productId":"` + pidA + `","name":"Beans","quantity":2,"unitPrice":"12.50"}],"total":"25.00","createdAt":"2026-01-02T03:04:05Z"}`
	if string(b) != want {
		t.Fatalf("contract changed:\n got %s\nwant %s", b, want)
	}
	back, err := order.ParseOrderCreated(b)
	if err != nil || back.EventID != ev.EventID || !back.Total.Equal(ev.Total) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := order.ParseOrderCreated([]byte(`{"version":2,"type":"OrderCreated"}`)); !errors.Is(err, order.ErrUnsupportedEvent) {
		t.Fatalf("version 2 accepted: %v", err)
	}
}

func TestStatusTransitions(t *testing.T) {
	t.Parallel()
	if !order.StatusPending.CanMoveTo(order.StatusConfirmed) || !order.StatusPending.CanMoveTo(order.StatusRejected) ||
		order.StatusConfirmed.CanMoveTo(order.StatusRejected) || order.StatusRejected.CanMoveTo(order.StatusPending) {
		t.Fatal("state machine wrong")
	}
}

func TestReserve(t *testing.T) {
	t.Parallel()
	a, b := uuid.New(), uuid.New()
	items := []order.Item{{ProductID: a, Name: "A", Quantity: 2}, {ProductID: b, Name: "B", Quantity: 5}}
	if d := order.Reserve(items, map[uuid.UUID]int{a: 2, b: 5}); d.Status != order.StatusConfirmed || d.Reason != "" {
		t.Fatalf("exact stock: %+v", d)
	}
	d := order.Reserve(items, map[uuid.UUID]int{a: 10, b: 4})
	if d.Status != order.StatusRejected || d.Reason != "insufficient stock: B (requested 5, available 4)" {
		t.Fatalf("short stock: %+v", d)
	}
}

func TestParseOrderCreatedValidatesTheAddress(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{
		"victim@example.com (x\r\nBcc: attacker@evil.example)",
		"Ana <ana@example.com>",
		"ana@example.com\r\nX-Injected: 1",
		"not an address",
		"",
	} {
		body, _ := json.Marshal(map[string]any{"version": 1, "eventId": "c0000000-0000-4000-8000-000000000001", "type": "OrderCreated",
			"orderId": "b0000000-0000-4000-8000-000000000001", "customer": map[string]string{"name": "Ana", "email": addr},
			"items": []any{}, "total": "0.00", "createdAt": "2026-01-01T00:00:00Z"})
		if _, err := order.ParseOrderCreated(body); !errors.Is(err, order.ErrUnsupportedEvent) {
			t.Errorf("address %q: got %v, want ErrUnsupportedEvent", addr, err)
		}
	}
}

func TestValidateEmailIsTheIntakeRule(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{"ana@example.com": true, "ana@localhost": false, "Ana <ana@example.com>": false,
		"victim@example.com (x\r\nBcc: attacker@evil.example)": false, strings.Repeat("a", 250) + "@x.co": false} {
		if err := order.ValidateEmail(addr); (err == nil) != ok {
			t.Errorf("ValidateEmail(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}
