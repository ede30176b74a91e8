package lambdahost_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/orderflow/orderflow/emulator/lambdahost"
	"github.com/orderflow/orderflow/internal/testkit"
)

// otelPassThrough is an OTEL_* variable TestMain sets in the host process.
const otelPassThrough = "OTEL_LAMBDAHOST_TEST"

// bootstrap is testdata/fn, built once by TestMain.
var bootstrap string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdahost-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bootstrap = filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, "./testdata/fn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building testdata/fn: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// Telemetry settings of the host process reach every runtime (make run
	// points them at the dashboard this way); the settings can override.
	for k, v := range map[string]string{otelPassThrough: "from-host-process", "OTEL_SERVICE_NAME": "overridden"} {
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func start(t *testing.T, cfg lambdahost.Config) *lambdahost.Host {
	t.Helper()
	out := &testkit.Buffer{}
	cfg.Bootstrap = bootstrap
	cfg.Stdout, cfg.Stderr = out, out
	cfg.Logger = slog.New(slog.NewTextHandler(out, nil))
	h, err := lambdahost.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if t.Failed() {
			t.Logf("host output:\n%s", out)
		}
	})
	return h
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

type echoed struct {
	Event      json.RawMessage   `json:"event"`
	RequestID  string            `json:"requestId"`
	ARN        string            `json:"arn"`
	DeadlineMs int64             `json:"deadlineMs"`
	Trace      string            `json:"trace"`
	PID        int               `json:"pid"`
	Env        map[string]string `json:"env"`
}

// TestRuntimeAPIServesTheUnmodifiedRuntime: an aws-lambda-go runtime gets
// the event, a request id, the deadline, the function ARN, the trace id and
// Lambda's environment, and its answer comes back.
func TestRuntimeAPIServesTheUnmodifiedRuntime(t *testing.T) {
	t.Parallel()
	h := start(t, lambdahost.Config{Region: "eu-west-1",
		Env:       map[string]string{"APP_SETTING": "from-host", "UNSET_ME": "", "OTEL_SERVICE_NAME": "from-settings"},
		Functions: []lambdahost.Function{{Name: "echo", Timeout: 7 * time.Second, MemoryMB: 256, Env: map[string]string{"APP_SETTING": "from-function", "UNSET_ME": "x"}}}})
	before := time.Now()
	out, err := h.Invoke(ctx(t), "echo", []byte(`{"hello":"world"}`))
	if err != nil {
		t.Fatal(err)
	}
	var e echoed
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if _, err := uuid.Parse(e.RequestID); err != nil || string(e.Event) != `{"hello":"world"}` {
		t.Fatalf("request id %q, event %s", e.RequestID, e.Event)
	}
	if e.ARN != "arn:aws:lambda:eu-west-1:000000000000:function:echo" || !strings.HasPrefix(e.Trace, "Root=1-") {
		t.Fatalf("arn %q trace %q", e.ARN, e.Trace)
	}
	dl := time.UnixMilli(e.DeadlineMs)
	if dl.Before(before.Add(6*time.Second)) || dl.After(time.Now().Add(7*time.Second)) {
		t.Fatalf("deadline %s is not about 7s after the invocation", dl)
	}
	want := map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "echo", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_REGION": "eu-west-1",
		"APP_SETTING": "from-host", "UNSET_ME": "", "_HANDLER": "bootstrap", otelPassThrough: "from-host-process", "OTEL_SERVICE_NAME": "from-settings"}
	for k, v := range want {
		if e.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, e.Env[k], v)
		}
	}
	if _, err := h.Invoke(ctx(t), "nope", nil); !errors.Is(err, lambdahost.ErrUnknownFunction) {
		t.Fatalf("unknown function: %v", err)
	}
}

func TestFunctionErrorIsReported(t *testing.T) {
	t.Parallel()
	h := start(t, lambdahost.Config{Functions: []lambdahost.Function{{Name: "fail"}}})
	_, err := h.Invoke(ctx(t), "fail", []byte(`{}`))
	var fe *lambdahost.FunctionError
	if !errors.As(err, &fe) || fe.Message != "boom" || fe.Type != "errorString" && fe.Type != "*errors.errorString" {
		t.Fatalf("error %#v", err)
	}
}

// TestTimeoutKillsAndRestartsTheRuntime: an invocation past the timeout
// fails with ErrTimeout, its process is killed, and a fresh one serves
// the next invocation.
func TestTimeoutKillsAndRestartsTheRuntime(t *testing.T) {
	t.Parallel()
	h := start(t, lambdahost.Config{Functions: []lambdahost.Function{{Name: "sleep", Timeout: time.Second}}})
	out, err := h.Invoke(ctx(t), "sleep", []byte(`"fast"`))
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = h.Invoke(ctx(t), "sleep", []byte(`"slow"`))
	if !errors.Is(err, lambdahost.ErrTimeout) || !strings.Contains(err.Error(), "Task timed out after 1.00 seconds") {
		t.Fatalf("slow invocation: %v", err)
	}
	if d := time.Since(began); d < time.Second || d > 3*time.Second {
		t.Fatalf("timed out after %s", d)
	}
	out2, err := h.Invoke(ctx(t), "sleep", []byte(`"fast"`))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) == string(out2) {
		t.Fatalf("the same process (pid %s) served after the timeout", out)
	}
}

