package funchost

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func BenchmarkRouteMatch(b *testing.B) {
	r, err := ParseRoute("api/orders/{id:guid}/items/{n:int:min(1)}")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, ok := r.Match("/api/orders/3f2504e0-4f89-11d3-9a0c-0305e82c3301/items/7"); !ok {
			b.Fatal("no match")
		}
	}
}

func BenchmarkHTTPPayloadBody(b *testing.B) {
	body := []byte(`{"customerName":"Ada","items":[{"productId":"p1","quantity":2}]}`)
	for b.Loop() {
		r := httptest.NewRequest("POST", "http://localhost:7071/api/orders/5?x=1", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		p := httpRequestPayload("req", r, body, map[string]string{"id": "5"}, localIdentities("Admin"))
		if _, err := p.Body("CreateOrder", time.Now(), "g"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTTPInvocation is one payload-mode HTTP request through the host
// to a real handler process and back.
func BenchmarkHTTPInvocation(b *testing.B) {
	a := setup(b, appSpec{functions: map[string]string{"Ret": fnReturn}})
	for b.Loop() {
		if resp, _ := a.do(b, http.MethodGet, "/api/ret", nil, nil); resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkHTTPProxying is the proxy hop of an HTTP function in
// proxying mode (the app's host.json; the order intake's path through the
// host): per-op time
// and allocations of the host, the test handler and the client together.
func BenchmarkHTTPProxying(b *testing.B) {
	a := setup(b, appSpec{
		customHandler: map[string]any{"enableProxyingHttpRequest": true},
		functions:     map[string]string{"Echo": fnEcho},
	})
	body := `{"customerName":"Bench Client","customerEmail":"bench@example.com","items":[{"productId":"a0000000-0000-4000-8000-000000000005","quantity":1}]}`
	b.ReportAllocs()
	for b.Loop() {
		if resp, _ := a.do(b, http.MethodPost, "/api/echo/x", strings.NewReader(body), nil); resp.StatusCode != http.StatusCreated {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
