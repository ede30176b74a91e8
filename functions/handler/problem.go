package handler

import (
	"encoding/json"
	"net/http"

	"github.com/orderflow/orderflow/shared/order"
)

// Problem is an RFC 9457 problem details object, extended with "errors":
// one entry per offending input field.
type Problem struct {
	Type     string             `json:"type"`
	Title    string             `json:"title"`
	Status   int                `json:"status"`
	Detail   string             `json:"detail,omitempty"`
	Instance string             `json:"instance,omitempty"`
	Errors   []order.FieldError `json:"errors,omitempty"`
}

// Problem type URIs. Plain HTTP errors use "about:blank" with the status
// phrase as title, as RFC 9457 recommends.
const (
	ProblemMalformed   = "urn:orderflow:problem:malformed-request"
	ProblemValidation  = "urn:orderflow:problem:validation-failed"
	ProblemIdempotency = "urn:orderflow:problem:idempotency-key-reused"
	ProblemUnavailable = "urn:orderflow:problem:dependency-unavailable"
)

// problemContentType is the media type of every error response.
const problemContentType = "application/problem+json"

func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	writeJSON(w, p.Status, problemContentType, p)
}

func status(w http.ResponseWriter, r *http.Request, code int, detail string) {
	writeProblem(w, r, Problem{Status: code, Detail: detail})
}

func writeJSON(w http.ResponseWriter, code int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Our own types always marshal; keep the response valid JSON anyway.
		b, code, contentType = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`), http.StatusInternalServerError, problemContentType
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
