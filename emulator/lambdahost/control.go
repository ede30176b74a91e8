package lambdahost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/orderflow/orderflow/internal/hostapi"
	"github.com/orderflow/orderflow/internal/loopback"
)

// The host's control API, the same as the local Functions host's so that
// the dashboard drives either (internal/hostapi): GET /admin/host/status,
// POST /admin/host/functions/{name}/stop|start and POST
// /admin/host/instances/{i}/restart. Lambda has no such API; stopping a
// function here is what setting its reserved concurrency to 0 does on AWS,
// minus the retries: its event source mappings and schedules stop
// delivering (queue messages wait in the broker), and its HTTP routes
// and Invoke answer as a throttled function does (429,
// TooManyRequestsException) until it is started again. The control paths
// are served on the HTTP front and take precedence over routes.

// Version is reported in the status.
const Version = "lambdahost"

// ErrUnknownInstance means a restart named no execution environment.
var ErrUnknownInstance = errors.New("lambdahost: unknown instance")

// ThrottledError is what invoking a stopped function returns: Lambda's
// answer to an invocation of a function whose reserved concurrency is 0.
type ThrottledError struct {
	// Function is the function's name.
	Function string
}

func (e *ThrottledError) Error() string {
	return "TooManyRequestsException: Rate Exceeded. (ReservedFunctionConcurrentInvocationLimitExceeded: " + e.Function + " is stopped)"
}

// Unwrap returns ErrThrottled.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// sources are the goroutines delivering a function's events (queue
// pollers, schedules), run under one context so a stop ends them together.
type sources struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// counts are a function's invocation counters for the status.
type counts struct {
	mu          sync.Mutex
	invocations int64
	failures    int64
}

func (c *counts) add(err error) {
	c.mu.Lock()
	c.invocations++
	if err != nil {
		c.failures++
	}
	c.mu.Unlock()
}

// startSources starts fn's queue pollers and schedules. Callers hold h.mu
// or are Start.
func (h *Host) startSources(fn *function) {
	ctx, cancel := context.WithCancel(h.runCtx)
	src := &sources{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	for _, p := range fn.pollers {
		wg.Go(func() { p.run(ctx) })
	}
	for _, s := range h.cfg.Schedules {
		if s.Function == fn.cfg.Name {
			wg.Go(func() { h.schedule(ctx, s) })
		}
	}
	h.wg.Go(func() { wg.Wait(); close(src.done) })
	fn.src = src
}

// StopFunction stops delivering events to a function: its queue pollers
// hand their unprocessed messages back to the broker and stop, its
// schedules pause, and its routes and Invoke answer as a throttled function
// does. An invocation in progress runs to its end; StopFunction waits for
// it (bounded by ctx).
func (h *Host) StopFunction(ctx context.Context, name string) error {
	fn, ok := h.funcs[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownFunction, name)
	}
	h.mu.Lock()
	if !h.started || h.stopped {
		h.mu.Unlock()
		return ErrStopped
	}
	if fn.stopped.Load() {
		h.mu.Unlock()
		return nil
	}
	fn.stopped.Store(true)
	src := fn.src
	src.cancel()
	h.mu.Unlock()
	h.cfg.Logger.Info("function stopped by the control API", "function", name)
	select {
	case <-src.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping %s: its invocation in progress is still running: %w", name, ctx.Err())
	}
}

// StartFunction starts delivering events to a function stopped with
// StopFunction again.
func (h *Host) StartFunction(_ context.Context, name string) error {
	fn, ok := h.funcs[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownFunction, name)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.started || h.stopped {
		return ErrStopped
	}
	if !fn.stopped.Load() {
		return nil
	}
	h.startSources(fn)
	fn.stopped.Store(false)
	h.cfg.Logger.Info("function started by the control API", "function", name)
	return nil
}

// instances lists every execution environment in the order of the
// functions and their indexes: the numbering of the control API.
func (h *Host) instances() []*environment {
	var envs []*environment
	for _, f := range h.cfg.Functions {
		envs = append(envs, h.funcs[f.Name].envs...)
	}
	return envs
}

