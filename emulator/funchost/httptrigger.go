package funchost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// httpMode is how an HTTP function reaches the handler (functions-protocol 3).
type httpMode int

const (
	modePayload    httpMode = iota // {Data:{req}, Metadata} to /<Function> (functions-protocol 3.1)
	modeForwarding                 // raw request, buffered (functions-protocol 3.3)
	modeProxying                   // raw request, streamed both ways (functions-protocol 3.4)
)

func (m httpMode) String() string {
	return [...]string{"payload", "forwarding", "proxying"}[m]
}

// httpTrigger serves one httpTrigger function on its route.
type httpTrigger struct {
	host      *Host
	fn        *Function
	binding   *Binding
	route     *Route
	methods   []string // upper case; empty = all
	authLevel string
	mode      httpMode
	disp      *dispatcher
}

func newHTTPTrigger(h *Host, fn *Function, b *Binding) (Trigger, error) {
	route := b.Str("route")
	if route == "" {
		route = fn.Name
	}
	full := strings.Trim(route, "/")
	if h.app.RoutePrefix != "" {
		full = h.app.RoutePrefix + "/" + full
	}
	r, err := ParseRoute(full)
	if err != nil {
		return nil, bindingError("route", "%v", err)
	}
	t := &httpTrigger{host: h, fn: fn, binding: b, route: r, authLevel: b.Str("authLevel")}
	if t.authLevel == "" {
		t.authLevel = "function"
	}
	for _, m := range b.Strs("methods") {
		t.methods = append(t.methods, strings.ToUpper(m))
	}
	if fn.httpInAndOut() {
		switch {
		case h.app.Handler.EnableProxyingHTTPRequest:
			t.mode = modeProxying
		case h.app.Handler.EnableForwardingHTTPRequest:
			t.mode = modeForwarding
		}
	}
	return t, nil
}

func (t *httpTrigger) allows(method string) bool {
	if len(t.methods) == 0 {
		return true
	}
	for _, m := range t.methods {
		if m == method {
			return true
		}
	}
	return false
}

// Start registers the route on the host's HTTP front.
func (t *httpTrigger) Start(_ context.Context, d Dispatcher) error {
	disp, ok := d.(*dispatcher)
	if !ok {
		return fmt.Errorf("http trigger %s: needs the host's dispatcher", t.fn.Name)
	}
	t.disp = disp
	t.host.front.add(t)
	return nil
}

// Stop removes the route; in-flight requests are drained by the HTTP server.
func (t *httpTrigger) Stop(context.Context) error {
	t.host.front.remove(t)
	return nil
}

// describe is the func-start line: "[GET,POST] http://…/api/orders".
func (t *httpTrigger) describe(base string) string {
	s := base + "/" + strings.TrimPrefix(t.route.Template, "/")
	if len(t.methods) > 0 {
		s = "[" + strings.Join(t.methods, ",") + "] " + s
	}
	return s
}

const httpReason = "This function was programmatically called via the host APIs."

// serve runs the function for a request whose body was already read.
func (t *httpTrigger) serve(w http.ResponseWriter, r *http.Request, params map[string]string, level string, body []byte) {
	switch t.mode {
	case modeForwarding:
		t.forward(w, r, body)
	case modeProxying:
		t.proxy(w, r, body)
	default:
		t.invokePayload(w, r, params, level, body)
	}
}

// invokePayload is the default mode (functions-protocol 3.1, 3.2).
func (t *httpTrigger) invokePayload(w http.ResponseWriter, r *http.Request, params map[string]string, level string, body []byte) {
	var identities any = []any{}
	if level != "" {
		identities = localIdentities(level)
	}
	p := httpRequestPayload(t.binding.Name, r, body, params, identities)
	res, err := t.disp.Invoke(r.Context(), Invocation{Function: t.fn.Name, Reason: httpReason, Payload: p})
	if err != nil {
		t.failed(w, r, err)
		return
	}
	name := t.fn.httpOutput()
	var raw []byte
	if name != "" {
		raw, _ = res.Output(name, name == "$return")
	}
	out, err := parseHTTPOutput(raw)
	if err != nil {
		t.host.log.Error("invalid http output from handler", "function", t.fn.Name, "invocationId", res.InvocationID, "err", err)
		writeProblem(w, r, http.StatusInternalServerError, fmt.Sprintf("function %s returned an invalid http output: %v", t.fn.Name, err))
		return
	}
	for k, v := range out.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(out.Status)
	_, _ = w.Write(out.Body)
}

// failed answers a failed invocation with 500, as the real host does.
func (t *httpTrigger) failed(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	detail := fmt.Sprintf("function %s failed", t.fn.Name)
	if errors.Is(err, ErrTimeout) {
		detail = fmt.Sprintf("function %s exceeded functionTimeout", t.fn.Name)
	}
	var ie *InvocationError
	if errors.As(err, &ie) && ie.InvocationID != "" {
		detail += " (invocation " + ie.InvocationID + ")"
	}
	writeProblem(w, r, http.StatusInternalServerError, detail)
}

