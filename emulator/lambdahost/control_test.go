package lambdahost_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/lambdahost"
	"github.com/orderflow/orderflow/internal/hostapi"
	"github.com/orderflow/orderflow/internal/testkit"
)

// control calls the control API as the dashboard does (a JSON POST).
func control(t *testing.T, h *lambdahost.Host, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, h.URL()+path, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func status(t *testing.T, h *lambdahost.Host) hostapi.HostStatus {
	t.Helper()
	res, err := http.Get(h.URL() + "/admin/host/status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st hostapi.HostStatus
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatalf("status %d: %v", res.StatusCode, err)
	}
	return st
}

// TestControlStopStartQueueFunction: a stopped function gets no batches
// and its messages stay in the queue; started again, it gets them; the
// status follows, with the counts.
func TestControlStopStartQueueFunction(t *testing.T) {
	t.Parallel()
	ch, q := quorumQueue(t, 5)
	log := filepath.Join(t.TempDir(), "batches.log")
	h := start(t, lambdahost.Config{RabbitMQURL: rabbitURL(),
		Functions: []lambdahost.Function{{Name: "batch", Timeout: 5 * time.Second, Env: map[string]string{"BATCH_LOG": log}}},
		Queues:    []lambdahost.Queue{{Function: "batch", Queue: q, BatchSize: 10, Window: 100 * time.Millisecond}}})
	publish(t, ch, q, "m1", "ok")
	waitLines(t, log, 1)
	if code, body := control(t, h, "/admin/host/functions/batch/stop"); code != http.StatusNoContent {
		t.Fatalf("stop: %d %s", code, body)
	}
	st := status(t, h)
	if f := st.Function("batch"); f.State != "stopped" || f.Trigger != "MQ" || f.Invocations != 1 || f.Failures != 0 {
		t.Fatalf("after stop: %+v", f)
	}
	if th := st.Triggers["batch"]; th.Status != "stopped" || !st.Healthy {
		t.Fatalf("trigger after stop: %+v (healthy %v)", th, st.Healthy)
	}
	publish(t, ch, q, "m2", "ok")
	publish(t, ch, q, "m3", "ok")
	// Nothing is delivered while stopped: the messages wait in the queue
	// (once the quorum queue counts them; publishing is not confirmed),
	// ready and unacknowledged, for longer than many windows.
	eventually(t, 10*time.Second, func() bool { return depth(t, ch, q) == 2 }, "the queue to hold both messages")
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		if n := depth(t, ch, q); n != 2 {
			t.Fatalf("queue depth %d while stopped, want 2", n)
		}
	}
	if lines := waitLines(t, log, 1); len(lines) != 1 {
		t.Fatalf("delivered while stopped: %q", lines)
	}
	if code, body := control(t, h, "/admin/host/functions/batch/start"); code != http.StatusNoContent {
		t.Fatalf("start: %d %s", code, body)
	}
	lines := waitLines(t, log, 2)
	if !strings.HasSuffix(lines[1], " m2:false,m3:false") {
		t.Fatalf("after start: %q", lines)
	}
	eventually(t, 10*time.Second, func() bool { return depth(t, ch, q) == 0 }, "the queue to empty")
	if f := status(t, h).Function("batch"); f.State != "running" || f.Invocations != 2 {
		t.Fatalf("after start: %+v", f)
	}
}

