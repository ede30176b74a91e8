package handler

import (
	"bytes"
	"net/http"
)

// recorder captures a response in memory, for HTTP functions invoked in
// payload mode whose response travels back inside Outputs.res.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

// Header returns the response headers.
func (r *recorder) Header() http.Header { return r.header }

// WriteHeader records the status code once.
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

// Write records body bytes, implying 200 like net/http.
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// status is the recorded code, 200 if none was written.
func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}
