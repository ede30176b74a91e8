package handler_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzCreateOrderHTTP drives arbitrary bodies through POST /api/orders:
// the handler must never answer 5xx (the database is up, so any 5xx would
// be a client mistake misclassified) and every refusal is problem+json.
func FuzzCreateOrderHTTP(f *testing.F) {
	f.Add(orderBody(item(beans, 1)))
	f.Add(orderBody(item(beans, 1), item(beans, 1)))
	f.Add(`{"customerName":"a","customerEmail":"a@b.co","items":[{"productId":"a0000000-0000-4000-8000-0000000000ff","quantity":1}]}`)
	f.Add(`{"items":[{"quantity":1e999}]}`)
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		res, out := e.sub(t).do(http.MethodPost, "/api/orders", "application/json", body)
		switch {
		case res.StatusCode >= 500:
			t.Fatalf("%d for body %q: %s", res.StatusCode, body, out)
		case res.StatusCode == http.StatusCreated:
			return
		case res.Header.Get("Content-Type") != "application/problem+json" || !json.Valid(out):
			t.Fatalf("refusal %d is not problem+json: %s", res.StatusCode, out)
		}
	})
}
