package lambda_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/orderflow/orderflow/functions/handler"
	"github.com/orderflow/orderflow/functions/lambda"
	"github.com/orderflow/orderflow/shared/bus/rabbitmq"
	"github.com/orderflow/orderflow/shared/store"
	"github.com/orderflow/orderflow/shared/store/storetest"
	"github.com/orderflow/orderflow/shared/topology"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// beans is a seed product (migration 0002).
const beans = "a0000000-0000-4000-8000-000000000001"

const orderJSON = `{"customerName":"Ada Lovelace","customerEmail":"ada@example.com","items":[{"productId":"` + beans + `","quantity":2}]}`

func rabbitURL() string {
	if u := os.Getenv("TEST_RABBITMQ_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// env is the app's handler on a private schema and private RabbitMQ names
// (quorum queues, as on Lambda), with the Lambda adapter over it.
type env struct {
	ctx     context.Context
	store   *store.Store
	top     topology.Topology
	handler *handler.Handler
	adapter *lambda.Adapter
	mq      *amqp.Channel
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &env{ctx: ctx, store: storetest.New(t), top: topology.Default()}
	id := strings.ToLower(rand.Text()[:10])
	e.top.Topic = "test." + id + ".orders"
	e.top.DeadLetterExchange = "test." + id + ".orders.dlx"
	subs := append([]topology.Subscription(nil), e.top.Subscriptions...)
	for i := range subs {
		subs[i].Name = "test." + id + "." + subs[i].Name
	}
	e.top.Subscriptions = subs
	pub := rabbitmq.New(rabbitmq.Config{URL: rabbitURL(), Topology: &e.top, Quorum: true, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	conn, err := amqp.Dial(rabbitURL())
	if err != nil {
		t.Fatalf("dialing rabbitmq: %v", err)
	}
	if e.mq, err = conn.Channel(); err != nil {
		t.Fatal(err)
	}
	if err := rabbitmq.DeclareWith(e.mq, e.top, rabbitmq.DeclareOptions{Quorum: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range e.top.Subscriptions {
			_, _ = e.mq.QueueDelete(s.Name, false, false, false)
			_, _ = e.mq.QueueDelete(s.DeadLetterQueue(), false, false, false)
		}
		_ = e.mq.ExchangeDelete(e.top.Topic, false, false)
		_ = e.mq.ExchangeDelete(e.top.DeadLetterExchange, false, false)
		_ = conn.Close()
	})
	log := slog.New(slog.DiscardHandler)
	if e.handler, err = handler.New(handler.Config{Store: e.store, Publisher: pub, Broker: "rabbitmq", Topology: &e.top, Logger: log}); err != nil {
		t.Fatal(err)
	}
	if e.adapter, err = lambda.New(lambda.Config{Handler: e.handler, Topology: &e.top, Logger: log}); err != nil {
		t.Fatal(err)
	}
	return e
}

// httpEvent is an API Gateway HTTP API payload v2 event as API Gateway
// sends it ($default stage, lower-case headers, comma-joined values).
func httpEvent(method, rawPath, rawQuery string, headers map[string]string, body string) events.APIGatewayV2HTTPRequest {
	h := map[string]string{"host": "abc123.execute-api.eu-west-1.amazonaws.com", "user-agent": "curl/8.5.0",
		"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"}
	for k, v := range headers {
		h[strings.ToLower(k)] = v
	}
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: rawPath, RawQueryString: rawQuery, Headers: h, Body: body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: "$default", AccountID: "123456789012", Stage: "$default", RequestID: "JKJaXmPLvHcESHA=",
			APIID: "abc123", DomainName: "abc123.execute-api.eu-west-1.amazonaws.com", DomainPrefix: "abc123",
			Time: "02/Dec/2026:08:00:00 +0000", TimeEpoch: 1796198400000,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: rawPath, Protocol: "HTTP/1.1",
				SourceIP: "203.0.113.7", UserAgent: "curl/8.5.0"},
		},
	}
}

// answer is one HTTP answer reduced to what both paths must agree on.
type answer struct {
	Status  int
	Headers map[string]string
	Body    string
}

// azure serves the request as the Functions host forwards it (raw HTTP
// to the custom handler) and returns the client's answer.
func (e *env) azure(t *testing.T, method, target string, headers map[string]string, body string) answer {
	t.Helper()
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	req, err := http.NewRequestWithContext(e.ctx, method, srv.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{Status: res.StatusCode, Headers: map[string]string{}, Body: string(b)}
	for k, v := range res.Header {
		if k != "Date" && k != "Content-Length" {
			a.Headers[k] = strings.Join(v, ", ")
		}
	}
	return a
}

// lambdaAnswer serves the same request as an HTTP API v2 event.
func (e *env) lambdaAnswer(t *testing.T, method, target string, headers map[string]string, body string) answer {
	t.Helper()
	path, query, _ := strings.Cut(target, "?")
	res, err := e.adapter.HTTP(e.ctx, httpEvent(method, path, query, headers, body))
	if err != nil {
		t.Fatal(err)
	}
	if res.IsBase64Encoded {
		t.Fatalf("%s %s: a JSON answer came back base64-encoded", method, target)
	}
	return answer{Status: res.StatusCode, Headers: res.Headers, Body: res.Body}
}

// TestHTTPAnswersLikeTheAzureHandler sends the same requests through the
// Azure path (raw HTTP, as the Functions host forwards it) and as HTTP
// API v2 events, and requires the same status, headers and body bytes:
// routes, validation, idempotency replays and problem+json answers.
func TestHTTPAnswersLikeTheAzureHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jsonCT := map[string]string{"Content-Type": "application/json"}
	key := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k-" + rand.Text()}

	// The order is created on Lambda; the Azure path then replays it.
	created := e.lambdaAnswer(t, http.MethodPost, "/api/orders", key, orderJSON)
	if created.Status != http.StatusCreated || created.Headers["Content-Type"] != "application/json" || !strings.HasPrefix(created.Headers["Location"], "/api/orders/") {
		t.Fatalf("create on Lambda: %+v", created)
	}
	replayAzure := e.azure(t, http.MethodPost, "/api/orders", key, orderJSON)
	if replayAzure.Body != created.Body || replayAzure.Status != http.StatusCreated {
		t.Fatalf("Azure replay differs from the Lambda create:\nlambda %+v\nazure  %+v", created, replayAzure)
	}
	location := created.Headers["Location"]

	cases := []struct {
		name, method, target string
		headers              map[string]string
		body                 string
		status               int
	}{
		{"replay", http.MethodPost, "/api/orders", key, orderJSON, http.StatusCreated},
		{"get order", http.MethodGet, location, nil, "", http.StatusOK},
		{"list products", http.MethodGet, "/api/products?limit=2&limit=3", nil, "", http.StatusOK},
		{"unknown order", http.MethodGet, "/api/orders/00000000-0000-4000-8000-000000000000", nil, "", http.StatusNotFound},
		{"malformed id", http.MethodGet, "/api/orders/nope", nil, "", http.StatusBadRequest},
		{"no route", http.MethodGet, "/api/nothing", nil, "", http.StatusNotFound},
		{"wrong method", http.MethodDelete, "/api/orders", nil, "", http.StatusMethodNotAllowed},
		{"not json", http.MethodPost, "/api/orders", map[string]string{"Content-Type": "text/plain"}, orderJSON, http.StatusUnsupportedMediaType},
		{"malformed json", http.MethodPost, "/api/orders", jsonCT, `{"customerName":`, http.StatusBadRequest},
		{"invalid order", http.MethodPost, "/api/orders", jsonCT, `{"customerName":"","customerEmail":"x","items":[]}`, http.StatusUnprocessableEntity},
		{"key reused", http.MethodPost, "/api/orders", key, strings.Replace(orderJSON, `"quantity":2`, `"quantity":3`, 1), http.StatusUnprocessableEntity},
		{"bad key", http.MethodPost, "/api/orders", map[string]string{"Content-Type": "application/json", "Idempotency-Key": "two words"}, orderJSON, http.StatusBadRequest},
		{"too large", http.MethodPost, "/api/orders", jsonCT, `{"customerName":"` + strings.Repeat("a", 70<<10) + `"}`, http.StatusRequestEntityTooLarge},
		{"health", http.MethodGet, "/api/health", nil, "", http.StatusOK},
	}
	for _, c := range cases {
		az := e.azure(t, c.method, c.target, c.headers, c.body)
		la := e.lambdaAnswer(t, c.method, c.target, c.headers, c.body)
		if c.name == "health" {
			// Health reports live timings; the shape is what must match.
			az.Body, la.Body = "", ""
		}
		if az.Status != c.status {
			t.Errorf("%s: Azure answered %d, want %d: %s", c.name, az.Status, c.status, az.Body)
		}
		if la.Status != az.Status || la.Body != az.Body || !sameHeaders(la.Headers, az.Headers) {
			t.Errorf("%s: answers differ\nazure  %d %v %s\nlambda %d %v %s", c.name, az.Status, az.Headers, az.Body, la.Status, la.Headers, la.Body)
		}
	}
}

func sameHeaders(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestHTTPBase64BodyPlacesTheOrder sends the order as a base64 body
// (API Gateway does so for bodies it does not take for text).
func TestHTTPBase64BodyPlacesTheOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ev := httpEvent(http.MethodPost, "/api/orders", "", map[string]string{"content-type": "application/json; charset=utf-8"},
		base64.StdEncoding.EncodeToString([]byte(orderJSON)))
	ev.IsBase64Encoded = true
	res, err := e.adapter.HTTP(e.ctx, ev)
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("base64 order: %d %v %s", res.StatusCode, err, res.Body)
	}
	var o struct {
		Status string `json:"status"`
		Total  string `json:"total"`
	}
	if err := json.Unmarshal([]byte(res.Body), &o); err != nil || o.Status != "pending" {
		t.Fatalf("order %s: %v", res.Body, err)
	}
	ev.Body = "%%% not base64"
	if _, err := e.adapter.HTTP(e.ctx, ev); !errors.Is(err, lambda.ErrNotHTTP) {
		t.Fatalf("bad base64 body: %v, want ErrNotHTTP", err)
	}
}

