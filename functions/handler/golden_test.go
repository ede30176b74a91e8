package handler_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Golden protocol tests: requests shaped exactly as the Functions host sends
// them (testdata/), checked against what the host accepts back.

func setup(t *testing.T) *env {
	t.Helper()
	return newEnv(t)
}

// rawRequest loads an HTTP request fixture, fills {{placeholders}}, fixes
// line endings to CRLF, sets Content-Length or chunks the body as its
// headers say, and returns the bytes to put on the wire.
func rawRequest(t *testing.T, name string, vars map[string]string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/forwarded/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	head, body, _ := strings.Cut(s, "\n\n")
	body = strings.TrimSuffix(body, "\n")
	head = strings.ReplaceAll(head, "{{len}}", strconv.Itoa(len(body)))
	var out bytes.Buffer
	out.WriteString(strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n")
	if strings.Contains(strings.ToLower(head), "transfer-encoding: chunked") {
		cw := httputil.NewChunkedWriter(&out)
		for i := 0; i < len(body); i += 16 {
			_, _ = cw.Write([]byte(body[i:min(i+16, len(body))]))
		}
		_ = cw.Close()
		out.WriteString("\r\n")
	} else {
		out.WriteString(body)
	}
	return out.Bytes()
}

// sendRaw writes raw bytes to the handler's socket, as the host's proxy does.
func (e *env) sendRaw(raw []byte) (*http.Response, []byte) {
	e.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write(raw); err != nil {
		e.t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(res.Body); err != nil {
		e.t.Fatal(err)
	}
	return res, body.Bytes()
}

// payload loads an invocation fixture and fills placeholders.
func payload(t *testing.T, name string, vars map[string]string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/payload/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	if !json.Valid([]byte(s)) {
		t.Fatalf("fixture %s is not valid JSON after substitution", name)
	}
	return []byte(s)
}

// invoke POSTs an invocation payload to /<function> with the host's headers.
func (e *env) invoke(function string, body []byte) (*http.Response, []byte) {
	e.t.Helper()
	res, b := e.do(http.MethodPost, "/"+function, "application/json; charset=utf-8", string(body),
		"X-Azure-Functions-HostVersion", "4.1037.0.0",
		"X-Azure-Functions-InvocationId", "7e6d5c4b-3a2f-4e1d-8c0b-9a8f7e6d5c4b",
		"User-Agent", "Azure-Functions-Host/4.1037.0.0")
	return res, b
}

// hostAccepts checks a response to an invocation the way the host reads
// it: JSON media type, non-empty, an object with Outputs/Logs/ReturnValue.
func hostAccepts(t *testing.T, res *http.Response, body []byte) map[string]json.RawMessage {
	t.Helper()
	mt, _, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && mt != "text/json") {
		t.Fatalf("content type %q: the host only reads application/json", res.Header.Get("Content-Type"))
	}
	if len(bytes.TrimSpace(body)) == 0 || string(bytes.TrimSpace(body)) == "null" {
		t.Fatal("empty invocation response: the host would hang until functionTimeout")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("invocation response is not a JSON object: %v: %s", err, body)
	}
	for _, k := range []string{"Outputs", "Logs", "ReturnValue"} {
		if _, ok := top[k]; !ok {
			t.Errorf("invocation response lacks %s: %s", k, body)
		}
	}
	var outputs map[string]json.RawMessage
	if err := json.Unmarshal(top["Outputs"], &outputs); err != nil {
		t.Errorf("Outputs is not an object: %s", top["Outputs"])
	}
	var logs []string
	if err := json.Unmarshal(top["Logs"], &logs); err != nil {
		t.Errorf("Logs is not an array of strings: %s", top["Logs"])
	}
	return outputs
}

// httpOutput decodes Outputs.res as the host's http binding reads it.
func httpOutput(t *testing.T, outputs map[string]json.RawMessage) (int, http.Header, []byte) {
	t.Helper()
	var res struct {
		StatusCode json.Number       `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if err := json.Unmarshal(outputs["res"], &res); err != nil {
		t.Fatalf("Outputs.res: %v: %s", err, outputs["res"])
	}
	code, err := strconv.Atoi(res.StatusCode.String())
	if err != nil {
		t.Fatalf("Outputs.res.statusCode %q", res.StatusCode)
	}
	h := http.Header{}
	for k, v := range res.Headers {
		h.Set(k, v)
	}
	return code, h, []byte(res.Body)
}

func TestGoldenReadiness(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, body := e.do(http.MethodGet, "/", "", "")
	if res.StatusCode != http.StatusOK || !json.Valid(body) {
		t.Fatalf("GET /: %d %s", res.StatusCode, body)
	}
}

func TestGoldenForwardedCreateAndGetOrder(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, fixture := range []string{"create_order.forwarded.http", "create_order.proxied.http"} {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			e := e.sub(t)
			res, body := e.sendRaw(rawRequest(t, fixture, map[string]string{"key": "golden-" + fixture}))
			if res.StatusCode != http.StatusCreated || res.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
			}
			var o struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				Total  string `json:"total"`
				Items  []struct {
					UnitPrice string `json:"unitPrice"`
				} `json:"items"`
			}
			if err := json.Unmarshal(body, &o); err != nil {
				t.Fatal(err)
			}
			if res.Header.Get("Location") != "/api/orders/"+o.ID || o.Status != "pending" || o.Total == "" || len(o.Items) == 0 {
				t.Fatalf("unexpected response %s (Location %q)", body, res.Header.Get("Location"))
			}
			res, got := e.sendRaw(rawRequest(t, "get_order.http", map[string]string{"orderId": o.ID}))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET: %d %s", res.StatusCode, got)
			}
			var back map[string]any
			if err := json.Unmarshal(got, &back); err != nil || back["id"] != o.ID || back["total"] != o.Total {
				t.Fatalf("GET returned %s", got)
			}
		})
	}
}

func TestGoldenForwardedListProductsAndHealth(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, body := e.sendRaw(rawRequest(t, "list_products.http", nil))
	var list struct {
		Products []struct {
			ID    string `json:"id"`
			Price string `json:"price"`
		} `json:"products"`
	}
	if err := json.Unmarshal(body, &list); err != nil || res.StatusCode != http.StatusOK || len(list.Products) != 5 {
		t.Fatalf("products: %d %s", res.StatusCode, body)
	}
	for _, p := range list.Products {
		if p.ID == beans && p.Price != "24.90" {
			t.Fatalf("beans price %q, want decimal string 24.90", p.Price)
		}
	}
	res, body = e.sendRaw(rawRequest(t, "health.http", nil))
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"postgres":{"status":"up"`) ||
		!strings.Contains(string(body), `"broker":{"status":"up","backend":"rabbitmq"`) {
		t.Fatalf("health: %d %s", res.StatusCode, body)
	}
}

func TestGoldenPayloadModeHTTP(t *testing.T) {
	t.Parallel()
	e := setup(t)
	orderJSON := orderBody(item(mug, 3))
	quoted, _ := json.Marshal(orderJSON)
	res, body := e.invoke("CreateOrder", payload(t, "createorder_http.json", map[string]string{
		"len": strconv.Itoa(len(orderJSON)), "bodyString": string(quoted),
	}))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("invocation: %d %s", res.StatusCode, body)
	}
	code, h, inner := httpOutput(t, hostAccepts(t, res, body))
	if code != http.StatusCreated || h.Get("Content-Type") != "application/json" || !strings.HasPrefix(h.Get("Location"), "/api/orders/") {
		t.Fatalf("Outputs.res: %d %v %s", code, h, inner)
	}
	var o struct {
		ID    string `json:"id"`
		Total string `json:"total"`
	}
	if err := json.Unmarshal(inner, &o); err != nil || o.Total != "28.50" {
		t.Fatalf("order %s: %v", inner, err)
	}
	res, body = e.invoke("GetOrder", payload(t, "getorder_http.json", map[string]string{"orderId": o.ID}))
	code, _, inner = httpOutput(t, hostAccepts(t, res, body))
	if code != http.StatusOK || !strings.Contains(string(inner), o.ID) {
		t.Fatalf("GetOrder: %d %s", code, inner)
	}
	// A client mistake in payload mode: the invocation succeeds, the
	// response carries the 4xx problem.
	bad, _ := json.Marshal(`{"customerName":`)
	res, body = e.invoke("CreateOrder", payload(t, "createorder_http.json", map[string]string{"len": "17", "bodyString": string(bad)}))
	code, h, inner = httpOutput(t, hostAccepts(t, res, body))
	if code != http.StatusBadRequest || h.Get("Content-Type") != "application/problem+json" || !json.Valid(inner) {
		t.Fatalf("bad body: %d %v %s", code, h, inner)
	}
}

func TestGoldenTimerOutboxRelay(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, body := e.invoke("OutboxRelay", payload(t, "outboxrelay_timer.json", nil))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	hostAccepts(t, res, body)
	if !strings.Contains(string(body), "published 0 events, 0 pending") {
		t.Fatalf("logs: %s", body)
	}
	// The host's manual run (POST /admin/functions/OutboxRelay) and GET are
	// handled too: the former with a JSON body, the latter refused with JSON.
	res, body = e.invoke("OutboxRelay", []byte(`{"Data":{"timer":{}},"Metadata":{}}`))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("manual run: %d %s", res.StatusCode, body)
	}
	res, body = e.do(http.MethodGet, "/OutboxRelay", "", "")
	if res.StatusCode != http.StatusMethodNotAllowed || !json.Valid(body) {
		t.Fatalf("GET /OutboxRelay: %d %s", res.StatusCode, body)
	}
}
