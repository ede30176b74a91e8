package funchost

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testkit"
)

// appSpec describes a generated test app.
type appSpec struct {
	customHandler map[string]any    // extra customHandler keys
	host          map[string]any    // extra top-level host.json keys
	functions     map[string]string // name → function.json
	values        map[string]string // local.settings.json Values
	cfg           Config
	noStart       bool
}

type testApp struct {
	dir    string
	record string
	host   *Host
	logs   *testkit.Buffer
	stdout *testkit.Buffer
	stderr *testkit.Buffer
}

// handlerRecord is one request the test handler saw.
type handlerRecord struct {
	WorkerID string              `json:"workerId"`
	PID      int                 `json:"pid"`
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	RawQuery string              `json:"rawQuery"`
	Host     string              `json:"host"`
	Headers  map[string][]string `json:"headers"`
	Body     string              `json:"body"`
	Env      map[string]string   `json:"env"`
	Cwd      string              `json:"cwd"`
	Args     []string            `json:"args"`
}

func setup(t testing.TB, spec appSpec) *testApp {
	t.Helper()
	dir := t.TempDir()
	a := &testApp{dir: dir, record: filepath.Join(dir, "requests.jsonl"), logs: &testkit.Buffer{}, stdout: &testkit.Buffer{}, stderr: &testkit.Buffer{}}
	ch := map[string]any{"description": map[string]any{"defaultExecutablePath": handlerBin}}
	for k, v := range spec.customHandler {
		ch[k] = v
	}
	host := map[string]any{"version": "2.0", "customHandler": ch}
	for k, v := range spec.host {
		host[k] = v
	}
	writeJSON(t, filepath.Join(dir, "host.json"), host)
	values := map[string]string{"FUNCTIONS_WORKER_RUNTIME": "custom", "TESTHANDLER_RECORD": a.record}
	for k, v := range spec.values {
		values[k] = v
	}
	writeJSON(t, filepath.Join(dir, "local.settings.json"), map[string]any{"IsEncrypted": false, "Values": values})
	for name, fj := range spec.functions {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "function.json"), []byte(fj), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := spec.cfg
	cfg.AppDir = dir
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Stdout, cfg.Stderr = a.stdout, a.stderr
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	a.host = h
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = h.Stop(ctx)
		if t.Failed() {
			t.Logf("host logs:\n%s\nstdout:\n%s\nstderr:\n%s", a.logs, a.stdout, a.stderr)
		}
	})
	if !spec.noStart {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.Start(ctx); err != nil {
			t.Fatalf("Start: %v\nlogs:\n%s", err, a.logs)
		}
	}
	return a
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (a *testApp) records(t *testing.T) []handlerRecord {
	t.Helper()
	f, err := os.Open(a.record)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []handlerRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r handlerRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // a line being written
		}
		out = append(out, r)
	}
	return out
}

// waitRecords polls until at least n records match pred.
func (a *testApp) waitRecords(t *testing.T, n int, pred func(handlerRecord) bool) []handlerRecord {
	t.Helper()
	var got []handlerRecord
	testkit.Eventually(t, 20*time.Second, func() error {
		got = got[:0]
		for _, r := range a.records(t) {
			if pred(r) {
				got = append(got, r)
			}
		}
		if len(got) < n {
			return fmt.Errorf("waited for %d matching handler requests, got %d", n, len(got))
		}
		return nil
	})
	return got
}

// waitLog polls the host log until msg appears n times.
func (a *testApp) waitLog(t *testing.T, msg string, n int) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, func() error {
		if c := strings.Count(a.logs.String(), msg); c < n {
			return fmt.Errorf("log %q seen %d times, want %d", msg, c, n)
		}
		return nil
	})
}

func (a *testApp) do(t testing.TB, method, path string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, a.host.URL()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

const (
	fnOrders = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"orders/{id:int}","methods":["post"],"authLevel":"function"},{"type":"http","direction":"out","name":"res"}]}`
	fnReturn = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"ret","authLevel":"anonymous"},{"type":"http","direction":"out","name":"$return"}]}`
	fnEcho   = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"echo/{*rest}"},{"type":"http","direction":"out","name":"res"}]}`
	fnEnv    = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"env"},{"type":"http","direction":"out","name":"res"}]}`
	fnTick   = `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 0 1 1 *"}]}`
)

// jsonHeader is what an admin call must carry.
var jsonHeader = map[string]string{"Content-Type": "application/json"}