// TestRequestKeepsCookiesQueryAndBinaryBodies checks the event → request
// conversion on what the app's routes do not use yet.
func TestRequestKeepsCookiesQueryAndBinaryBodies(t *testing.T) {
	t.Parallel()
	bin := []byte{0, 1, 2, 0xff, 0xfe, '\n'}
	ev := httpEvent(http.MethodPut, "/api/blobs/a%2Fb", "tag=x&tag=y&empty=&sp=a+b", map[string]string{
		"content-type": "application/octet-stream", "accept": "application/json, text/plain"}, base64.StdEncoding.EncodeToString(bin))
	ev.IsBase64Encoded = true
	ev.Cookies = []string{"session=abc", "theme=dark"}
	r, err := lambda.Request(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	switch {
	case r.Method != http.MethodPut || r.URL.EscapedPath() != "/api/blobs/a%2Fb" || r.URL.Path != "/api/blobs/a/b":
		t.Fatalf("method/path %s %s (%s)", r.Method, r.URL.EscapedPath(), r.URL.Path)
	case strings.Join(q["tag"], ",") != "x,y" || !q.Has("empty") || q.Get("sp") != "a b":
		t.Fatalf("query %v", q)
	case !bytes.Equal(body, bin) || r.ContentLength != int64(len(bin)):
		t.Fatalf("body %v (%d)", body, r.ContentLength)
	case r.Header.Get("Accept") != "application/json, text/plain" || r.Host != "abc123.execute-api.eu-west-1.amazonaws.com":
		t.Fatalf("headers %v host %s", r.Header, r.Host)
	case r.RemoteAddr != "203.0.113.7":
		t.Fatalf("remote %s", r.RemoteAddr)
	}
	c, err := r.Cookie("theme")
	if err != nil || c.Value != "dark" || len(r.Cookies()) != 2 {
		t.Fatalf("cookies %v %v", r.Cookies(), err)
	}
	for _, bad := range []events.APIGatewayV2HTTPRequest{{}, {RawPath: "/x"}, httpEvent("GET", "http://evil/x", "", nil, "")} {
		if _, err := lambda.Request(context.Background(), bad); !errors.Is(err, lambda.ErrNotHTTP) {
			t.Fatalf("event %+v: %v, want ErrNotHTTP", bad, err)
		}
	}
}

func TestResponseCookiesAndBinaryBodies(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Add("Set-Cookie", "a=1; HttpOnly")
	h.Add("Set-Cookie", "b=2")
	h.Add("Vary", "Accept")
	h.Add("Vary", "Origin")
	h.Set("Content-Type", "image/png")
	res := lambda.Response(http.StatusOK, h, []byte{0x89, 'P', 'N', 'G'})
	if strings.Join(res.Cookies, "|") != "a=1; HttpOnly|b=2" || res.Headers["Vary"] != "Accept, Origin" || res.Headers["Set-Cookie"] != "" {
		t.Fatalf("headers %v cookies %v", res.Headers, res.Cookies)
	}
	if !res.IsBase64Encoded || res.Body != base64.StdEncoding.EncodeToString([]byte{0x89, 'P', 'N', 'G'}) {
		t.Fatalf("binary body %q %v", res.Body, res.IsBase64Encoded)
	}
	h.Set("Content-Type", "application/problem+json")
	if res := lambda.Response(http.StatusBadRequest, h, []byte(`{"a":1}`)); res.IsBase64Encoded || res.Body != `{"a":1}` {
		t.Fatalf("JSON body %q %v", res.Body, res.IsBase64Encoded)
	}
}

func TestFunctionName(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ORDERFLOW_FUNCTION": "Api", "AWS_LAMBDA_FUNCTION_NAME": "stack-Api-1X2Y"}, "Api"},
		{map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "SendEmail"}, "SendEmail"},
		{map[string]string{"ORDERFLOW_FUNCTION": " ", "AWS_LAMBDA_FUNCTION_NAME": "OutboxRelay"}, "OutboxRelay"},
	} {
		if got, err := lambda.FunctionName(env(c.env)); err != nil || got != c.want {
			t.Errorf("%v: %q %v, want %q", c.env, got, err, c.want)
		}
	}
	for _, bad := range []map[string]string{{}, {"AWS_LAMBDA_FUNCTION_NAME": "stack-Api-1X2Y"}, {"ORDERFLOW_FUNCTION": "api"}} {
		if _, err := lambda.FunctionName(env(bad)); !errors.Is(err, lambda.ErrUnknownFunction) {
			t.Errorf("%v: %v, want ErrUnknownFunction", bad, err)
		}
	}
}

