package dashboard_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/orderflow/orderflow/dashboard"
	"github.com/orderflow/orderflow/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cfg dashboard.Config) *dashboard.Dashboard {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	d, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return d
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReceivesStandardExporterAndShowsIt exports with the standard OTLP
// exporters (as the handler and host do) and finds the span, the log
// record and the metric on the pages, and the log on the live stream.
func TestReceivesStandardExporterAndShowsIt(t *testing.T) {
	d := start(t, dashboard.Config{})
	// The live stream is opened first, so it must see the record arrive.
	streamCtx, cancelStream := context.WithCancel(context.Background())
	defer cancelStream()
	req, _ := http.NewRequestWithContext(streamCtx, http.MethodGet, d.URL()+"/logs/stream?function=ProcessOrder", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if ct := stream.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}

	tel, err := telemetry.Start(context.Background(), telemetry.Config{ServiceName: "svc-under-test", Endpoint: d.URL(), Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tel.Tracer.Tracer("t").Start(context.Background(), "POST /api/orders")
	_, child := tel.Tracer.Tracer("t").Start(ctx, "send orders")
	child.End()
	span.End()
	c, _ := tel.Meter.Meter("t").Int64Counter("orderflow.orders.created")
	c.Add(ctx, 3)
	lg := slogLogger(tel)
	lg.InfoContext(ctx, "order processed <b>", "function", "ProcessOrder")
	// A record without a function attribute, inside a consumer span that
	// names its function.
	pctx, process := tel.Tracer.Tracer("t").Start(ctx, "process orders", trace.WithAttributes(attribute.String("orderflow.function", "SendEmail")))
	lg.InfoContext(pctx, "email sent")
	process.End()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(shutdown); err != nil {
		t.Fatal(err)
	}
	tid := span.SpanContext().TraceID().String()

	if code, body := get(t, d.URL()+"/traces"); code != 200 || !strings.Contains(body, "/traces/"+tid) || !strings.Contains(body, "POST /api/orders") {
		t.Errorf("traces page %d lacks the trace:\n%s", code, body)
	}
	if code, body := get(t, d.URL()+"/traces/"+tid); code != 200 || !strings.Contains(body, `data-name="send orders"`) || !strings.Contains(body, "svc-under-test") {
		t.Errorf("trace page %d lacks the spans:\n%s", code, body)
	}
	if code, body := get(t, d.URL()+"/logs?trace="+tid); code != 200 || !strings.Contains(body, "order processed &lt;b&gt;") {
		t.Errorf("logs page %d lacks the escaped record:\n%s", code, body)
	}
	if code, body := get(t, d.URL()+"/logs?function=SendEmail"); code != 200 || !strings.Contains(body, "email sent") || strings.Contains(body, "order processed") {
		t.Errorf("logs of SendEmail (%d) should hold just the record inside its span:\n%s", code, body)
	}
	if code, body := get(t, d.URL()+"/metrics?name=orderflow.orders.created"); code != 200 || !strings.Contains(body, "<polyline") || !strings.Contains(body, "last 3") {
		t.Errorf("metrics page %d lacks the chart:\n%s", code, body)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				line <- sc.Text()
				return
			}
		}
		close(line)
	}()
	select {
	case l := <-line:
		if !strings.Contains(l, "order processed") || !strings.Contains(l, tid) {
			t.Errorf("stream sent %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Error("no log record on the live stream")
	}
}

func TestOTLPRejectsBadInput(t *testing.T) {
	d := start(t, dashboard.Config{})
	for _, tc := range []struct {
		ct, body string
		want     int
	}{
		{"text/plain", "x", http.StatusUnsupportedMediaType},
		{"application/x-protobuf", "\xff\xff\xff", http.StatusBadRequest},
		{"application/json", `{"resourceSpans": 7}`, http.StatusBadRequest},
		{"application/json", `{"resourceSpans": []}`, http.StatusOK},
	} {
		resp, err := http.Post(d.URL()+"/v1/traces", tc.ct, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %q = %d, want %d", tc.ct, tc.body, resp.StatusCode, tc.want)
		}
	}
}

// TestActionsRefuseCrossSiteRequests: a form on another site cannot stop a
// function or purge a queue.
func TestActionsRefuseCrossSiteRequests(t *testing.T) {
	d := start(t, dashboard.Config{HostURL: "http://127.0.0.1:1"})
	for _, h := range []map[string]string{{}, {"X-Dashboard": "1", "Origin": "http://evil.example"}} {
		req, _ := http.NewRequest(http.MethodPost, d.URL()+"/actions/functions/ProcessOrder/stop", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("headers %v: %d, want 403", h, resp.StatusCode)
		}
	}
}

// TestRefusesForeignHost: a page on evil.example whose name is re-pointed
// at 127.0.0.1 (DNS rebinding) is same-origin with itself, so Origin and
// X-Dashboard prove nothing; the dashboard holds the host's master key and
// would carry the action to the host, whose own Host check it bypasses. Only
// loopback names are served.
func TestRefusesForeignHost(t *testing.T) {
	d := start(t, dashboard.Config{HostURL: "http://127.0.0.1:1"})
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/actions/instances/0/restart"},
		{http.MethodGet, "/traces"},
	} {
		req, _ := http.NewRequest(tc.method, d.URL()+tc.path, nil)
		req.Host = "evil.example:18888"
		req.Header.Set("X-Dashboard", "1")
		req.Header.Set("Origin", "http://evil.example:18888")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s with Host evil.example: %d, want 403", tc.method, tc.path, resp.StatusCode)
		}
	}
	resp, err := http.Get(d.URL() + "/traces")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /traces on loopback: %d, want 200", resp.StatusCode)
	}
}
