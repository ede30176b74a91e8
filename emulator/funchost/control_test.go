package funchost

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/telemetry"
)

const fnEvery = `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"* * * * * *"}]}`

// control POSTs to a control endpoint as a dashboard does (JSON, no Origin).
func (a *testApp) control(t *testing.T, path string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range hdr {
		h[k] = v
	}
	return a.do(t, http.MethodPost, path, strings.NewReader("{}"), h)
}

func (a *testApp) status(t *testing.T) HostStatus {
	t.Helper()
	resp, body := a.do(t, http.MethodGet, "/admin/host/status", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d %s", resp.StatusCode, body)
	}
	var st HostStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestControlStopStartFunction stops a timer function (no invocations while
// stopped), starts it again (invocations resume) and reads the counts.
func TestControlStopStartFunction(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Every": fnEvery, "Ret": fnReturn}})
	a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Every" })
	if resp, body := a.control(t, "/admin/host/functions/Every/stop", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("stop = %d %s", resp.StatusCode, body)
	}
	st := a.status(t)
	if f := st.Function("Every"); f.State != "stopped" || f.Trigger != "timerTrigger" || f.Invocations < 1 {
		t.Fatalf("after stop: %+v", f)
	}
	if th := st.Triggers["Every"]; th.Status != "stopped" || !st.Healthy {
		t.Errorf("after stop: trigger %+v, healthy %v; want stopped and healthy", th, st.Healthy)
	}
	// An invocation dispatched just before the stop may still land.
	time.Sleep(time.Second)
	before := len(a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Every" }))
	time.Sleep(2200 * time.Millisecond)
	if n := len(a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Every" })); n != before {
		t.Fatalf("%d invocations while stopped (had %d)", n, before)
	}
	if resp, body := a.control(t, "/admin/host/functions/Every/start", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("start = %d %s", resp.StatusCode, body)
	}
	a.waitRecords(t, before+1, func(r handlerRecord) bool { return r.Path == "/Every" })
	if st := a.status(t); st.Function("Every").State != "running" || st.Triggers["Every"].Status != "up" {
		t.Errorf("after start: %+v %+v", st.Function("Every"), st.Triggers["Every"])
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
		if resp, body := a.do(t, tc.method, tc.path, strings.NewReader("{}"), map[string]string{"Content-Type": "application/json"}); resp.StatusCode != tc.want || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
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
	if resp, _ := a.control(t, "/admin/host/functions/Ret/stop", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("stop without key: %d, want 401", resp.StatusCode)
	}
}

// TestControlFollowsAdminRules: the control endpoints change the host, so
// a browser page must not reach them (issue 13's admin rules): an Origin
// header is refused, a body other than JSON too, and a foreign Host.
func TestControlFollowsAdminRules(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}})
	const path = "/admin/host/instances/0/restart"
	if resp, body := a.control(t, path, map[string]string{"Origin": "http://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("with Origin: %d %s, want 403", resp.StatusCode, body)
	}
	if resp, body := a.do(t, http.MethodPost, path, strings.NewReader("x=1"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form POST: %d %s, want 415", resp.StatusCode, body)
	}
	req, err := http.NewRequest(http.MethodPost, a.host.URL()+path, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "evil.example"
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Host: %d, want 403", resp.StatusCode)
	}
	if st := a.status(t); st.Instances[0].Restarts != 0 {
		t.Errorf("a refused call restarted the instance: %+v", st.Instances[0])
	}
}

// TestControlRestartInstance gives the instance a new process.
func TestControlRestartInstance(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}})
	// Three restarts: an operator's restart is no failure, so the host
	// must not give up as it does after three crashes or timeouts.
	for n := 1; n <= 3; n++ {
		pid := a.status(t).Instances[0].PID
		if resp, body := a.control(t, "/admin/host/instances/0/restart", nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("restart = %d %s", resp.StatusCode, body)
		}
		a.waitLog(t, "handler instance ready", n+1)
		st := a.status(t)
		if st.Instances[0].PID == pid || st.Instances[0].Restarts != int64(n) || st.State != "Running" || !st.Healthy {
			t.Fatalf("after restart %d: %+v %s %v (pid was %d)", n, st.Instances[0], st.State, st.Healthy, pid)
		}
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

// TestServiceBusBatchSpanLinksEachMessage: a batch invocation is one
// CONSUMER span that starts its own trace and links to the creation
// context of every message in it (the messaging conventions for a batch),
// ending with the settlement event.
func TestServiceBusBatchSpanLinksEachMessage(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	b := sbSetup(t, sbOpts{binding: map[string]any{"cardinality": "many", "maxMessageBatchSize": 10},
		cfg: Config{Telemetry: telemetry.FromProviders(tp, nil, nil)}})
	s, err := b.client.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	batch, err := s.NewMessageBatch(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := range 3 {
		tid := fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e47%02d", i)
		want[tid] = true
		m := &azservicebus.Message{Body: []byte(`{}`), ApplicationProperties: map[string]any{"traceparent": "00-" + tid + "-00f067aa0ba902b7-01"}}
		if err := batch.AddMessage(m, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SendMessageBatch(context.Background(), batch, nil); err != nil {
		t.Fatal(err)
	}
	b.waitEmpty(t)
	linked := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(linked) < len(want) && time.Now().Before(deadline) {
		linked = map[string]bool{}
		for _, sp := range rec.Ended() {
			if sp.Name() != "process "+b.queue {
				continue
			}
			if sp.Parent().IsValid() || want[sp.SpanContext().TraceID().String()] {
				t.Fatalf("a batch span continues a message's trace: parent %v", sp.Parent())
			}
			var count int64 = -1
			for _, kv := range sp.Attributes() {
				if kv.Key == "messaging.batch.message_count" {
					count = kv.Value.AsInt64()
				}
			}
			if count != int64(len(sp.Links())) {
				t.Errorf("batch of %d messages has %d links", count, len(sp.Links()))
			}
			if evs := sp.Events(); len(evs) == 0 || evs[0].Name != "complete" {
				t.Errorf("settlement events %v, want complete", evs)
			}
			for _, l := range sp.Links() {
				linked[l.SpanContext.TraceID().String()] = true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	for tid := range want {
		if !linked[tid] {
			t.Errorf("no batch span links to the message of trace %s (linked %v)", tid, linked)
		}
	}
}

// TestServiceBusSessionSpans: a session message's invocation is a CONSUMER
// span that continues the message's trace, names the session and records
// the settlement, as for any single message.
func TestServiceBusSessionSpans(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	b := sbSetup(t, sbOpts{queue: servicebus.QueueConfig{RequiresSession: true}, binding: map[string]any{"isSessionsEnabled": true},
		cfg: Config{Telemetry: telemetry.FromProviders(tp, nil, nil)}})
	s, err := b.client.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	const tid = "5bf92f3577b34da6a3ce929d0e0e4736"
	sid := "s-trace"
	m := &azservicebus.Message{Body: []byte(`{}`), SessionID: &sid, ApplicationProperties: map[string]any{"traceparent": "00-" + tid + "-00f067aa0ba902b7-01"}}
	if err := s.SendMessage(context.Background(), m, nil); err != nil {
		t.Fatal(err)
	}
	b.app.waitRecords(t, 1, consumeRecords)
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, sp := range rec.Ended() {
			if sp.Name() != "process "+b.queue {
				continue
			}
			var session string
			for _, kv := range sp.Attributes() {
				if kv.Key == "orderflow.servicebus.session_id" {
					session = kv.Value.AsString()
				}
			}
			if sp.SpanContext().TraceID().String() != tid || session != sid || len(sp.Events()) == 0 || sp.Events()[0].Name != "complete" {
				t.Fatalf("session span: trace %s, session %q, events %v", sp.SpanContext().TraceID(), session, sp.Events())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no process span for the session message")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
