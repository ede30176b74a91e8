// Command flakylambda wraps the Lambda bootstrap for fault-injection
// tests, as testdata/flaky wraps the custom handler: it serves the Lambda
// Runtime API to the real bootstrap (FLAKY_HANDLER), relaying to the
// host's, and for the functions in FLAKY_FUNCTIONS fails the first
// FLAKY_FAIL_FIRST invocations of each message (reported to the host as
// function errors, the bootstrap never sees them), or, once
// (FLAKY_KILL_ONCE marker file), lets the bootstrap handle an invocation
// and dies before its answer reaches the host. Every intercepted
// invocation is logged as a JSON line to FLAKY_LOG.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/orderflow/orderflow/functions/apptest/attempt"
)

// Attempt is one logged invocation.
type Attempt = attempt.Attempt

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "flakylambda:", err)
		os.Exit(1)
	}
}

type flaky struct {
	upstream  string
	function  string
	flaky     bool
	failFirst int
	killOnce  string
	logPath   string

	mu       sync.Mutex
	attempts map[string]int
	killing  map[string]Attempt // request id -> attempt whose answer is never relayed
}

func run() error {
	f := &flaky{upstream: "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API"), function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME"),
		killOnce: os.Getenv("FLAKY_KILL_ONCE"), logPath: os.Getenv("FLAKY_LOG"), attempts: map[string]int{}, killing: map[string]Attempt{}}
	f.flaky = slices.Contains(strings.Split(os.Getenv("FLAKY_FUNCTIONS"), ","), f.function)
	f.failFirst, _ = strconv.Atoi(os.Getenv("FLAKY_FAIL_FIRST"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(ln, f) }()
	cmd := exec.Command(os.Getenv("FLAKY_HANDLER"))
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		return err
	}
	return nil
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/invocation/next") {
		f.next(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/response") {
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/2018-06-01/runtime/invocation/"), "/response")
		f.mu.Lock()
		a, kill := f.killing[id]
		f.mu.Unlock()
		if kill {
			f.log(a)
			_ = os.WriteFile(f.killOnce, []byte(a.MessageID), 0o644)
			// The whole process group: this wrapper and the bootstrap.
			_ = syscall.Kill(0, syscall.SIGKILL)
			return
		}
	}
	f.relay(w, r.Method, r.URL.Path, r.Header, body)
}

func (f *flaky) relay(w http.ResponseWriter, method, path string, h http.Header, body []byte) {
	req, err := http.NewRequest(method, f.upstream+path, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = h.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	for k, vs := range res.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}

// next fetches invocations from the host until one is for the bootstrap.
func (f *flaky) next(w http.ResponseWriter, r *http.Request) {
	for {
		res, err := http.Get(f.upstream + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		id := res.Header.Get("Lambda-Runtime-Aws-Request-Id")
		if f.flaky && res.StatusCode == http.StatusOK {
			a := f.describe(body)
			f.mu.Lock()
			f.attempts[a.MessageID]++
			n := f.attempts[a.MessageID]
			f.mu.Unlock()
			if n <= f.failFirst {
				a.Outcome = "injected-failure"
				f.log(a)
				res, err := http.Post(f.upstream+"/2018-06-01/runtime/invocation/"+id+"/error", "application/json",
					strings.NewReader(`{"errorMessage":"flakylambda: injected failure","errorType":"Flaky"}`))
				if err == nil {
					res.Body.Close()
				}
				continue
			}
			if _, err := os.Stat(f.killOnce); f.killOnce != "" && os.IsNotExist(err) {
				a.Outcome = "handled-then-killed"
				f.mu.Lock()
				f.killing[id] = a
				f.mu.Unlock()
			} else {
				a.Outcome = "forwarded"
				f.log(a)
			}
		}
		for k, vs := range res.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
		return
	}
}

// describe reads the first message of an Amazon MQ batch.
func (f *flaky) describe(body []byte) Attempt {
	a := Attempt{Function: f.function}
	var ev struct {
		Queues map[string][]struct {
			Props struct {
				MessageID *string `json:"messageId"`
			} `json:"basicProperties"`
			Redelivered bool `json:"redelivered"`
		} `json:"rmqMessagesByQueue"`
	}
	if json.Unmarshal(body, &ev) == nil {
		for _, ms := range ev.Queues {
			if len(ms) > 0 {
				if ms[0].Props.MessageID != nil {
					a.MessageID = *ms[0].Props.MessageID
				}
				r := ms[0].Redelivered
				a.Redelivered = &r
			}
		}
	}
	return a
}

func (f *flaky) log(a Attempt) { attempt.Append(f.logPath, a) }
