package funchost

import (
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/orderflow/orderflow/internal/hostapi"
)

// The status shape is shared with the Lambda host and the dashboard
// (internal/hostapi). A session trigger stays "starting" until the broker
// first answers an accept-next-session, up to a minute; that is not down.

// TriggerHealth is the state of one trigger's connection to its source.
type TriggerHealth = hostapi.TriggerHealth

// HostStatus is the body of GET /admin/host/status.
type HostStatus = hostapi.HostStatus

// healthReporter is implemented by triggers with a connection to watch.
type healthReporter interface{ health() TriggerHealth }

// connState tracks a trigger's connection for its health report.
type connState struct {
	kind string

	mu    sync.Mutex
	state TriggerHealth
	down  map[int]error // by consumer, for triggers with several
}

func newConnState(kind string) *connState {
	return &connState{kind: kind, state: TriggerHealth{Type: kind, Status: "starting", Since: time.Now()}, down: map[int]error{}}
}

// set records consumer n as connected (err nil) or failing.
func (c *connState) set(n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		delete(c.down, n)
	} else {
		c.down[n] = err
	}
	status, msg := "up", ""
	for _, e := range c.down {
		status, msg = "down", e.Error()
		break
	}
	if status != c.state.Status || msg != c.state.Error {
		c.state = TriggerHealth{Type: c.kind, Status: status, Error: msg, Since: time.Now()}
	}
}

func (c *connState) health() TriggerHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Status reports the host's own health: whether it still runs the handler
// and the connection of every trigger to its broker; and, for the control
// API, its instances and functions.
func (h *Host) Status() HostStatus {
	st := HostStatus{State: "Running", Version: HostVersion, Healthy: true, Triggers: map[string]TriggerHealth{}}
	if err := h.Err(); err != nil {
		st.State, st.Healthy, st.Error = "Error", false, err.Error()
	}
	names := make([]string, 0, len(h.triggers))
	for name := range h.triggers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t, stopped := h.ctl.current(name, h.triggers[name])
		th := TriggerHealth{Type: h.app.function(name).Trigger().Type, Status: "up"}
		if r, ok := t.(healthReporter); ok {
			th = r.health()
		}
		if stopped {
			th = TriggerHealth{Type: th.Type, Status: "stopped"}
		}
		if th.Status == "down" {
			st.Healthy = false
		}
		st.Triggers[name] = th
	}
	h.controlStatus(&st)
	return st
}

// serveStatus is GET /admin/host/status: 200 when healthy, 503 otherwise,
// the HostStatus either way. Admin rules apply (no Origin; the master key
// when keys are enforced).
func (f *front) serveStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, r, http.StatusMethodNotAllowed, "use GET")
		return
	}
	if !f.adminRequest(w, r) {
		return
	}
	st := f.host.Status()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !st.Healthy {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(st)
}
