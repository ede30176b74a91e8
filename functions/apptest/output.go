package apptest

import (
	"bytes"
	"strings"
	"sync"
)

// Output collects the host's and the handler's output for assertions and
// for the log of a failed test.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Lines returns everything written so far, line by line.
func (o *Output) Lines() []string { return strings.Split(o.String(), "\n") }
