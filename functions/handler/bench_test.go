package handler_test

import (
	"net/http"
	"testing"
)

// BenchmarkCreateOrder measures POST /api/orders end to end: decode,
// validate, one transaction (order, items, outbox row), publish with
// publisher confirm, mark the row.
func BenchmarkCreateOrder(b *testing.B) {
	e := newEnv(b)
	body := orderBody(item(beans, 1), item(mug, 2))
	b.ResetTimer()
	for b.Loop() {
		res, out, err := e.try(http.MethodPost, "/api/orders", "application/json", body)
		if err != nil || res.StatusCode != http.StatusCreated {
			b.Fatalf("%v %s", err, out)
		}
	}
}

// BenchmarkRejectBadInput measures the cost of refusing a client mistake,
// which never touches the database.
func BenchmarkRejectBadInput(b *testing.B) {
	e := newEnv(b)
	body := orderBody(item(beans, -1))
	for b.Loop() {
		res, _, err := e.try(http.MethodPost, "/api/orders", "application/json", body)
		if err != nil || res.StatusCode != http.StatusUnprocessableEntity {
			b.Fatal(err)
		}
	}
}
