package lambdahost

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// Runtime API paths (version 2018-06-01).
const (
	runtimePrefix = "/2018-06-01/runtime"
	// maxResponseBytes is Lambda's synchronous response payload limit.
	maxResponseBytes = 6 << 20
)

// invocation is one pending invoke.
type invocation struct {
	id      string
	payload []byte
	trace   string
	// started carries the deadline from the environment that took the
	// invocation (the timeout runs from hand-over, not from enqueueing).
	started chan time.Time // buffered 1
	done    chan result    // buffered 1; the first result wins
}

type result struct {
	payload []byte
	err     error
}

func (inv *invocation) finish(r result) {
	select {
	case inv.done <- r:
	default:
	}
}

// function is one configured function and its execution environments.
type function struct {
	h    *Host
	cfg  Function
	arn  string
	next chan *invocation // unbuffered: an invocation goes to an idle runtime
	envs []*environment

	trigger string    // the status's trigger type
	pollers []*poller // its queue mappings
	// src runs its pollers and schedules (Host.mu); stopped is set by
	// StopFunction.
	src     *sources
	stopped atomic.Bool
	counts  counts
}

// environment is one runtime process with its own Runtime API endpoint.
type environment struct {
	fn  *function
	idx int
	srv *http.Server
	ln  net.Listener

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process exits
	current *invocation
	// killed marks a process the host killed (timeout), so its exit is not
	// reported as a crash.
	killed bool
	// ready is set once the current process asks for its first
	// invocation (initialised); down once it exited and until the next
	// starts; restarts counts the processes started after the first.
	ready    bool
	down     bool
	restarts int64
}

func newEnvironment(fn *function, idx int) (*environment, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API listener for %s: %w", fn.cfg.Name, err)
	}
	e := &environment{fn: fn, idx: idx, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+runtimePrefix+"/invocation/next", e.next)
	mux.HandleFunc("POST "+runtimePrefix+"/invocation/{id}/response", e.response)
	mux.HandleFunc("POST "+runtimePrefix+"/invocation/{id}/error", e.invocationError)
	mux.HandleFunc("POST "+runtimePrefix+"/init/error", e.initError)
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	return e, nil
}

// runtimeAPIError is the Runtime API's error body.
type runtimeAPIError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

func writeAPIError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(runtimeAPIError{ErrorMessage: msg, ErrorType: typ})
}

// next blocks until an invocation is available and hands it over with the
// headers the runtime client needs.
func (e *environment) next(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.ready = true
	e.mu.Unlock()
	var inv *invocation
	select {
	case inv = <-e.fn.next:
	case <-r.Context().Done():
		return
	case <-e.fn.h.stopping:
		return
	}
	deadline := time.Now().Add(e.fn.cfg.Timeout)
	e.mu.Lock()
	e.current = inv
	e.mu.Unlock()
	inv.started <- deadline
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", e.fn.arn)
	h.Set("Lambda-Runtime-Trace-Id", inv.trace)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload)
}

// take returns the environment's current invocation if id names it.
func (e *environment) take(id string) *invocation {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.current == nil || e.current.id != id {
		return nil
	}
	inv := e.current
	e.current = nil
	return inv
}

func (e *environment) response(w http.ResponseWriter, r *http.Request) {
	inv := e.take(r.PathValue("id"))
	if inv == nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "no such invocation in progress")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxResponseBytes+1))
	if err != nil || len(body) > maxResponseBytes {
		inv.finish(result{err: &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: "response payload exceeds 6 MB"}})
		writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response payload exceeds 6 MB")
		return
	}
	inv.finish(result{payload: body})
	w.WriteHeader(http.StatusAccepted)
}

func (e *environment) invocationError(w http.ResponseWriter, r *http.Request) {
	inv := e.take(r.PathValue("id"))
	if inv == nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "no such invocation in progress")
		return
	}
	inv.finish(result{err: decodeFunctionError(r, "Unhandled")})
	w.WriteHeader(http.StatusAccepted)
}

func (e *environment) initError(w http.ResponseWriter, r *http.Request) {
	fe := decodeFunctionError(r, "Runtime.InitError")
	e.fn.h.cfg.Logger.Error("function init failed", "function", e.fn.cfg.Name, "errorType", fe.Type, "errorMessage", fe.Message)
	w.WriteHeader(http.StatusAccepted)
}

func decodeFunctionError(r *http.Request, fallback string) *FunctionError {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	fe := &FunctionError{}
	if json.Unmarshal(b, fe) != nil || (fe.Type == "" && fe.Message == "") {
		fe.Type, fe.Message = fallback, string(b)
	}
	if t := r.Header.Get("Lambda-Runtime-Function-Error-Type"); t != "" && fe.Type == "" {
		fe.Type = t
	}
	if fe.Type == "" {
		fe.Type = fallback
	}
	return fe
}