// object walks keys down nested JSON objects and returns the object at the
// end, failing the test when any step is missing or not an object.
func object(t *testing.T, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	for i, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("%s is %#v, want a JSON object", strings.Join(keys[:i+1], "."), m[k])
		}
		m = next
	}
	return m
}

// str returns m[key], failing the test when it is not a string.
func str(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok {
		t.Fatalf("%s is %#v, want a string", key, m[key])
	}
	return s
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return m
}

func TestPayloadModeEndToEnd(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"CreateOrder": fnOrders, "Ret": fnReturn}})

	t.Run("invocation", func(t *testing.T) {
		t.Parallel()
		resp, body := a.do(t, http.MethodPost, "/api/orders/5?x=1", strings.NewReader(`{"qty":2}`), map[string]string{"Content-Type": "application/json"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if resp.Header.Get("X-Worker-Id") == "" {
			t.Errorf("response headers from Outputs.res not applied: %v", resp.Header)
		}
		p := decodeJSON(t, body)
		req := object(t, p, "Data", "req")
		if req["Method"] != "POST" || req["Body"] != `{"qty":2}` || !strings.HasSuffix(str(t, req, "Url"), "/api/orders/5?x=1") {
			t.Errorf("Data.req = %v", req)
		}
		if object(t, req, "Params")["id"] != "5" || object(t, req, "Query")["x"] != "1" {
			t.Errorf("Params/Query = %v / %v", req["Params"], req["Query"])
		}
		meta := object(t, p, "Metadata")
		for k, want := range map[string]string{"qty": `"2"`, "id": `"5"`, "x": `"1"`} {
			if meta[k] != want {
				t.Errorf("Metadata.%s = %#v, want %#v", k, meta[k], want)
			}
		}
		if object(t, meta, "sys")["MethodName"] != "CreateOrder" {
			t.Errorf("Metadata.sys = %v", meta["sys"])
		}
		recs := a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/CreateOrder" })
		h := recs[0].Headers
		if len(h["X-Azure-Functions-Invocationid"]) == 0 || !strings.HasPrefix(h["User-Agent"][0], "Azure-Functions-Host/") || h["X-Azure-Functions-Hostversion"][0] != HostVersion {
			t.Errorf("invocation headers = %v", h)
		}
	})
	t.Run("return value", func(t *testing.T) {
		t.Parallel()
		resp, body := a.do(t, http.MethodGet, "/api/ret?action=return", nil, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"MethodName": "Ret"`) {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
	})
	t.Run("routing misses", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "/api/orders/5"},    // wrong method → 404 like the real host
			{http.MethodPost, "/api/orders/abc"}, // int constraint
			{http.MethodPost, "/api/nothing"},
			{http.MethodPost, "/orders/5"}, // missing route prefix
		} {
			resp, body := a.do(t, c.method, c.path, nil, nil)
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s: status %d %s", c.method, c.path, resp.StatusCode, body)
			}
		}
	})
}

func TestForwardingMode(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{
		customHandler: map[string]any{"enableForwardingHttpRequest": true},
		functions:     map[string]string{"Echo": fnEcho},
	})
	resp, body := a.do(t, http.MethodPut, "/api/echo/a/b?b=1&a=2&a=3", strings.NewReader("hello"), map[string]string{"X-Custom": "v"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d (handler status must pass through): %s", resp.StatusCode, body)
	}
	var rec handlerRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Method != http.MethodPut || rec.Path != "/api/echo/a/b" || rec.Body != "hello" {
		t.Errorf("forwarded request = %+v", rec)
	}
	if rec.RawQuery != "b=1&a=2%2C3" {
		t.Errorf("query = %q, want duplicates comma-joined in first-seen order", rec.RawQuery)
	}
	if rec.Headers["X-Custom"][0] != "v" || len(rec.Headers["X-Azure-Functions-Invocationid"]) == 0 || !strings.Contains(rec.Headers["User-Agent"][0], "Azure-Functions-Host/") {
		t.Errorf("headers = %v", rec.Headers)
	}
	if !strings.HasPrefix(rec.Host, "127.0.0.1:") || rec.Host == "" {
		t.Errorf("Host = %q, want the original host", rec.Host)
	}
}

func TestProxyingMode(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{
		customHandler: map[string]any{"enableProxyingHttpRequest": true},
		functions:     map[string]string{"Echo": fnEcho},
	})
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte("chunk1-"))
		_, _ = pw.Write([]byte("chunk2"))
		_ = pw.Close()
	}()
	resp, body := a.do(t, http.MethodPost, "/api/echo/x?a=1&a=2", pr, nil) // chunked: no Content-Length
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var rec handlerRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Body != "chunk1-chunk2" || rec.RawQuery != "a=1&a=2" || rec.Path != "/api/echo/x" {
		t.Errorf("proxied request = %+v", rec)
	}
	if len(rec.Headers["X-Ms-Invocation-Id"]) == 0 || rec.Headers["X-Ms-Invocation-Id"][0] != rec.Headers["X-Azure-Functions-Invocationid"][0] {
		t.Errorf("invocation id headers = %v", rec.Headers)
	}
}

func TestBadHandlerResponsesFail(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}})
	for _, action := range []string{"fail", "badjson", "empty", "textplain"} {
		t.Run(action, func(t *testing.T) {
			t.Parallel()
			resp, body := a.do(t, http.MethodGet, "/api/ret?action="+action, nil, nil)
			if resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500: %s", resp.StatusCode, body)
			}
		})
	}
}

func TestRestartOnCrash(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}})
	resp, _ := a.do(t, http.MethodGet, "/api/ret?action=crash", nil, nil)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("crash: status %d, want 500", resp.StatusCode)
	}
	// A request racing the crash fails like in the real host; wait for the
	// restarted instance instead.
	a.waitLog(t, "handler instance ready", 2)
	resp, body := a.do(t, http.MethodGet, "/api/ret", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after restart: status %d %s", resp.StatusCode, body)
	}
	recs := a.waitRecords(t, 2, func(r handlerRecord) bool { return r.Path == "/Ret" })
	if recs[0].WorkerID == recs[len(recs)-1].WorkerID {
		t.Errorf("worker id unchanged after crash: %s", recs[0].WorkerID)
	}
}

func TestGiveUpAfterThreeFailures(t *testing.T) {
	t.Parallel()
	t.Run("crash on start", func(t *testing.T) {
		t.Parallel()
		a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}, values: map[string]string{"TESTHANDLER_CRASH_ON_START": "1"}, noStart: true})
		err := a.host.Start(context.Background())
		if !errors.Is(err, ErrGaveUp) {
			t.Fatalf("Start = %v, want ErrGaveUp", err)
		}
		if !strings.Contains(a.stderr.String(), "crashing on start as asked") {
			t.Errorf("handler stderr not streamed: %q", a.stderr.String())
		}
	})
	t.Run("exits while running", func(t *testing.T) {
		t.Parallel()
		a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}, values: map[string]string{"TESTHANDLER_EXIT_AFTER_MS": "300"}})
		select {
		case <-a.host.Done():
		case <-time.After(20 * time.Second):
			t.Fatal("host did not give up")
		}
		if !errors.Is(a.host.Err(), ErrGaveUp) {
			t.Fatalf("Err = %v", a.host.Err())
		}
		resp, _ := a.do(t, http.MethodGet, "/api/ret", nil, nil)
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("invocation after give-up: status %d, want 500", resp.StatusCode)
		}
	})
}

func TestFunctionTimeoutRestartsHandler(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}, host: map[string]any{"functionTimeout": "00:00:01"}})
	resp, body := a.do(t, http.MethodGet, "/api/ret?action=hang", nil, nil)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "functionTimeout") {
		t.Fatalf("status %d %s, want 500 timeout", resp.StatusCode, body)
	}
	resp, _ = a.do(t, http.MethodGet, "/api/ret", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after timeout: status %d", resp.StatusCode)
	}
	recs := a.waitRecords(t, 2, func(r handlerRecord) bool { return r.Path == "/Ret" })
	if recs[0].WorkerID == recs[1].WorkerID {
		t.Error("handler was not restarted after the timeout")
	}
	if !strings.Contains(a.logs.String(), "Timeout value of 1s exceeded by function 'Functions.Ret'") {
		t.Errorf("timeout not logged")
	}
}

func TestGracefulStopDrainsInFlight(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}})
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(a.host.URL() + "/api/ret?action=sleep&ms=800")
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Ret" })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.host.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	r := <-done
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("in-flight request: %+v, want 200", r)
	}
	if err := a.host.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStopKillsHandlerIgnoringSIGTERM(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}, values: map[string]string{"TESTHANDLER_IGNORE_SIGTERM": "1"},
		cfg: Config{KillTimeout: 300 * time.Millisecond}})
	if resp, _ := a.do(t, http.MethodGet, "/api/ret", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	pid := a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Ret" })[0].PID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.host.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("handler pid %d still exists after Stop (kill -0: %v)", pid, err)
	}
	if !strings.Contains(a.logs.String(), "did not exit after SIGTERM; killing it") {
		t.Error("SIGKILL escalation not logged")
	}
}

func TestStopBeforeStart(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}, noStart: true})
	if err := a.host.Stop(context.Background()); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
}

func TestTimerTrigger(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{
		"Every":   `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"* * * * * *"}]}`,
		"Startup": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"myTimer","schedule":"0 0 0 1 1 *","runOnStartup":true}]}`,
	}})
	t.Run("fires on schedule", func(t *testing.T) {
		t.Parallel()
		recs := a.waitRecords(t, 2, func(r handlerRecord) bool { return r.Path == "/Every" })
		p := decodeJSON(t, []byte(recs[0].Body))
		timer := object(t, p, "Data", "timer")
		if object(t, timer, "Schedule")["AdjustForDST"] != true || timer["IsPastDue"] != false {
			t.Errorf("Data.timer = %v", timer)
		}
		st := object(t, timer, "ScheduleStatus")
		if _, err := time.Parse(time.RFC3339Nano, str(t, st, "Next")); err != nil {
			t.Errorf("ScheduleStatus.Next = %v: %v", st["Next"], err)
		}
		meta := object(t, p, "Metadata")
		if len(meta) != 1 || object(t, meta, "sys")["MethodName"] != "Every" {
			t.Errorf("Metadata = %v, want only sys", meta)
		}
	})
	t.Run("run on startup", func(t *testing.T) {
		t.Parallel()
		recs := a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Startup" })
		if !strings.Contains(recs[0].Body, `"myTimer":{"Schedule"`) {
			t.Errorf("payload = %s", recs[0].Body)
		}
	})
}

