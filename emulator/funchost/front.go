package funchost

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/orderflow/orderflow/internal/loopback"
	"golang.org/x/sync/semaphore"
)

// Request limits of the real front end (functions-protocol 3.5).
const (
	maxRequestBody = 100 << 20
	maxURLLength   = 4096
)

// front is the host's HTTP listener: it routes requests to HTTP triggers by
// route template and serves the admin API. A path that matches a route but
// not its methods gets 404, as the real host does (HEAD on a GET-only route
// is a 404 too).
type front struct {
	host *Host
	log  *slog.Logger
	// bodies holds the request-body bytes buffered across all clients
	// (Config.MaxBufferedBodyBytes).
	bodies *semaphore.Weighted

	mu     sync.RWMutex
	routes []*httpTrigger // sorted by route precedence
}

func (f *front) add(t *httpTrigger) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = append(f.routes, t)
	sort.SliceStable(f.routes, func(i, j int) bool { return before(f.routes[i].route, f.routes[j].route) })
}

func (f *front) remove(t *httpTrigger) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.routes {
		if r == t {
			f.routes = append(f.routes[:i], f.routes[i+1:]...)
			return
		}
	}
}

// match finds the trigger for the request; pathOnly reports a route whose
// path matched but whose methods did not.
func (f *front) match(method, path string) (t *httpTrigger, params map[string]string, pathOnly bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, r := range f.routes {
		values, ok := r.route.Match(path)
		if !ok {
			continue
		}
		if r.allows(method) {
			return r, values, false
		}
		pathOnly = true
	}
	return nil, nil, pathOnly
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopback.Allowed(r.Host, f.host.cfg.AllowedHosts) {
		writeProblem(w, r, http.StatusForbidden, "Host "+strconv.Quote(r.Host)+" is not served; only loopback names are, unless listed in AllowedHosts (-allowed-host)")
		return
	}
	if len(r.URL.RequestURI()) > maxURLLength {
		writeProblem(w, r, http.StatusRequestURITooLong, "the URL is longer than 4 KB")
		return
	}
	if strings.EqualFold(strings.TrimSuffix(r.URL.Path, "/"), "/admin/host/status") {
		f.serveStatus(w, r)
		return
	}
	if f.serveControl(w, r) {
		return
	}
	if name, ok := adminFunctionPath(r.URL.Path); ok {
		f.serveAdmin(w, r, name)
		return
	}
	t, params, pathOnly := f.match(r.Method, r.URL.EscapedPath())
	if t == nil {
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "Your Functions 4.0 app is up and running\n")
			return
		}
		detail := "no function route matches " + r.Method + " " + r.URL.Path
		if pathOnly {
			detail = "the route exists but no function accepts method " + r.Method
		}
		writeProblem(w, r, http.StatusNotFound, detail)
		return
	}
	level, ok := f.authorize(r, t.fn.Name, t.authLevel)
	if !ok {
		writeProblem(w, r, http.StatusUnauthorized, "a valid key is required (x-functions-key header or code query parameter)")
		return
	}
	nameRoute(r, t)
	// The whole body arrives before the invocation takes a handler slot
	// (issue 13): a slow client gets 408 and cannot hold the handler.
	body, release, ok := f.readBody(w, r)
	if !ok {
		return
	}
	defer release()
	t.serve(w, r, params, level, body)
}

// adminFunctionPath matches /admin/functions/{name}.
func adminFunctionPath(p string) (string, bool) {
	const prefix = "/admin/functions/"
	if len(p) <= len(prefix) || !strings.EqualFold(p[:len(prefix)], prefix) {
		return "", false
	}
	name := strings.TrimSuffix(p[len(prefix):], "/")
	if name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

// authorize applies authLevel when Config.EnforceAuth is set and returns
// the auth level claim for Identities ("Admin" under func start).
func (f *front) authorize(r *http.Request, fn, authLevel string) (string, bool) {
	if !f.host.cfg.EnforceAuth {
		return "Admin", true
	}
	key := r.Header.Get("x-functions-key")
	if key == "" {
		key = r.URL.Query().Get("code")
	}
	st := f.host.app.settings
	matches := func(setting string) bool {
		v, _ := st.get(setting)
		return keyEqual(v, key)
	}
	switch {
	case matches(MasterKeySetting):
		return "Admin", true
	case strings.EqualFold(authLevel, "anonymous"):
		return "", true
	case strings.EqualFold(authLevel, "admin"):
		return "", false
	case matches(HostKeySetting), matches(FunctionKeySettingPrefix + fn):
		return "Function", true
	}
	return "", false
}

// serveAdmin runs a non-HTTP function by hand: POST {"input": "…"} → 202.
func (f *front) serveAdmin(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeProblem(w, r, http.StatusMethodNotAllowed, "use POST with {\"input\": \"…\"}")
		return
	}
	if !f.adminRequest(w, r) {
		return
	}
	fn, trig := f.host.function(name)
	if fn == nil {
		writeProblem(w, r, http.StatusNotFound, "no enabled function named "+name)
		return
	}
	if _, isHTTP := trig.(*httpTrigger); isHTTP {
		writeProblem(w, r, http.StatusBadRequest, name+" is an HTTP function; call its route instead")
		return
	}
	var body struct {
		Input *string `json:"input"`
	}
	raw, release, ok := f.readBody(w, r)
	if !ok {
		return
	}
	defer release()
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			writeProblem(w, r, http.StatusBadRequest, "body must be JSON {\"input\": \"…\"}: "+err.Error())
			return
		}
	}
	input := ""
	if body.Input != nil {
		input = *body.Input
	}
	var p *Payload
	if m, ok := trig.(manualRunner); ok {
		p = m.manualPayload(input)
	} else {
		b := fn.Trigger()
		p = stringTriggerPayload(b.Name, input, b.DataType)
	}
	inv := Invocation{Function: fn.Name, Reason: "This function was programmatically called via the host APIs.", Payload: p}
	go func() {
		if _, err := f.host.disp.Invoke(context.WithoutCancel(r.Context()), inv); err != nil {
			var ie *InvocationError
			if !errors.As(err, &ie) {
				f.log.Error("manual run failed", "function", fn.Name, "err", err)
			}
		}
	}()
	w.WriteHeader(http.StatusAccepted)
}
