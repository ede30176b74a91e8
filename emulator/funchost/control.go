package funchost

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/orderflow/orderflow/internal/hostapi"
)

// The host's control API, for dashboards: POST
// /admin/host/functions/{name}/stop|start and POST
// /admin/host/instances/{i}/restart; GET /admin/host/status (status.go)
// reports the instances and functions too. The Azure host has no such API (its
// portal toggles AzureWebJobs.<fn>.Disabled and restarts the app); here a
// function is stopped and started in place, its messages waiting in the
// queue meanwhile. The admin rules apply as to every admin call (adminRequest:
// no Origin, a JSON POST, the master key when keys are enforced).

// InstanceStatus describes one handler instance.
type InstanceStatus = hostapi.InstanceStatus

// FunctionStatus describes one function.
type FunctionStatus = hostapi.FunctionStatus

// control holds the runtime state behind the API: functions stopped by
// hand, triggers started again after a stop, and invocation counts.
type control struct {
	mu       sync.Mutex
	stopped  map[string]bool
	replaced map[string]Trigger // triggers created by StartFunction
	invoked  map[string]int64
	failed   map[string]int64
	restarts map[int]int64
}

func newControl() *control {
	return &control{stopped: map[string]bool{}, replaced: map[string]Trigger{}, invoked: map[string]int64{},
		failed: map[string]int64{}, restarts: map[int]int64{}}
}

func (c *control) count(fn string, err error) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invoked[fn]++
	if err != nil {
		c.failed[fn]++
	}
}

func (c *control) restarted(i int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.restarts[i]++
	c.mu.Unlock()
}

// current returns the trigger running fn (the one StartFunction created
// after a stop, else t) and whether fn is stopped.
func (c *control) current(fn string, t Trigger) (Trigger, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.replaced[fn]; ok {
		t = r
	}
	return t, c.stopped[fn]
}

// controlStatus adds the instances and functions to a status report.
func (h *Host) controlStatus(st *HostStatus) {
	h.sup.mu.Lock()
	for i, p := range h.sup.current {
		is := InstanceStatus{Index: i, State: "down"}
		if p != nil {
			is.State = "starting"
			if p.ready {
				is.State = "ready"
			}
			if p.cmd != nil && p.cmd.Process != nil {
				is.PID = p.cmd.Process.Pid
			}
		}
		st.Instances = append(st.Instances, is)
	}
	h.sup.mu.Unlock()
	c := h.ctl
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range st.Instances {
		st.Instances[i].Restarts = c.restarts[i]
	}
	for _, fn := range h.app.Functions {
		fs := FunctionStatus{Name: fn.Name, Invocations: c.invoked[fn.Name], Failures: c.failed[fn.Name]}
		if fn.LoadError == nil {
			fs.Trigger = fn.Trigger().Type
		}
		_, loaded := h.triggers[fn.Name]
		switch {
		case fn.Disabled:
			fs.State = "disabled"
		case !loaded:
			fs.State = "failed"
		case c.stopped[fn.Name]:
			fs.State = "stopped"
		default:
			fs.State = "running"
		}
		st.Functions = append(st.Functions, fs)
	}
}

// StopFunction stops a running function's trigger; queue messages wait in
// the broker until StartFunction.
func (h *Host) StopFunction(ctx context.Context, name string) error {
	fn, t := h.function(name)
	if fn == nil {
		return fmt.Errorf("%w: no loaded function named %s", ErrConfig, name)
	}
	c := h.ctl
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped[fn.Name] {
		return nil
	}
	if r, ok := c.replaced[fn.Name]; ok {
		t = r
	}
	if err := t.Stop(ctx); err != nil {
		return fmt.Errorf("stopping %s: %w", fn.Name, err)
	}
	c.stopped[fn.Name] = true
	h.log.Info("function stopped by the control API", "function", fn.Name)
	return nil
}

// StartFunction starts a function stopped with StopFunction, with a fresh
// trigger.
func (h *Host) StartFunction(ctx context.Context, name string) error {
	fn, _ := h.function(name)
	if fn == nil {
		return fmt.Errorf("%w: no loaded function named %s", ErrConfig, name)
	}
	c := h.ctl
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped[fn.Name] {
		return nil
	}
	b := fn.Trigger()
	factory, ok := lookupTrigger(b.Type)
	if !ok {
		return fmt.Errorf("%w: no extension handles %s", ErrConfig, b.Type)
	}
	t, err := factory(h, fn, b)
	if err == nil {
		err = t.Start(ctx, h.disp)
	}
	if err != nil {
		return fmt.Errorf("starting %s: %w", fn.Name, err)
	}
	c.replaced[fn.Name] = t
	delete(c.stopped, fn.Name)
	h.log.Info("function started by the control API", "function", fn.Name)
	return nil
}

// RestartInstance kills handler instance i; the supervisor starts a fresh
// process.
func (h *Host) RestartInstance(i int) error {
	h.sup.mu.Lock()
	if i < 0 || i >= len(h.sup.current) || h.sup.current[i] == nil {
		h.sup.mu.Unlock()
		return fmt.Errorf("%w: no running instance %d", ErrConfig, i)
	}
	p := h.sup.current[i]
	h.sup.mu.Unlock()
	h.sup.restartByOperator(p)
	return nil
}

// stopReplaced stops the triggers StartFunction created (host shutdown).
func (c *control) stopReplaced(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for name, t := range c.replaced {
		if err := t.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping trigger of %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// serveControl answers the control API; false if the path is not one of it.
func (f *front) serveControl(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, hostapi.Prefix) {
		return false
	}
	call, err := hostapi.Call(r.URL.Path)
	switch {
	case errors.Is(err, hostapi.ErrBadInstance):
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return true
	case err != nil:
		writeProblem(w, r, http.StatusNotFound, err.Error())
		return true
	}
	if !allowMethod(w, r, http.MethodPost) || !f.adminRequest(w, r) {
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	err = call(ctx, f.host)
	switch {
	case errors.Is(err, ErrConfig):
		writeProblem(w, r, http.StatusNotFound, err.Error())
	case err != nil:
		writeProblem(w, r, http.StatusInternalServerError, err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	return true
}

// allowMethod answers 405 unless r uses method.
func allowMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeProblem(w, r, http.StatusMethodNotAllowed, "use "+method)
	return false
}