func TestAdminRunsNonHTTPFunction(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{
		"Tick": fnTick,
		"Ret":  fnReturn,
		// Disabled functions are not loaded (an unknown trigger type in an
		// enabled one stops start-up: TestBrokenConfigStopsStartup).
		"Queue": `{"bindings":[{"type":"kafkaTrigger","direction":"in","name":"msg"}]}`,
	}, values: map[string]string{"AzureWebJobs.Queue.Disabled": "true"}})
	resp, body := a.do(t, http.MethodPost, "/admin/functions/Tick", strings.NewReader(`{"input":"x"}`), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	recs := a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Tick" })
	if !strings.Contains(recs[0].Body, `"timer":{"Schedule":{"AdjustForDST":true}`) {
		t.Errorf("manual timer payload = %s", recs[0].Body)
	}
	for path, want := range map[string]int{"/admin/functions/Ret": 400, "/admin/functions/Queue": 404, "/admin/functions/Nope": 404} {
		resp, body := a.do(t, http.MethodPost, path, strings.NewReader(`{"input":""}`), jsonHeader)
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d: %s", path, resp.StatusCode, want, body)
		}
	}
	resp, _ = a.do(t, http.MethodPost, "/admin/functions/Tick", strings.NewReader(`{"input":`), jsonHeader)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed body: status %d, want 400", resp.StatusCode)
	}
}

