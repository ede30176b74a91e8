package handler_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/functions/handler"
)

// TestRoutesMatchLikeTheHost is issue 13 point 5: the real host matches
// routes case-insensitively and ignores one trailing slash, then forwards
// the original path; the handler must serve what the host forwards.
func TestRoutesMatchLikeTheHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.placeOrder(orderBody(item(beans, 1)))
	id := o["id"].(string)
	for _, path := range []string{"/api/orders/" + id, "/API/ORDERS/" + id, "/api/orders/" + id + "/", "/Api/Orders/" + id + "/"} {
		res, body := e.do(http.MethodGet, path, "", "")
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), id) {
			t.Errorf("GET %s: %d %s", path, res.StatusCode, body)
		}
	}
	for _, path := range []string{"/API/PRODUCTS", "/api/products/", "/Api/Health/"} {
		if res, body := e.do(http.MethodGet, path, "", ""); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, res.StatusCode, body)
		}
	}
	// Still a 404 for what no route matches, and 405 for a known route.
	if res, _ := e.do(http.MethodGet, "/api/orders/"+id+"/items", "", ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("longer path: %d, want 404", res.StatusCode)
	}
	if res, _ := e.do(http.MethodDelete, "/API/orders/"+id, "", ""); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d, want 405", res.StatusCode)
	}
}

// TestRoutePrefixFromHostJSON is issue 13 point 5: the handler serves under
// host.json's extensions.http.routePrefix (read from the app root the host
// passes in FUNCTIONS_APP_ROOT_PATH), not a hard-coded /api.
func TestRoutePrefixFromHostJSON(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		`{"version":"2.0"}`: "api",
		`{"version":"2.0","extensions":{"http":{"routePrefix":"v1/shop"}}}`: "v1/shop",
		`{"version":"2.0","extensions":{"http":{"routePrefix":""}}}`:        "",
		`{"version":"2.0","Extensions":{"Http":{"RoutePrefix":"/x/"}}}`:     "x",
	}
	for hostJSON, want := range cases {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "host.json"), []byte(hostJSON), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := handler.RoutePrefixFromHostJSON(dir)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", hostJSON, got, err, want)
		}
	}
	if _, err := handler.RoutePrefixFromHostJSON(t.TempDir()); err == nil {
		t.Error("missing host.json accepted")
	}

	e := newEnv(t, func(c *handler.Config) { c.RoutePrefix = "/" })
	if res, body := e.do(http.MethodGet, "/products", "", ""); res.StatusCode != http.StatusOK {
		t.Errorf("empty prefix: GET /products: %d %s", res.StatusCode, body)
	}
	p := newEnv(t, func(c *handler.Config) { c.RoutePrefix = "v1/shop" })
	if res, body := p.do(http.MethodGet, "/V1/Shop/products/", "", ""); res.StatusCode != http.StatusOK {
		t.Errorf("prefix v1/shop: %d %s", res.StatusCode, body)
	}
}