// hopHeaders are connection-level headers a proxy must not forward.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func copyHeaders(dst, src http.Header) {
	for k, v := range src {
		dst[k] = append([]string(nil), v...)
	}
	for _, h := range hopHeaders {
		dst.Del(h)
	}
}

// rebuildQuery re-serialises the parsed query as the host does in forwarding
// mode: first-appearance key order, duplicate keys joined with ',' (functions-protocol 3.3).
func rebuildQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var order []string
	vals := map[string][]string{}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = append(vals[k], v)
	}
	parts := make([]string, 0, len(order))
	for _, k := range order {
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(strings.Join(vals[k], ",")))
	}
	return strings.Join(parts, "&")
}

// forward is enableForwardingHttpRequest (functions-protocol 3.3): original method, path and
// headers, query rebuilt, body only when Content-Length > 0; the handler's
// response goes back as is and any status counts as success.
func (t *httpTrigger) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.ContentLength <= 0 {
		body = nil
	}
	l, err := t.disp.acquire(r.Context(), t.fn.Name, httpReason)
	if err != nil {
		t.failed(w, r, err)
		return
	}
	send := func() (*http.Response, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		target := l.proc.baseURL + r.URL.EscapedPath()
		if q := rebuildQuery(r.URL.RawQuery); q != "" {
			target += "?" + q
		}
		out, err := http.NewRequestWithContext(l.ctx, r.Method, target, rd)
		if err != nil {
			return nil, fmt.Errorf("building forwarded request: %w", err)
		}
		copyHeaders(out.Header, r.Header)
		out.Host = r.Host
		if body != nil {
			out.ContentLength = int64(len(body))
			out.Header.Set("Content-Length", strconv.Itoa(len(body)))
		} else {
			out.Header.Del("Content-Length")
		}
		l.addHeaders(out.Header)
		return t.disp.client.Do(out)
	}
	resp, err := send()
	for attempt := 0; err != nil && l.redial(err, attempt); attempt++ {
		resp, err = send()
	}
	if err != nil {
		err = l.fail(err)
		l.release(err)
		t.failed(w, r, err)
		return
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		err = l.fail(err)
		l.release(err)
		t.failed(w, r, err)
		return
	}
	l.release()
	copyHeaders(w.Header(), resp.Header)
	w.Header().Set("Content-Length", strconv.Itoa(len(respBody)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

// proxy is enableProxyingHttpRequest (functions-protocol 3.4): the request (its body already
// read by the front, so a slow client never holds the handler) sent to the
// handler at the original path and query, the response streamed back. Each
// write to the client has its own deadline (Config.BodyReadTimeout), and the
// time spent waiting on the client does not count as the handler's: a
// functionTimeout reached because of a slow reader fails the invocation but
// does not restart the handler.
// proxyBuffers holds the 32 KiB buffers responses are copied through: one
// per proxied request would be the host's largest allocation per order.
var proxyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (t *httpTrigger) proxy(w http.ResponseWriter, r *http.Request, body []byte) {
	l, err := t.disp.acquire(r.Context(), t.fn.Name, httpReason)
	if err != nil {
		t.failed(w, r, err)
		return
	}
	target := l.proc.baseURL + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	out, err := http.NewRequestWithContext(l.ctx, r.Method, target, rd)
	if err != nil {
		l.release(err)
		t.failed(w, r, err)
		return
	}
	copyHeaders(out.Header, r.Header)
	out.Host = r.Host
	out.ContentLength = int64(len(body))
	out.Header.Set("X-Azure-Functions-HostVersion", HostVersion)
	out.Header.Set("X-Azure-Functions-InvocationId", l.id)
	out.Header.Set("x-ms-invocation-id", l.id)
	resp, err := t.disp.client.Do(out)
	if err != nil {
		err = l.fail(err)
		l.release(err)
		t.failed(w, r, err)
		return
	}
	defer resp.Body.Close()
	copyHeaders(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	bp := proxyBuffers.Get().(*[]byte)
	defer proxyBuffers.Put(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			start := time.Now()
			_ = rc.SetWriteDeadline(start.Add(t.host.cfg.BodyReadTimeout))
			_, werr := w.Write(buf[:n])
			if werr == nil {
				werr = rc.Flush()
			}
			l.clientWait.Add(int64(time.Since(start)))
			if werr != nil {
				l.release(fmt.Errorf("writing the response to the client: %w", werr))
				return
			}
		}
		if rerr == io.EOF {
			l.release()
			return
		}
		if rerr != nil {
			// Headers are gone already; the client sees a cut stream.
			l.release(l.fail(rerr))
			return
		}
	}
}
