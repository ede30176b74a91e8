package funchost

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderflow/orderflow/telemetry"
)

const fnEvery = `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"* * * * * *"}]}`

func (a *testApp) status(t *testing.T) Status {
	t.Helper()
	resp, body := a.do(t, http.MethodGet, "/admin/host/status", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d %s", resp.StatusCode, body)
	}
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (st Status) function(name string) FunctionStatus {
	for _, f := range st.Functions {
		if f.Name == name {
			return f
		}
	}
	return FunctionStatus{}
}

// TestControlStopStartFunction stops a timer function (no invocations while
// stopped), starts it again (invocations resume) and reads the counts.
func TestControlStopStartFunction(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Every": fnEvery, "Ret": fnReturn}})
	a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Every" })
	if resp, body := a.do(t, http.MethodPost, "/admin/host/functions/Every/stop", nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("stop = %d %s", resp.StatusCode, body)
	}
	st := a.status(t)
	if f := st.function("Every"); f.State != "stopped" || f.Trigger != "timerTrigger" || f.Invocations < 1 {
		t.Fatalf("after stop: %+v", f)
	}
	// An invocation dispatched just before the stop may still land.
	time.Sleep(time.Second)
	before := len(a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Every" }))
	time.Sleep(2200 * time.Millisecond)
	if n := len(a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Every" })); n != before {
		t.Fatalf("%d invocations while stopped (had %d)", n, before)
	}
	if resp, body := a.do(t, http.MethodPost, "/admin/host/functions/Every/start", nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("start = %d %s", resp.StatusCode, body)
	}
	a.waitRecords(t, before+1, func(r handlerRecord) bool { return r.Path == "/Every" })
	if f := a.status(t).function("Every"); f.State != "running" {
		t.Errorf("after start: %+v", f)
	}
	if len(st.Instances) != 1 || st.Instances[0].State != "ready" || st.Instances[0].PID == 0 {
		t.Errorf("instances %+v", st.Instances)
	}
}

func TestControlRejectsBadRequests(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}})
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/admin/host/functions/Nope/stop", http.StatusNotFound},
		{http.MethodGet, "/admin/host/functions/Ret/stop", http.StatusMethodNotAllowed},
		{http.MethodPost, "/admin/host/status", http.StatusMethodNotAllowed},
		{http.MethodPost, "/admin/host/instances/x/restart", http.StatusBadRequest},
		{http.MethodPost, "/admin/host/instances/7/restart", http.StatusNotFound},
		{http.MethodPost, "/admin/host/other", http.StatusNotFound},
	} {
		if resp, body := a.do(t, tc.method, tc.path, nil, nil); resp.StatusCode != tc.want || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
			t.Errorf("%s %s = %d %s, want %d problem+json", tc.method, tc.path, resp.StatusCode, body, tc.want)
		}
	}
}

func TestControlNeedsMasterKeyWhenAuthEnforced(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}, values: map[string]string{MasterKeySetting: "k"},
		cfg: Config{EnforceAuth: true}})
	if resp, _ := a.do(t, http.MethodGet, "/admin/host/status", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without key: %d, want 401", resp.StatusCode)
	}
	if resp, _ := a.do(t, http.MethodGet, "/admin/host/status", nil, map[string]string{"x-functions-key": "k"}); resp.StatusCode != http.StatusOK {
		t.Errorf("with key: %d, want 200", resp.StatusCode)
	}
}

// TestControlRestartInstance gives the instance a new process.
func TestControlRestartInstance(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}})
	pid := a.status(t).Instances[0].PID
	if resp, body := a.do(t, http.MethodPost, "/admin/host/instances/0/restart", nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("restart = %d %s", resp.StatusCode, body)
	}
	a.waitLog(t, "handler instance ready", 2)
	st := a.status(t)
	if st.Instances[0].PID == pid || st.Instances[0].Restarts != 1 {
		t.Errorf("after restart: %+v (pid was %d)", st.Instances[0], pid)
	}
}

// TestHostSendsTraceparentToHandler: with telemetry on, an HTTP function's
// call continues the client's trace and reaches the handler with a
// traceparent of the same trace.
func TestHostSendsTraceparentToHandler(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}, cfg: Config{Telemetry: telemetry.FromProviders(tp, nil, nil)}})
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	if resp, body := a.do(t, http.MethodGet, "/api/ret", nil, map[string]string{"traceparent": "00-" + tid + "-00f067aa0ba902b7-01"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET = %d %s", resp.StatusCode, body)
	}
	recs := a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Ret" })
	got := strings.Join(recs[0].Headers["Traceparent"], "")
	if !strings.HasPrefix(got, "00-"+tid+"-") {
		t.Errorf("handler got traceparent %q, want one in trace %s", got, tid)
	}
	var server bool
	for _, s := range rec.Ended() {
		if s.Name() == "GET /api/ret" && s.Parent().TraceID().String() == tid {
			server = true
		}
	}
	if !server {
		t.Error("no server span GET /api/ret continuing the client's trace")
	}
}