// run keeps a runtime process alive until the host stops: it starts the
// bootstrap, waits for it to exit, fails its in-flight invocation, and
// starts it again (after a short pause if it died at once).
func (e *environment) run() {
	defer e.fn.h.wg.Done()
	backoff := 100 * time.Millisecond
	for first := true; ; first = false {
		select {
		case <-e.fn.h.stopping:
			return
		default:
		}
		started := time.Now()
		if !first {
			e.mu.Lock()
			e.restarts++
			e.mu.Unlock()
			e.fn.h.tel.restarted(e.fn.cfg.Name, e.idx)
		}
		err := e.start()
		if err == nil {
			select {
			case <-e.exited:
			case <-e.fn.h.stopping:
				e.kill(false)
				<-e.exited
			}
		} else {
			e.fn.h.cfg.Logger.Error("starting runtime", "function", e.fn.cfg.Name, "err", err)
		}
		e.mu.Lock()
		inv, killed := e.current, e.killed
		e.current, e.killed, e.down = nil, false, true
		e.mu.Unlock()
		if inv != nil && !killed {
			inv.finish(result{err: &FunctionError{Type: "Runtime.ExitError", Message: "RequestId: " + inv.id + " Error: Runtime exited", Err: ErrRuntimeExited}})
		}
		if time.Since(started) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-e.fn.h.stopping:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (e *environment) start() error {
	h := e.fn.h
	cmd := exec.Command(h.cfg.Bootstrap)
	cmd.Dir = filepath.Dir(h.cfg.Bootstrap)
	cmd.Env = e.environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	prefix := fmt.Sprintf("[%s#%d] ", e.fn.cfg.Name, e.idx)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", h.cfg.Bootstrap, err)
	}
	var copies sync.WaitGroup
	copies.Go(func() { copyLines(h.cfg.Stdout, stdout, prefix, &h.outMu) })
	copies.Go(func() { copyLines(h.cfg.Stderr, stderr, prefix, &h.outMu) })
	exited := make(chan struct{})
	e.mu.Lock()
	e.cmd, e.exited, e.ready, e.down = cmd, exited, false, false
	e.mu.Unlock()
	go func() {
		copies.Wait()
		_ = cmd.Wait()
		close(exited)
	}()
	return nil
}

// kill ends the process group of the current runtime (the bootstrap and
// anything it started); markKilled keeps its in-flight invocation's
// result, already reported by the caller.
func (e *environment) kill(markKilled bool) {
	e.mu.Lock()
	cmd := e.cmd
	if markKilled {
		e.killed = true
		e.current = nil
	}
	e.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// environ is what Lambda gives a runtime process: the host's PATH and
// locale, the host's OTEL_* telemetry settings (so that one collector, the
// dashboard of make run, receives every runtime's export; on AWS they are
// function settings), the settings, and the reserved AWS_LAMBDA_* variables.
func (e *environment) environ() []string {
	h := e.fn.h
	vars := map[string]string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			vars[k] = v
		}
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "OTEL_") {
			vars[k] = v
		}
	}
	// The host's settings win over the function's own (a template's), so
	// a local run can point a function elsewhere or unset a value (empty).
	for k, v := range e.fn.cfg.Env {
		vars[k] = v
	}
	for k, v := range h.cfg.Env {
		vars[k] = v
	}
	for k, v := range map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          e.ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME":        e.fn.cfg.Name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(e.fn.cfg.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + e.fn.cfg.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      fmt.Sprintf("local/%d", e.idx),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      h.cfg.Region,
		"AWS_DEFAULT_REGION":              h.cfg.Region,
		"AWS_EXECUTION_ENV":               "AWS_Lambda_provided.al2023",
		"LAMBDA_TASK_ROOT":                filepath.Dir(h.cfg.Bootstrap),
		"LAMBDA_RUNTIME_DIR":              filepath.Dir(h.cfg.Bootstrap),
		"_HANDLER":                        "bootstrap",
	} {
		vars[k] = v
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func copyLines(w io.Writer, r io.Reader, prefix string, mu *sync.Mutex) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		mu.Lock()
		_, _ = io.WriteString(w, prefix+sc.Text()+"\n")
		mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

// invoke runs one invocation on an idle environment of fn, waiting for one
// to be free until ctx ends; the function's timeout runs from hand-over.
func (fn *function) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	id := uuid.NewString()
	ctx, span := fn.h.tel.invokeSpan(ctx, fn, id)
	defer span.End()
	inv := &invocation{id: id, payload: payload, trace: xrayHeader(span.SpanContext()),
		started: make(chan time.Time, 1), done: make(chan result, 1)}
	select {
	case fn.next <- inv:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-fn.h.stopping:
		return nil, ErrStopped
	}
	deadline := <-inv.started
	began := time.Now()
	finished := func(err error) {
		fn.counts.add(err)
		fn.h.tel.recordInvocation(ctx, span, fn.cfg.Name, time.Since(began), err)
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case r := <-inv.done:
		finished(r.err)
		return r.payload, r.err
	case <-timer.C:
		fn.timedOut(inv)
		err := &FunctionError{Type: "Sandbox.Timedout",
			Message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.id, fn.cfg.Timeout.Seconds()), Err: ErrTimeout}
		finished(err)
		return nil, err
	case <-fn.h.stopping:
		return nil, ErrStopped
	}
}

// timedOut kills the environment running inv; run restarts it.
func (fn *function) timedOut(inv *invocation) {
	for _, e := range fn.envs {
		e.mu.Lock()
		mine := e.current == inv
		e.mu.Unlock()
		if mine {
			fn.h.cfg.Logger.Warn("function timed out; restarting its runtime", "function", fn.cfg.Name, "requestId", inv.id, "timeout", fn.cfg.Timeout)
			e.kill(true)
			return
		}
	}
}

// traceID is an X-Ray trace header for one invocation.
func traceID() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), hex.EncodeToString(b[:12]), hex.EncodeToString(b[12:]))
}
