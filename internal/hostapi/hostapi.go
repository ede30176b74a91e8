// Package hostapi is the control API the two local function hosts share
// with the dashboard: the body of GET /admin/host/status and the rules an
// admin call must follow. The Functions host (emulator/funchost) and the
// Lambda host (emulator/lambdahost) both serve it, so the dashboard's
// Resources page works on either target; this package imports neither.
package hostapi

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Paths of the control API, under a host's base URL.
const (
	// StatusPath is GET: the HostStatus.
	StatusPath = "/admin/host/status"
	// Prefix starts every control path: POST
	// functions/{name}/stop|start and instances/{i}/restart.
	Prefix = "/admin/host/"
)

// TriggerHealth is the state of one function's trigger (its connection
// to its source, if it has one).
type TriggerHealth struct {
	// Type is the trigger's type: a binding type of the Functions host
	// ("serviceBusTrigger", ...) or an event source of the Lambda host
	// ("HttpApi", "MQ", "Schedule").
	Type string `json:"type"`
	// Status is "up" (connected, or nothing to connect to), "starting"
	// (not connected yet), "down" (the last attempt failed; retrying) or
	// "stopped" (stopped through the control API; not unhealthy).
	Status string `json:"status"`
	// Error is the last connection error while down.
	Error string `json:"error,omitempty"`
	// Since is when Status last changed.
	Since time.Time `json:"since"`
}

// HostStatus is the body of GET /admin/host/status.
type HostStatus struct {
	// State is "Running", or "Error" once the host gave up (the Functions
	// host's states).
	State string `json:"state"`
	// Version is the host version this host follows.
	Version string `json:"version"`
	// Healthy is false when the host gave up or any trigger is down.
	Healthy bool `json:"healthy"`
	// Error says why the host gave up.
	Error string `json:"error,omitempty"`
	// Triggers is every running function's trigger.
	Triggers map[string]TriggerHealth `json:"triggers"`
	// Instances is every process that runs functions.
	Instances []InstanceStatus `json:"instances"`
	// Functions is every function with its state and counts.
	Functions []FunctionStatus `json:"functions"`
}

// InstanceStatus describes one process that runs functions: a custom
// handler instance, or a Lambda execution environment.
type InstanceStatus struct {
	// Index is the instance's number in POST /admin/host/instances/{i}/restart.
	Index int `json:"index"`
	// Function is the function an execution environment belongs to (Lambda
	// host); empty for a handler instance, which serves every function.
	Function string `json:"function,omitempty"`
	PID      int    `json:"pid"`
	State    string `json:"state"` // starting, ready, down
	Restarts int64  `json:"restarts"`
}

// FunctionStatus describes one function.
type FunctionStatus struct {
	Name        string `json:"name"`
	Trigger     string `json:"trigger"`
	State       string `json:"state"` // running, stopped, disabled, failed
	Invocations int64  `json:"invocations"`
	Failures    int64  `json:"failures"`
}

// Refusal says why an admin call must be refused, or returns code 0: an
// Origin header (browsers add it to cross-site requests, the tools that
// legitimately call the admin API do not) is 403, and a POST without a
// JSON body is 415 (a cross-site form or text/plain POST needs no CORS
// preflight, a JSON one does). Keys and the Host header are the caller's
// to check.
func Refusal(r *http.Request) (code int, reason string) {
	if r.Header.Get("Origin") != "" {
		return http.StatusForbidden, "admin calls from a browser page are refused (the request has an Origin header)"
	}
	if r.Method == http.MethodPost {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			return http.StatusUnsupportedMediaType, "admin calls must send Content-Type: application/json"
		}
	}
	return 0, ""
}

// Function returns the status of the named function; the zero value if
// there is none.
func (st HostStatus) Function(name string) FunctionStatus {
	for _, f := range st.Functions {
		if f.Name == name {
			return f
		}
	}
	return FunctionStatus{}
}

// Controller is what a host does for the control API's POST calls.
type Controller interface {
	StopFunction(ctx context.Context, name string) error
	StartFunction(ctx context.Context, name string) error
	RestartInstance(i int) error
}

// ErrNoEndpoint means a path under Prefix names no control call.
var ErrNoEndpoint = errors.New("no control endpoint")

// ErrBadInstance means a restart path's instance is not a number.
var ErrBadInstance = errors.New("the instance must be a number")

// Call parses a POST control path (functions/{name}/stop|start or
// instances/{i}/restart under Prefix) into the call it makes on a
// Controller: ErrNoEndpoint for any other path, ErrBadInstance for a
// restart of a non-numeric instance.
func Call(path string) (func(context.Context, Controller) error, error) {
	rest, ok := strings.CutPrefix(path, Prefix)
	parts := strings.Split(rest, "/")
	switch {
	case !ok || len(parts) != 3:
	case parts[0] == "functions" && parts[2] == "stop":
		return func(ctx context.Context, c Controller) error { return c.StopFunction(ctx, parts[1]) }, nil
	case parts[0] == "functions" && parts[2] == "start":
		return func(ctx context.Context, c Controller) error { return c.StartFunction(ctx, parts[1]) }, nil
	case parts[0] == "instances" && parts[2] == "restart":
		i, err := strconv.Atoi(parts[1])
		if err != nil {
			return nil, ErrBadInstance
		}
		return func(_ context.Context, c Controller) error { return c.RestartInstance(i) }, nil
	}
	return nil, fmt.Errorf("%w %s", ErrNoEndpoint, path)
}
