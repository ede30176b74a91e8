// Package testkit holds the test helpers every package's tests share:
// polling until a condition holds, and a goroutine-safe buffer. It imports
// nothing of ours, so the emulator's tests may use it as well as the app's
// (see the import rules in docs/architecture.md).
package testkit

import (
	"bytes"
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
