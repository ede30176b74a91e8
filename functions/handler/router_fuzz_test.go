package handler

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRouter: any path is either served by the route whose literals match
// case-insensitively, with a non-empty parameter, or answered 404; never a
// panic.
func FuzzRouter(f *testing.F) {
	for _, p := range []string{"/api/orders/1", "/API/ORDERS/1/", "/api/orders//", "/", "", "/api/orders/1/x", "/api/products"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt := &router{}
		var got string
		rt.handle("/api/orders/{id}", func(w http.ResponseWriter, r *http.Request) { got = r.PathValue("id"); w.WriteHeader(http.StatusOK) })
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.Path = path
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			parts := strings.Split(strings.Trim(strings.TrimSuffix(path, "/"), "/"), "/")
			if got == "" || strings.Contains(got, "/") || len(parts) != 3 || !strings.EqualFold(parts[0], "api") || !strings.EqualFold(parts[1], "orders") {
				t.Fatalf("path %q served with id %q", path, got)
			}
		} else if w.Code != http.StatusNotFound {
			t.Fatalf("path %q: status %d", path, w.Code)
		}
	})
}
