// Package testkit holds the test helpers every package's tests share:
// polling until a condition holds, a goroutine-safe buffer, and a raw HTTP
// request for what net/http's client will not send. It imports
// nothing of ours, so the emulator's tests may use it as well as the app's
// (see the import rules in docs/architecture.md).
package testkit

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// PollInterval is how often Eventually checks its condition.
const PollInterval = 20 * time.Millisecond

// Eventually calls cond every PollInterval until it returns nil, and fails
// the test with cond's last error if that has not happened within the
// given time. cond runs on the test's goroutine, so it may call t.Fatal
// for errors that waiting cannot cure.
func Eventually(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	var err error
	if !Poll(within, func() bool { err = cond(); return err == nil }) {
		t.Fatalf("after %v: %v", within, err)
	}
}

// Poll calls cond every PollInterval until it returns true or the given
// time has passed, and reports whether it returned true. It is for waits
// whose timeout is not a failure by itself.
func Poll(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(PollInterval)
	}
	return true
}

// Buffer is a bytes.Buffer that goroutines may write while a test reads
// it: captured logs and process output.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns everything written so far, line by line.
func (b *Buffer) Lines() []string { return strings.Split(b.String(), "\n") }

// RawHTTP writes req, a whole HTTP/1.1 request as text, on a fresh
// connection to addr and returns the response's status code and body. It is
// for requests net/http's client normalises away (odd Host headers, missing
// Content-Type), which servers must still answer safely.
func RawHTTP(t testing.TB, addr, req string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	return resp.StatusCode, string(b)
}