func TestDisabledFunctions(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{
		functions: map[string]string{"Ret": fnReturn, "Off": fnEnv, "Off2": fnEcho},
		values:    map[string]string{"AzureWebJobs.Off.Disabled": "1", "AzureWebJobs.Off2.Disabled": "true"},
	})
	for _, p := range []string{"/api/env", "/api/echo/x"} {
		if resp, _ := a.do(t, http.MethodGet, p, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404 for a disabled function", p, resp.StatusCode)
		}
	}
	out := a.stdout.String()
	if strings.Contains(out, "Off:") || !strings.Contains(out, "Ret: ") {
		t.Errorf("function list = %q", out)
	}
}

func TestEnforceAuth(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{
		functions: map[string]string{
			"CreateOrder": fnOrders,
			"Ret":         fnReturn,
			"Adm":         `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"adm","authLevel":"admin"},{"type":"http","direction":"out","name":"res"}]}`,
			"Tick":        fnTick,
		},
		values: map[string]string{MasterKeySetting: "master", HostKeySetting: "hostkey", FunctionKeySettingPrefix + "CreateOrder": "fnkey"},
		cfg:    Config{EnforceAuth: true},
	})
	cases := []struct {
		method, path, key string
		want              int
	}{
		{"POST", "/api/orders/1", "", 401},
		{"POST", "/api/orders/1", "wrong", 401},
		{"POST", "/api/orders/1", "fnkey", 200},
		{"POST", "/api/orders/1?code=hostkey", "", 200},
		{"POST", "/api/orders/1", "master", 200},
		{"GET", "/api/adm", "hostkey", 401},
		{"GET", "/api/adm", "master", 200},
		{"GET", "/api/ret", "", 200},
		{"POST", "/admin/functions/Tick", "hostkey", 401},
		{"POST", "/admin/functions/Tick", "master", 202},
	}
	for _, c := range cases {
		hdr := map[string]string{"Content-Type": "application/json"}
		if c.key != "" {
			hdr["x-functions-key"] = c.key
		}
		resp, body := a.do(t, c.method, c.path, strings.NewReader(`{}`), hdr)
		if resp.StatusCode != c.want {
			t.Errorf("%s %s key %q: status %d, want %d: %s", c.method, c.path, c.key, resp.StatusCode, c.want, body)
		}
	}
}