func TestCrashedRuntimeIsRestarted(t *testing.T) {
	t.Parallel()
	h := start(t, lambdahost.Config{Functions: []lambdahost.Function{{Name: "crash", Timeout: 5 * time.Second}}})
	_, err := h.Invoke(ctx(t), "crash", []byte(`"crash"`))
	var fe *lambdahost.FunctionError
	if !errors.Is(err, lambdahost.ErrRuntimeExited) || !errors.As(err, &fe) || fe.Type != "Runtime.ExitError" {
		t.Fatalf("crash: %v", err)
	}
	if _, err := h.Invoke(ctx(t), "crash", []byte(`"ok"`)); err != nil {
		t.Fatalf("after the crash: %v", err)
	}
}

// TestConcurrencyRunsOneInvocationPerRuntime: two runtime processes serve
// two invocations at once; a third waits for a free one.
func TestConcurrencyRunsOneInvocationPerRuntime(t *testing.T) {
	t.Parallel()
	h := start(t, lambdahost.Config{Functions: []lambdahost.Function{{Name: "slow", Timeout: 5 * time.Second, Concurrency: 2}}})
	// Warm both runtimes.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _, _ = h.Invoke(ctx(t), "slow", []byte(`1`)) })
	}
	wg.Wait()
	pids := make(chan int, 3)
	began := time.Now()
	for range 3 {
		wg.Go(func() {
			out, err := h.Invoke(ctx(t), "slow", []byte(`1`))
			if err != nil {
				t.Error(err)
				return
			}
			var e echoed
			_ = json.Unmarshal(out, &e)
			pids <- e.PID
		})
	}
	wg.Wait()
	close(pids)
	d := time.Since(began)
	seen := map[int]bool{}
	for p := range pids {
		seen[p] = true
	}
	if len(seen) != 2 {
		t.Fatalf("%d distinct runtime processes served, want 2", len(seen))
	}
	if d < 550*time.Millisecond || d > 2*time.Second {
		t.Fatalf("three 300ms invocations on two runtimes took %s, want about 600ms", d)
	}
}

// TestHTTPRequestsBecomePayloadV2Events drives the HTTP front.
func TestHTTPRequestsBecomePayloadV2Events(t *testing.T) {
	t.Parallel()
	h := start(t, lambdahost.Config{Functions: []lambdahost.Function{{Name: "http", Timeout: 5 * time.Second}},
		Routes: []lambdahost.Route{{Method: "PUT", Path: "/files/{name}", Function: "http"}}})
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodPut, h.URL()+"/files/a%20b?x=1&x=2", bytes.NewReader([]byte{0, 1, 0xff}))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Add("Accept", "text/plain")
	req.Header.Add("Accept", "application/json")
	req.Header.Set("Cookie", "s=1; t=2")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 || res.Header.Get("X-Test") != "yes" || len(res.Cookies()) != 2 {
		t.Fatalf("%d %v %s", res.StatusCode, res.Header, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"routeKey": "PUT /files/{name}", "rawPath": "/files/a%20b", "query": "x=1&x=2", "body": "binary:0001ff",
		"accept": "text/plain,application/json", "method": "PUT"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if fmt.Sprint(got["cookies"]) != "[s=1 t=2]" || fmt.Sprint(got["pathParameters"]) != "map[name:a b]" {
		t.Errorf("cookies %v, path parameters %v", got["cookies"], got["pathParameters"])
	}
	res, err = http.Get(h.URL() + "/other")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 404 || strings.TrimSpace(string(body)) != `{"message":"Not Found"}` {
		t.Fatalf("unrouted: %d %s", res.StatusCode, body)
	}
}

func TestConfigIsValidated(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]lambdahost.Config{
		"no bootstrap":   {Functions: []lambdahost.Function{{Name: "a"}}},
		"no functions":   {Bootstrap: "x"},
		"route":          {Bootstrap: "x", Functions: []lambdahost.Function{{Name: "a"}}, Routes: []lambdahost.Route{{Method: "GET", Path: "/", Function: "b"}}},
		"queue no url":   {Bootstrap: "x", Functions: []lambdahost.Function{{Name: "a"}}, Queues: []lambdahost.Queue{{Function: "a", Queue: "q"}}},
		"batch too big":  {Bootstrap: "x", Functions: []lambdahost.Function{{Name: "a"}}, Queues: []lambdahost.Queue{{Function: "a", Queue: "q", BatchSize: 20000}}, RabbitMQURL: "amqp://x"},
		"fast schedule":  {Bootstrap: "x", Functions: []lambdahost.Function{{Name: "a"}}, Schedules: []lambdahost.Schedule{{Function: "a", Every: time.Millisecond}}},
		"duplicate name": {Bootstrap: "x", Functions: []lambdahost.Function{{Name: "a"}, {Name: "a"}}},
	} {
		if _, err := lambdahost.New(cfg); !errors.Is(err, lambdahost.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

func randomName() string { return strings.ToLower(rand.Text()[:10]) }
