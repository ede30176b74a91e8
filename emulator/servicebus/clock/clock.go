// Package clock is the time source of the Service Bus emulator's broker: every entity-time read
// (enqueue, lock and expiry timestamps) and every entity timer (lock expiry, time to live,
// scheduled enqueue, session lock expiry; duplicate-detection windows are measured with Now)
// goes through a Clock.
//
// Real is the wall clock. Fake stands still until a test calls Advance, which fires the timers
// that fall due synchronously, in deadline order, before it returns: a test can let a 30 s lock
// or a 1 h time to live lapse in microseconds and observe the result without sleeping or polling.
//
// Only the broker's entity time follows the Clock. The AMQP layer (idle timeout, the grace for a
// connection's first token, accept-next-session waits), the expiry of CBS tokens and every
// timeout of the client SDK stay on real time: a Fake never makes a connection time out, and
// advancing it past a token's expiry does not invalidate the token.
package clock

import (
	"container/heap"
	"sync"
	"time"
)

// Clock tells the time and runs functions after a delay. Implementations are safe for
// concurrent use.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// AfterFunc calls f, in its own goroutine or (Fake) in the one that moves the clock, once d
	// has passed, and returns a Timer that can stop or move that call.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call; *time.Timer is one.
type Timer interface {
	// Stop cancels the call; false if it had already fired or been stopped.
	Stop() bool
	// Reset makes the call happen d from now (again, if it had fired); false if it had already
	// fired or been stopped.
	Reset(d time.Duration) bool
}

// Real is the wall clock: time.Now and time.AfterFunc. The zero value is ready.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Or returns c, or Real when c is nil: the default of a Clock field whose zero value means
// real time.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Fake is a Clock that moves only when Advance is called. Create it with NewFake.
type Fake struct {
	// advancing serializes Advance calls, so timers fire in one deterministic order.
	advancing sync.Mutex

	mu     sync.Mutex
	now    time.Time
	timers fakeHeap
	seq    uint64 // orders timers due at the same instant by creation/reset
}

// NewFake returns a Fake that reads start until advanced. Tests that talk to the emulator through
// an SDK usually pass time.Now(), so message timestamps look familiar; the SDK's absolute times
// (ScheduleMessages' enqueue time) must then be computed from the Fake's Now, not time.Now.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake current time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d. f runs in the goroutine that calls Advance, never in
// AfterFunc itself (so a caller holding a lock f needs does not deadlock): a timer with d ≤ 0
// fires at the next Advance, Advance(0) included.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	t := &fakeTimer{c: c, f: f, index: -1}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.schedule(t, d)
	return t
}

// Advance moves the clock d forward (a negative d counts as 0). Each timer due by then fires in
// deadline order (ties in the order they were set), with Now reading its deadline while it runs,
// so a callback that sets a new timer due within the advance sees it fire too. Advance returns
// after the last due callback has returned. Callbacks must not call Advance.
func (c *Fake) Advance(d time.Duration) {
	c.advancing.Lock()
	defer c.advancing.Unlock()
	c.mu.Lock()
	target := c.now
	if d > 0 {
		target = target.Add(d)
	}
	for {
		if len(c.timers) == 0 || c.timers[0].when.After(target) {
			c.now = target
			c.mu.Unlock()
			return
		}
		t := heap.Pop(&c.timers).(*fakeTimer)
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f() // without the lock: f reads Now and sets timers
		c.mu.Lock()
	}
}

// Pending is the number of timers that have not fired or been stopped.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// schedule (re)arms t at now+d. c.mu is held.
func (c *Fake) schedule(t *fakeTimer, d time.Duration) {
	c.seq++
	t.when, t.seq = c.now.Add(d), c.seq
	if t.index >= 0 {
		heap.Fix(&c.timers, t.index)
		return
	}
	heap.Push(&c.timers, t)
}

type fakeTimer struct {
	c     *Fake
	f     func()
	when  time.Time
	seq   uint64
	index int // in c.timers; -1 when not pending
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.c.timers, t.index)
	return true
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	pending := t.index >= 0
	t.c.schedule(t, d)
	return pending
}

// fakeHeap is a min-heap of pending timers by (when, seq).
type fakeHeap []*fakeTimer

func (h fakeHeap) Len() int { return len(h) }
func (h fakeHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].seq < h[j].seq
}
func (h fakeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *fakeHeap) Push(x any) {
	t := x.(*fakeTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *fakeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
