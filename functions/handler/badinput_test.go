package handler_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// problemBody is the RFC 9457 shape every client mistake must get.
type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

func checkProblem(t *testing.T, res *http.Response, body []byte, wantStatus int, wantField string) problemBody {
	t.Helper()
	if res.StatusCode != wantStatus {
		t.Fatalf("status %d, want %d: %s", res.StatusCode, wantStatus, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q: %s", ct, body)
	}
	var p problemBody
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem is not JSON: %v: %s", err, body)
	}
	if p.Type == "" || p.Title == "" || p.Status != wantStatus || p.Detail == "" {
		t.Fatalf("incomplete problem: %s", body)
	}
	if wantField != "" && (len(p.Errors) == 0 || p.Errors[0].Field != wantField) {
		t.Fatalf("errors %+v, want first field %q", p.Errors, wantField)
	}
	return p
}

func TestBadInputIsRejectedAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	valid := orderBody(item(beans, 1))
	cases := []struct {
		name, method, path, contentType, body string
		header                                []string
		status                                int
		field                                 string
	}{
		{"malformed json", "POST", "/api/orders", "application/json", `{"customerName":"Ana",`, nil, 400, ""},
		{"not an object", "POST", "/api/orders", "application/json", `"hello"`, nil, 400, ""},
		{"empty body", "POST", "/api/orders", "application/json", ``, nil, 400, ""},
		{"wrong type name", "POST", "/api/orders", "application/json", `{"customerName":1,"customerEmail":"a@b.co","items":[]}`, nil, 400, "customerName"},
		{"wrong type quantity", "POST", "/api/orders", "application/json", orderBody(`{"productId":"` + beans + `","quantity":"2"}`), nil, 400, "items[0].quantity"},
		{"unknown field", "POST", "/api/orders", "application/json", strings.Replace(valid, `{"customerName"`, `{"total":"0.01","customerName"`, 1), nil, 400, "total"},
		{"unknown product", "POST", "/api/orders", "application/json", orderBody(item(beans, 1), item("a0000000-0000-4000-8000-0000000000ff", 1)), nil, 422, "items[1].productId"},
		{"empty items", "POST", "/api/orders", "application/json", orderBody(), nil, 422, "items"},
		{"negative quantity", "POST", "/api/orders", "application/json", orderBody(item(beans, -1)), nil, 422, "items[0].quantity"},
		{"huge quantity", "POST", "/api/orders", "application/json", orderBody(item(beans, 1_000_000)), nil, 422, "items[0].quantity"},
		{"overflowing quantity", "POST", "/api/orders", "application/json", orderBody(`{"productId":"` + beans + `","quantity":1e400}`), nil, 400, "items[0].quantity"},
		{"duplicate product", "POST", "/api/orders", "application/json", orderBody(item(beans, 1), item(beans, 2)), nil, 422, "items[1].productId"},
		{"bad email", "POST", "/api/orders", "application/json", strings.Replace(valid, "ana@example.com", "ana@", 1), nil, 422, "customerEmail"},
		{"oversized body", "POST", "/api/orders", "application/json", `{"customerName":"` + strings.Repeat("a", 70<<10) + `"}`, nil, 413, ""},
		{"wrong content type", "POST", "/api/orders", "text/plain", valid, nil, 415, ""},
		{"no content type", "POST", "/api/orders", "", valid, nil, 415, ""},
		{"form content type", "POST", "/api/orders", "application/x-www-form-urlencoded", "a=b", nil, 415, ""},
		{"bad idempotency key", "POST", "/api/orders", "application/json", valid, []string{"Idempotency-Key", strings.Repeat("k", 201)}, 400, ""},
		{"unknown route", "GET", "/api/nothing", "", "", nil, 404, ""},
		{"unknown root route", "POST", "/orders", "application/json", valid, nil, 404, ""},
		{"wrong method", "PUT", "/api/orders", "application/json", valid, nil, 405, ""},
		{"wrong method on order", "DELETE", "/api/orders/a0000000-0000-4000-8000-000000000001", "", "", nil, 405, ""},
		{"order id not uuid", "GET", "/api/orders/42", "", "", nil, 400, "id"},
		{"missing order", "GET", "/api/orders/b0000000-0000-4000-8000-000000000009", "", "", nil, 404, ""},
		{"bad product price", "POST", "/api/products", "application/json", `{"name":"x","price":"-1","stock":1}`, nil, 422, "price"},
		{"product price float noise", "POST", "/api/products", "application/json", `{"name":"x","price":"0.105","stock":1}`, nil, 422, "price"},
		{"product unknown field", "POST", "/api/products", "application/json", `{"name":"x","price":"1","stock":1,"id":"x"}`, nil, 400, "id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, body := e.sub(t).do(tc.method, tc.path, tc.contentType, tc.body, tc.header...)
			p := checkProblem(t, res, body, tc.status, tc.field)
			if tc.status == 405 && res.Header.Get("Allow") == "" {
				t.Errorf("405 without Allow header")
			}
			if p.Status >= 500 {
				t.Errorf("client mistake answered %d", p.Status)
			}
		})
	}
	t.Cleanup(func() {
		// Runs after every parallel subtest: not a single row was written.
		for table, n := range e.counts() {
			if n != 0 {
				t.Errorf("%s has %d rows after bad input", table, n)
			}
		}
		var products int
		if err := e.store.Pool().QueryRow(e.ctx, `SELECT count(*) FROM products`).Scan(&products); err != nil || products != 5 {
			t.Errorf("products = %d, %v; want the 5 seeded", products, err)
		}
	})
}

func TestIdempotencyKeyReturnsSameOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := orderBody(item(beans, 2))
	res1, b1 := e.do("POST", "/api/orders", "application/json", body, "Idempotency-Key", "retry-1")
	res2, b2 := e.do("POST", "/api/orders", "application/json", body, "Idempotency-Key", "retry-1")
	if res1.StatusCode != 201 || res2.StatusCode != 201 || string(b1) != string(b2) || res2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("first %d %s\nsecond %d %s", res1.StatusCode, b1, res2.StatusCode, b2)
	}
	if c := e.counts(); c["orders"] != 1 || c["outbox"] != 1 {
		t.Fatalf("rows after retry: %v", c)
	}
	res3, b3 := e.do("POST", "/api/orders", "application/json", orderBody(item(beans, 3)), "Idempotency-Key", "retry-1")
	checkProblem(t, res3, b3, 422, "")
	if c := e.counts(); c["orders"] != 1 {
		t.Fatalf("rows after conflicting reuse: %v", c)
	}
}

func TestCreateProduct(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, body := e.do("POST", "/api/products", "application/json", `{"name":"Kettle","price":"35.5","stock":3}`)
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil || res.StatusCode != 201 || p["price"] != "35.50" || p["stock"] != float64(3) {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	o := e.placeOrder(orderBody(item(e.idOf(p), 2)))
	if o["total"] != "71.00" {
		t.Fatalf("order with new product: %v", o)
	}
}