// TestFunctionURLEventsAreServedToo: a Lambda Function URL request has the
// payload v2 shape without routeKey, stage or path parameters; the same
// handler serves it and its answer is a valid Function URL response.
func TestFunctionURLEventsAreServedToo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	raw := `{"version":"2.0","rawPath":"/api/orders","rawQueryString":"","headers":{"content-type":"application/json",
	"host":"abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws","idempotency-key":"url-1"},
	"requestContext":{"accountId":"123456789012","apiId":"abcdefghijklmnopqrstuvwxyz012345",
	"domainName":"abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws","domainPrefix":"abcdefghijklmnopqrstuvwxyz012345",
	"http":{"method":"POST","path":"/api/orders","protocol":"HTTP/1.1","sourceIp":"198.51.100.1","userAgent":"curl/8.5.0"},
	"requestId":"c0ffee00-0000-4000-8000-000000000001","time":"02/Dec/2026:08:00:00 +0000","timeEpoch":1796198400000},
	"body":` + strconvQuote(orderJSON) + `,"isBase64Encoded":false}`
	var furl events.LambdaFunctionURLRequest
	if err := json.Unmarshal([]byte(raw), &furl); err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatal(err)
	}
	res, err := e.adapter.HTTP(e.ctx, ev)
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("Function URL request: %d %v %s", res.StatusCode, err, res.Body)
	}
	b, _ := json.Marshal(res)
	var out events.LambdaFunctionURLResponse
	if err := json.Unmarshal(b, &out); err != nil || out.StatusCode != http.StatusCreated || out.Body != res.Body || out.Headers["Location"] == "" {
		t.Fatalf("not a Function URL response: %s (%v)", b, err)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
