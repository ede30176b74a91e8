package testkit

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB that records Fatalf instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestEventuallyReturnsOnceTrue(t *testing.T) {
	t.Parallel()
	n := 0
	r := &recorder{TB: t}
	Eventually(r, time.Second, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if r.failed != "" || n != 3 {
		t.Fatalf("failed %q after %d calls, want success on the third", r.failed, n)
	}
}

func TestEventuallyFailsWithTheLastError(t *testing.T) {
	t.Parallel()
	n := 0
	r := &recorder{TB: t}
	start := time.Now()
	// The recorder does not stop the loop as t.Fatalf would, so the
	// condition ends it after the first failure report.
	Eventually(r, 50*time.Millisecond, func() error {
		n++
		if r.failed != "" {
			return nil
		}
		return fmt.Errorf("attempt %d", n)
	})
	if !strings.Contains(r.failed, "attempt") || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("failure %q after %v", r.failed, time.Since(start))
	}
}

func TestPoll(t *testing.T) {
	t.Parallel()
	if Poll(30*time.Millisecond, func() bool { return false }) {
		t.Error("Poll of a condition that never holds returned true")
	}
	n := 0
	if !Poll(time.Second, func() bool { n++; return n == 2 }) || n != 2 {
		t.Errorf("Poll stopped after %d calls, want true on the second", n)
	}
}

func TestBufferConcurrentWrites(t *testing.T) {
	t.Parallel()
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := len(b.Lines()); got != 801 {
		t.Fatalf("%d lines, want 800 and the empty tail", got)
	}
}