// RestartInstance kills the runtime process of execution environment i (as
// numbered in the status); a fresh one starts and initialises. Its
// invocation in progress, if any, fails with Runtime.ExitError.
func (h *Host) RestartInstance(i int) error {
	h.mu.Lock()
	envs := h.instances()
	h.mu.Unlock()
	if i < 0 || i >= len(envs) {
		return fmt.Errorf("%w: %d", ErrUnknownInstance, i)
	}
	e := envs[i]
	e.mu.Lock()
	running := e.cmd != nil && !e.down
	exited := e.exited
	e.mu.Unlock()
	// Whether the process ended is the exited channel's to say: cmd.Wait
	// writes ProcessState on another goroutine.
	select {
	case <-exited:
		running = false
	default:
	}
	if !running {
		return fmt.Errorf("%w: %d has no running process", ErrUnknownInstance, i)
	}
	h.cfg.Logger.Info("runtime restarted by the control API", "function", e.fn.cfg.Name, "instance", i)
	e.kill(false)
	return nil
}

// Status reports the functions, their triggers and counts, and the
// execution environments.
func (h *Host) Status() hostapi.HostStatus {
	st := hostapi.HostStatus{State: "Running", Version: Version, Healthy: true, Triggers: map[string]hostapi.TriggerHealth{}}
	h.mu.Lock()
	envs := h.instances()
	h.mu.Unlock()
	for _, f := range h.cfg.Functions {
		fn := h.funcs[f.Name]
		th := fn.health()
		if th.Status == "down" {
			st.Healthy = false
		}
		st.Triggers[f.Name] = th
		fs := hostapi.FunctionStatus{Name: f.Name, Trigger: th.Type, State: "running"}
		if fn.stopped.Load() {
			fs.State = "stopped"
		}
		fn.counts.mu.Lock()
		fs.Invocations, fs.Failures = fn.counts.invocations, fn.counts.failures
		fn.counts.mu.Unlock()
		st.Functions = append(st.Functions, fs)
	}
	for i, e := range envs {
		e.mu.Lock()
		is := hostapi.InstanceStatus{Index: i, Function: e.fn.cfg.Name, State: "down", Restarts: e.restarts}
		if e.cmd != nil && e.cmd.Process != nil && !e.down {
			is.PID, is.State = e.cmd.Process.Pid, "starting"
			if e.ready {
				is.State = "ready"
			}
		}
		e.mu.Unlock()
		st.Instances = append(st.Instances, is)
	}
	return st
}

// health is the function's trigger: its queue mappings' connections if it
// has any, else its schedule or routes, which have nothing to connect to.
func (fn *function) health() hostapi.TriggerHealth {
	th := hostapi.TriggerHealth{Type: fn.trigger, Status: "up", Since: fn.h.startedAt}
	for _, p := range fn.pollers {
		ph := p.health()
		if th.Status == "up" || ph.Status == "down" {
			th = ph
		}
	}
	if fn.stopped.Load() {
		th = hostapi.TriggerHealth{Type: th.Type, Status: "stopped", Since: th.Since}
	}
	return th
}

// serveAdmin answers the control API, after the checks of an admin call:
// a loopback Host (against DNS rebinding), no Origin, a JSON POST.
func (h *Host) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if !loopback.Allowed(r.Host, nil) {
		adminError(w, http.StatusForbidden, "the control API answers only loopback names (Host "+r.Host+")")
		return
	}
	if r.URL.Path == hostapi.StatusPath {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			adminError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		if code, reason := hostapi.Refusal(r); code != 0 {
			adminError(w, code, reason)
			return
		}
		st := h.Status()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !st.Healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(st)
		return
	}
	call, err := hostapi.Call(r.URL.Path)
	switch {
	case errors.Is(err, hostapi.ErrBadInstance):
		adminError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		adminError(w, http.StatusNotFound, err.Error())
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		adminError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	if code, reason := hostapi.Refusal(r); code != 0 {
		if code == http.StatusUnsupportedMediaType {
			w.Header().Set("Accept-Post", "application/json")
		}
		adminError(w, code, reason)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	err = call(ctx, h)
	switch {
	case errors.Is(err, ErrUnknownFunction) || errors.Is(err, ErrUnknownInstance):
		adminError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrStopped):
		adminError(w, http.StatusServiceUnavailable, err.Error())
	case err != nil:
		adminError(w, http.StatusInternalServerError, err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// adminError answers a control call with a problem document, as the
// Functions host does.
func adminError(w http.ResponseWriter, code int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(code), "status": code, "detail": detail})
}
