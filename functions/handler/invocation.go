package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Invocation is the body the Functions host POSTs to /<FunctionName> for
// non-HTTP triggers and for HTTP triggers in the default payload mode
// ({"Data":{…},"Metadata":{…}}), reduced to the members the functions read.
type Invocation struct {
	Data     InvocationData
	Metadata Metadata
}

// InvocationResult is what the host expects back, always as
// application/json and never empty (an empty 2xx body hangs the
// invocation until functionTimeout).
type InvocationResult struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// HTTPRequestData is Data.<trigger> of an HTTP trigger in payload mode.
type HTTPRequestData struct {
	URL     string              `json:"Url"`
	Method  string              `json:"Method"`
	Headers map[string][]string `json:"Headers"`
	// Body is a JSON string for text bodies (base64 for octet-stream and
	// multipart); some hosts send a JSON body as an object.
	Body json.RawMessage `json:"Body"`
}

// HTTPResponseData is Outputs.res: the host's http output binding.
type HTTPResponseData struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

// httpOutputName and httpTriggerName are the binding names in our
// function.json files.
const (
	httpTriggerName = "req"
	httpOutputName  = "res"
)

// httpPayload serves an HTTP function invoked in payload mode: it rebuilds
// the original request from Data.req, runs it through the same router as
// the proxied path, and returns the response as Outputs.res.
func (h *Handler) httpPayload(w http.ResponseWriter, r *http.Request) {
	inv, ok := h.readInvocation(w, r)
	if !ok {
		return
	}
	var d HTTPRequestData
	if err := json.Unmarshal(inv.Data.Req, &d); err != nil || d.Method == "" || d.URL == "" {
		h.invocationFailed(w, r, fmt.Errorf("the invocation's Data.%s is not an HTTP request: %v", httpTriggerName, err))
		return
	}
	inner, err := d.request(r.Context())
	if err != nil {
		h.invocationFailed(w, r, err)
		return
	}
	for _, k := range []string{"X-Azure-Functions-InvocationId", "X-Azure-Functions-HostVersion"} {
		inner.Header.Set(k, r.Header.Get(k))
	}
	rec := newRecorder()
	h.routes.ServeHTTP(rec, inner)
	res := HTTPResponseData{StatusCode: rec.status(), Headers: map[string]string{}, Body: rec.body.String()}
	for k, v := range rec.header {
		res.Headers[k] = strings.Join(v, ", ")
	}
	writeJSON(w, http.StatusOK, "application/json", InvocationResult{Outputs: map[string]any{httpOutputName: res}, Logs: []string{}})
}

func (d HTTPRequestData) request(ctx context.Context) (*http.Request, error) {
	u, err := url.Parse(d.URL)
	if err != nil {
		return nil, fmt.Errorf("Data.req.Url %q: %w", d.URL, err)
	}
	var body []byte
	if len(d.Body) > 0 && string(d.Body) != "null" {
		var s string
		if json.Unmarshal(d.Body, &s) == nil {
			body = []byte(s)
		} else {
			body = d.Body // already a JSON document
		}
	}
	r, err := http.NewRequestWithContext(ctx, d.Method, u.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("rebuilding request: %w", err)
	}
	r.Host = u.Host
	for k, vs := range d.Headers {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return r, nil
}

// invocation adapts a non-HTTP function: it decodes the payload, runs fn and
// writes the InvocationResult; a failure answers 500 (the host fails the
// invocation and, for queue triggers, abandons or retries the message).
func (h *Handler) invocation(fn func(ctx context.Context, inv Invocation) ([]string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		inv, ok := h.readInvocation(w, r)
		if !ok {
			return
		}
		logs, err := fn(r.Context(), inv)
		if err != nil {
			h.invocationFailed(w, r, err)
			return
		}
		if logs == nil {
			logs = []string{}
		}
		writeInvocationResult(w, http.StatusOK, logs)
	}
}

func (h *Handler) readInvocation(w http.ResponseWriter, r *http.Request) (Invocation, bool) {
	var inv Invocation
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		status(w, r, http.StatusMethodNotAllowed, "function invocations are POSTed by the Functions host")
		return inv, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<20))
	if err == nil && len(bytes.TrimSpace(b)) > 0 {
		inv, err = decodeInvocation(b)
	}
	if err != nil {
		h.invocationFailed(w, r, fmt.Errorf("decoding invocation payload: %w", err))
		return inv, false
	}
	return inv, true
}

// invocationFailed logs to stderr (the host drops Logs of failed
// invocations) and answers 500 with a JSON body.
func (h *Handler) invocationFailed(w http.ResponseWriter, r *http.Request, err error) {
	fn := strings.TrimPrefix(r.URL.Path, "/")
	h.cfg.Logger.ErrorContext(r.Context(), "invocation failed", "function", fn, "invocationId", r.Header.Get("X-Azure-Functions-InvocationId"), "err", err)
	writeInvocationResult(w, http.StatusInternalServerError, []string{fmt.Sprintf("%s failed: %v", fn, err)})
}
