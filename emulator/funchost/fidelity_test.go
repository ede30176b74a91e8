package funchost

import (
	"net/http"
	"strings"
	"testing"
)

// TestRoutesCaseAndTrailingSlash is issue 13 point 5: the host matches
// routes case-insensitively and ignores one trailing slash, and forwards the
// original path (proxying) or URL (payload mode).
func TestRoutesCaseAndTrailingSlash(t *testing.T) {
	t.Parallel()
	fnOrder := `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"orders/{id}","methods":["get"],"authLevel":"anonymous"},{"type":"http","direction":"out","name":"res"}]}`
	payload := setup(t, appSpec{functions: map[string]string{"GetOrder": fnOrder}})
	proxied := setup(t, appSpec{functions: map[string]string{"GetOrder": fnOrder}, customHandler: map[string]any{"enableProxyingHttpRequest": true}})
	for _, path := range []string{"/API/ORDERS/Ab1", "/api/orders/Ab1/", "/Api/Orders/Ab1/"} {
		resp, body := payload.do(t, http.MethodGet, path, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("payload mode GET %s: %d %s", path, resp.StatusCode, body)
			continue
		}
		p := decodeJSON(t, body)
		req := p["Data"].(map[string]any)["req"].(map[string]any)
		if !strings.HasSuffix(req["Url"].(string), path) || req["Params"].(map[string]any)["id"] != "Ab1" {
			t.Errorf("payload mode GET %s: Url %v Params %v", path, req["Url"], req["Params"])
		}
		resp, body = proxied.do(t, http.MethodGet, path, nil, nil)
		if resp.StatusCode >= 300 {
			t.Errorf("proxying GET %s: %d %s", path, resp.StatusCode, body)
			continue
		}
		if rec := decodeJSON(t, body); rec["path"] != path {
			t.Errorf("proxying GET %s: handler saw path %v", path, rec["path"])
		}
	}
}