// TestControlStoppedRouteIsThrottled: a stopped function's route answers
// 429 as a throttled Lambda integration does, and Invoke fails with
// ErrThrottled, without running it; started, it serves again.
func TestControlStoppedRouteIsThrottled(t *testing.T) {
	t.Parallel()
	h := start(t, lambdahost.Config{Functions: []lambdahost.Function{{Name: "http", Timeout: 5 * time.Second}},
		Routes: []lambdahost.Route{{Method: "GET", Path: "/files/{name}", Function: "http"}}})
	get := func() (int, string) {
		res, err := http.Get(h.URL() + "/files/a")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := get(); code != 201 {
		t.Fatalf("running: %d %s", code, body)
	}
	if code, body := control(t, h, "/admin/host/functions/http/stop"); code != http.StatusNoContent {
		t.Fatalf("stop: %d %s", code, body)
	}
	if code, body := get(); code != http.StatusTooManyRequests || body != `{"message":"Too Many Requests"}` {
		t.Fatalf("stopped: %d %s", code, body)
	}
	_, err := h.Invoke(ctx(t), "http", []byte(`{}`))
	var te *lambdahost.ThrottledError
	if !errors.Is(err, lambdahost.ErrThrottled) || !errors.As(err, &te) || !strings.Contains(err.Error(), "TooManyRequestsException") {
		t.Fatalf("Invoke while stopped: %v", err)
	}
	if f := status(t, h).Function("http"); f.State != "stopped" || f.Trigger != "HttpApi" || f.Invocations != 1 {
		t.Fatalf("status while stopped (throttles are not invocations): %+v", f)
	}
	if code, body := control(t, h, "/admin/host/functions/http/start"); code != http.StatusNoContent {
		t.Fatalf("start: %d %s", code, body)
	}
	if code, body := get(); code != 201 {
		t.Fatalf("started: %d %s", code, body)
	}
}

// TestControlStopsSchedules: a stopped function's schedule pauses.
func TestControlStopsSchedules(t *testing.T) {
	t.Parallel()
	h := start(t, lambdahost.Config{Functions: []lambdahost.Function{{Name: "echo", Timeout: 5 * time.Second}},
		Schedules: []lambdahost.Schedule{{Function: "echo", Every: time.Second}}})
	eventually(t, 10*time.Second, func() bool { return status(t, h).Function("echo").Invocations >= 1 }, "a scheduled invocation")
	if code, body := control(t, h, "/admin/host/functions/echo/stop"); code != http.StatusNoContent {
		t.Fatalf("stop: %d %s", code, body)
	}
	n := status(t, h).Function("echo").Invocations
	time.Sleep(2500 * time.Millisecond)
	if f := status(t, h).Function("echo"); f.Invocations != n || f.Trigger != "Schedule" {
		t.Fatalf("invoked while stopped: %+v, had %d", f, n)
	}
	if code, body := control(t, h, "/admin/host/functions/echo/start"); code != http.StatusNoContent {
		t.Fatalf("start: %d %s", code, body)
	}
	eventually(t, 10*time.Second, func() bool { return status(t, h).Function("echo").Invocations > n }, "scheduled invocations to resume")
}

// TestControlRestartInstance: a restart replaces the runtime process of
// one execution environment, counted in the status.
func TestControlRestartInstance(t *testing.T) {
	t.Parallel()
	h := start(t, lambdahost.Config{Functions: []lambdahost.Function{{Name: "fail"}, {Name: "echo", Timeout: 5 * time.Second, Concurrency: 2}}})
	pidOf := func() int {
		out, err := h.Invoke(ctx(t), "echo", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		var e echoed
		if err := json.Unmarshal(out, &e); err != nil {
			t.Fatal(err)
		}
		return e.PID
	}
	_ = pidOf()
	var st hostapi.HostStatus
	eventually(t, 10*time.Second, func() bool {
		st = status(t, h)
		for _, is := range st.Instances {
			if is.State != "ready" {
				return false
			}
		}
		return len(st.Instances) == 3
	}, "three ready environments")
	if st.Instances[0].Function != "fail" || st.Instances[1].Function != "echo" || st.Instances[2].Index != 2 {
		t.Fatalf("instances: %+v", st.Instances)
	}
	old := st.Instances[1].PID
	if code, body := control(t, h, "/admin/host/instances/1/restart"); code != http.StatusNoContent {
		t.Fatalf("restart: %d %s", code, body)
	}
	eventually(t, 10*time.Second, func() bool {
		is := status(t, h).Instances[1]
		return is.State == "ready" && is.PID != old && is.PID != 0 && is.Restarts == 1
	}, "instance 1 to come back with a new process")
	if is := status(t, h).Instances; is[0].Restarts != 0 || is[2].Restarts != 0 {
		t.Fatalf("other instances restarted: %+v", is)
	}
	if code, _ := control(t, h, "/admin/host/instances/3/restart"); code != http.StatusNotFound {
		t.Fatalf("restart of a missing instance: %d", code)
	}
}

// eventually fails t unless cond holds within d.
func eventually(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	testkit.Eventually(t, d, func() error {
		if !cond() {
			return errors.New("waiting for " + what)
		}
		return nil
	})
}

// TestControlFollowsAdminRules: the control API answers only loopback
// Host names (DNS rebinding), refuses browser requests (Origin) and
// non-JSON POSTs (no CORS preflight), and the wrong method; nothing is
// stopped by a refused call.
func TestControlFollowsAdminRules(t *testing.T) {
	t.Parallel()
	h := start(t, lambdahost.Config{Functions: []lambdahost.Function{{Name: "echo", Timeout: 5 * time.Second}}})
	addr := strings.TrimPrefix(h.URL(), "http://")
	stop := func(host, hdr string) string {
		return "POST /admin/host/functions/echo/stop HTTP/1.1\r\nHost: " + host + "\r\n" + hdr + "Content-Length: 2\r\nConnection: close\r\n\r\n{}"
	}
	for name, c := range map[string]struct {
		req  string
		want int
	}{
		"foreign host":          {stop("evil.example", "Content-Type: application/json\r\n"), 403},
		"foreign host, port":    {stop("evil.example:7071", "Content-Type: application/json\r\n"), 403},
		"private address":       {stop("10.0.0.1", "Content-Type: application/json\r\n"), 403},
		"origin":                {stop("127.0.0.1", "Content-Type: application/json\r\nOrigin: http://evil.example\r\n"), 403},
		"form post":             {stop("localhost", "Content-Type: application/x-www-form-urlencoded\r\n"), 415},
		"text post":             {stop("localhost", "Content-Type: text/plain\r\n"), 415},
		"no content type":       {stop("localhost", ""), 415},
		"get":                   {"GET /admin/host/functions/echo/stop HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 405},
		"status, foreign host":  {"GET /admin/host/status HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n", 403},
		"status, origin":        {"GET /admin/host/status HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n", 403},
		"status, post":          {"POST /admin/host/status HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", 405},
		"unknown function":      {strings.Replace(stop("localhost", "Content-Type: application/json\r\n"), "/echo/", "/nope/", 1), 404},
		"unknown endpoint":      {strings.Replace(stop("localhost", "Content-Type: application/json\r\n"), "/stop", "/pause", 1), 404},
		"instance not a number": {"POST /admin/host/instances/x/restart HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", 400},
	} {
		if got := rawStatus(t, addr, c.req); got != c.want {
			t.Errorf("%s: %d, want %d", name, got, c.want)
		}
	}
	if f := status(t, h).Function("echo"); f.State != "running" {
		t.Fatalf("a refused call stopped the function: %+v", f)
	}
	for _, host := range []string{"localhost:1", "127.0.0.1", "[::1]:7071", "app.localhost"} {
		if got := rawStatus(t, addr, "GET /admin/host/status HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"); got != 200 {
			t.Errorf("status with Host %s: %d", host, got)
		}
	}
	if got := rawStatus(t, addr, stop("localhost", "Content-Type: application/json; charset=utf-8\r\n")); got != 204 {
		t.Fatalf("a well-formed stop: %d", got)
	}
}

func TestControlRoutesCannotShadowTheControlAPI(t *testing.T) {
	t.Parallel()
	_, err := lambdahost.New(lambdahost.Config{Bootstrap: "x", Functions: []lambdahost.Function{{Name: "a"}},
		Routes: []lambdahost.Route{{Method: "GET", Path: "/admin/host/status", Function: "a"}}})
	if !errors.Is(err, lambdahost.ErrConfig) {
		t.Fatalf("%v, want ErrConfig", err)
	}
}

// rawStatus is testkit.RawHTTP's status code.
func rawStatus(t *testing.T, addr, req string) int {
	t.Helper()
	code, _ := testkit.RawHTTP(t, addr, req)
	return code
}
