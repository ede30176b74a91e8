package funchost

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/orderflow/orderflow/internal/hostapi"
)

// This file holds what keeps the host safe to leave running on a developer
// machine (issue 13): which Host values are served (internal/loopback), what an admin call must
// look like, how keys are compared and how request bodies are read.

// adminRequest applies the admin API's rules and answers when they fail:
// no Origin header (browsers add it to cross-site requests, the tools that
// legitimately call the admin API do not), a JSON body for POST (a
// cross-site form or text/plain POST needs no CORS preflight, a JSON one
// does), and the master key when keys are enforced, as the real host always
// requires it for /admin.
func (f *front) adminRequest(w http.ResponseWriter, r *http.Request) bool {
	if code, reason := hostapi.Refusal(r); code != 0 {
		if code == http.StatusUnsupportedMediaType {
			w.Header().Set("Accept-Post", "application/json")
		}
		writeProblem(w, r, code, reason)
		return false
	}
	if _, ok := f.authorize(r, "", "admin"); !ok {
		writeProblem(w, r, http.StatusUnauthorized, "the master key is required (x-functions-key header)")
		return false
	}
	return true
}

// keyEqual compares a configured key with the one a caller sent in
// constant time. Both are hashed first so that not even the key's length
// leaks through timing; an empty configured key matches nothing.
func keyEqual(want, got string) bool {
	if want == "" || got == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(want)), sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// errBodyTimeout marks a body that did not arrive within BodyReadTimeout.
var errBodyTimeout = errors.New("request body not received in time")

// errBodyBudget marks a body refused because all clients together hold
// Config.MaxBufferedBodyBytes already.
var errBodyBudget = errors.New("request bodies buffered by all clients are at their limit")

// bodyChunk is the unit in which a body's bytes are charged to the budget.
const bodyChunk = 64 << 10

// readBody reads the whole request body under its own deadline (Config.
// BodyReadTimeout), size limit and the budget all clients share (Config.
// MaxBufferedBodyBytes), before any handler slot is taken. It answers the
// client itself on failure: 408 for a slow body, 413 for a large one, 503
// when the budget is spent, 400 for a broken one. On success the caller
// calls release once the body is no longer needed.
func (f *front) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), ok bool) {
	if r.ContentLength > maxRequestBody {
		writeProblem(w, r, http.StatusRequestEntityTooLarge, "the request body is larger than 100 MB")
		return nil, nil, false
	}
	br := &budgetReader{r: http.MaxBytesReader(w, r.Body, maxRequestBody), sem: f.bodies}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(f.host.cfg.BodyReadTimeout))
	body, err := io.ReadAll(br)
	_ = rc.SetReadDeadline(time.Time{})
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return body, br.release, true
	case errors.As(err, &mbe):
		writeProblem(w, r, http.StatusRequestEntityTooLarge, "the request body is larger than 100 MB")
	case errors.Is(err, errBodyBudget):
		f.log.Warn("request bodies at their memory limit; answered 503", "path", r.URL.Path, "remote", r.RemoteAddr,
			"limit", f.host.cfg.MaxBufferedBodyBytes)
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Connection", "close")
		writeProblem(w, r, http.StatusServiceUnavailable, "the host holds as many request bodies as it may; retry shortly")
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w within %s", errBodyTimeout, f.host.cfg.BodyReadTimeout)
		f.log.Warn("slow request body; answered 408", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		w.Header().Set("Connection", "close")
		writeProblem(w, r, http.StatusRequestTimeout, "the request body did not arrive within "+f.host.cfg.BodyReadTimeout.String())
	default:
		w.Header().Set("Connection", "close")
		writeProblem(w, r, http.StatusBadRequest, "reading the request body: "+err.Error())
	}
	br.release()
	return nil, nil, false
}

// budgetReader charges the bytes it reads to a budget shared by all
// clients, in bodyChunk steps, and fails with errBodyBudget when the budget
// has no room: a body is refused while it arrives, not after it was held.
type budgetReader struct {
	r    io.Reader
	sem  *semaphore.Weighted
	read int64
	held int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += int64(n)
	for b.read > b.held {
		if !b.sem.TryAcquire(bodyChunk) {
			return n, errBodyBudget
		}
		b.held += bodyChunk
	}
	return n, err
}

// release gives the body's bytes back to the budget; it is idempotent.
func (b *budgetReader) release() {
	if b.held > 0 {
		b.sem.Release(b.held)
		b.held = 0
	}
}

// newServer returns an http.Server with every read and idle connection
// bounded. There is no WriteTimeout because proxied responses may stream
// for long; each streamed write has its own deadline instead (see
// httpTrigger.proxy).
func newServer(h http.Handler, cfg Config, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.BodyReadTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errorLog,
	}
}