func TestHandlerEnvironmentAndLaunch(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{
		customHandler: map[string]any{"description": map[string]any{
			"defaultExecutablePath": handlerBin,
			"workingDirectory":      "work",
			"arguments":             []string{"--flag %MY_SETTING%", "two"},
		}},
		functions: map[string]string{"Env": fnEnv},
		values:    map[string]string{"MY_SETTING": "from-local", "OVERRIDDEN": "local"},
		cfg:       Config{Settings: map[string]string{"OVERRIDDEN": "config"}},
		noStart:   true,
	})
	if err := os.Mkdir(filepath.Join(a.dir, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := a.host.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if resp, _ := a.do(t, http.MethodGet, "/api/env", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rec := a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Env" })[0]
	env := rec.Env
	if env["FUNCTIONS_CUSTOMHANDLER_PORT"] == "" || env["FUNCTIONS_CUSTOMHANDLER_PORT"] != env["FUNCTIONS_HTTPWORKER_PORT"] {
		t.Errorf("port vars = %q / %q", env["FUNCTIONS_CUSTOMHANDLER_PORT"], env["FUNCTIONS_HTTPWORKER_PORT"])
	}
	if env["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"] == "" || env["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"] != env["FUNCTIONS_HTTPWORKER_ID"] {
		t.Errorf("worker id vars = %q / %q", env["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"], env["FUNCTIONS_HTTPWORKER_ID"])
	}
	if env["FUNCTIONS_APP_ROOT_PATH"] != a.dir || env["MY_SETTING"] != "from-local" || env["OVERRIDDEN"] != "config" || env["PATH"] == "" {
		t.Errorf("env = app root %q, MY_SETTING %q, OVERRIDDEN %q, PATH %q", env["FUNCTIONS_APP_ROOT_PATH"], env["MY_SETTING"], env["OVERRIDDEN"], env["PATH"])
	}
	if rec.Cwd != filepath.Join(a.dir, "work") {
		t.Errorf("cwd = %q", rec.Cwd)
	}
	if strings.Join(rec.Args, "|") != "--flag|from-local|two" {
		t.Errorf("args = %q, want joined with spaces then split", rec.Args)
	}
	if !strings.Contains(a.stdout.String(), "#0] testhandler listening on") || !strings.Contains(a.stderr.String(), "#0] warn: this line goes to stderr") {
		t.Errorf("handler output not streamed with prefix:\n%s\n%s", a.stdout, a.stderr)
	}
}

func TestInstancesShareInvocations(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}, cfg: Config{Instances: 2}})
	for range 6 {
		if resp, _ := a.do(t, http.MethodGet, "/api/ret", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	workers := map[string]bool{}
	for _, r := range a.waitRecords(t, 6, func(r handlerRecord) bool { return r.Path == "/Ret" }) {
		workers[r.WorkerID] = true
	}
	if len(workers) != 2 {
		t.Errorf("invocations went to %d instances, want 2", len(workers))
	}
	if !strings.Contains(a.logs.String(), "instance=1") {
		t.Error("logs do not show which instance handled an invocation")
	}
}

func TestFunctionListPrinted(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"CreateOrder": fnOrders, "Tick": fnTick}})
	out := a.stdout.String()
	for _, want := range []string{"\tCreateOrder: [POST] " + a.host.URL() + "/api/orders/{id:int}\n", "\tTick: timerTrigger\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}
