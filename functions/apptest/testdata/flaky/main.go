// Command flaky is a custom-handler executable for the end-to-end tests: it
// runs the real handler as a child process and proxies every request to it,
// injecting failures into queue invocations so the tests can watch the
// brokers' retry and dead-letter behaviour through the real host.
//
// Environment:
//
//	FLAKY_HANDLER    path of the real handler binary (required)
//	FLAKY_FUNCTIONS  comma-separated function names to intercept (e.g. ProcessOrder,ProcessOrderRabbitMQ)
//	FLAKY_FAIL_FIRST fail the first N invocations of each message with 500
//	FLAKY_KILL_ONCE  a marker file path: the first intercepted invocation is
//	                 handled by the real handler, then this process and its
//	                 child are SIGKILLed before the host gets the answer (once:
//	                 the marker file records that it happened)
//	FLAKY_LOG        file that gets one JSON line per intercepted invocation
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/functions/apptest/attempt"
)

// Attempt is one logged invocation.
type Attempt = attempt.Attempt

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "flaky:", err)
		os.Exit(1)
	}
}

func run() error {
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	inner, err := freePort()
	if err != nil {
		return err
	}
	child := exec.Command(os.Getenv("FLAKY_HANDLER"))
	child.Env = append(os.Environ(), "FUNCTIONS_CUSTOMHANDLER_PORT="+inner, "FUNCTIONS_HTTPWORKER_PORT="+inner)
	child.Stdout, child.Stderr = os.Stdout, os.Stderr
	// The child dies with us, as the real handler would if the host's
	// process were killed.
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := child.Start(); err != nil {
		return fmt.Errorf("starting real handler: %w", err)
	}
	target, _ := url.Parse("http://127.0.0.1:" + inner)
	if err := waitReady(target.String(), 30*time.Second); err != nil {
		return err
	}
	f := &flaky{
		proxy:     httputil.NewSingleHostReverseProxy(target),
		target:    target.String(),
		functions: map[string]bool{},
		attempts:  map[string]int{},
		killOnce:  os.Getenv("FLAKY_KILL_ONCE"),
		logPath:   os.Getenv("FLAKY_LOG"),
	}
	f.failFirst, _ = strconv.Atoi(os.Getenv("FLAKY_FAIL_FIRST"))
	for _, fn := range strings.Split(os.Getenv("FLAKY_FUNCTIONS"), ",") {
		if fn != "" {
			f.functions["/"+fn] = true
		}
	}
	// Listen only once the real handler is ready: the host takes any answer
	// on GET / as readiness.
	go func() { _ = child.Wait(); os.Exit(1) }()
	return http.ListenAndServe("127.0.0.1:"+port, f)
}

type flaky struct {
	proxy     *httputil.ReverseProxy
	target    string
	functions map[string]bool
	failFirst int
	killOnce  string
	logPath   string

	mu       sync.Mutex
	attempts map[string]int
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !f.functions[r.URL.Path] {
		f.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a := describe(r.URL.Path[1:], body)
	f.mu.Lock()
	f.attempts[a.MessageID]++
	n := f.attempts[a.MessageID]
	f.mu.Unlock()

	if n <= f.failFirst {
		a.Outcome = "injected-failure"
		f.log(a)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"Outputs":{},"Logs":["flaky: injected failure"],"ReturnValue":null}`))
		return
	}
	if f.killOnce != "" {
		if _, err := os.Stat(f.killOnce); os.IsNotExist(err) {
			resp, err := http.Post(f.target+r.URL.Path, "application/json", bytes.NewReader(body))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			a.Outcome = "handled-then-killed"
			f.log(a)
			_ = os.WriteFile(f.killOnce, []byte(a.MessageID), 0o644)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			return
		}
	}
	a.Outcome = "forwarded"
	f.log(a)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	f.proxy.ServeHTTP(w, r)
}

func (f *flaky) log(a Attempt) { attempt.Append(f.logPath, a) }

// describe reads the message id and delivery count from the invocation's
// Metadata as the host sends them (strings double-encoded, docs/functions-protocol.md
// 2.4).
func describe(fn string, body []byte) Attempt {
	var inv struct {
		Metadata struct {
			MessageID       json.RawMessage `json:"MessageId"`
			DeliveryCount   json.RawMessage `json:"DeliveryCount"`
			BasicProperties struct {
				MessageID string         `json:"MessageId"`
				Headers   map[string]any `json:"Headers"`
			} `json:"BasicProperties"`
		} `json:"Metadata"`
	}
	_ = json.Unmarshal(body, &inv)
	a := Attempt{Function: fn, MessageID: unquote(inv.Metadata.MessageID), DeliveryCount: unquote(inv.Metadata.DeliveryCount)}
	if a.MessageID == "" {
		a.MessageID = inv.Metadata.BasicProperties.MessageID
	}
	if v, ok := inv.Metadata.BasicProperties.Headers["x-ms-rabbitmq-requeuecount"].(float64); ok {
		n := int64(v)
		a.RequeueCount = &n
	}
	return a
}

// unquote undoes the host's string encoding: "\"m-1\"" → m-1, "3" → 3.
func unquote(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	var inner string
	if json.Unmarshal([]byte(s), &inner) == nil {
		return inner
	}
	return s
}

func waitReady(base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("real handler not ready within %s", limit)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
