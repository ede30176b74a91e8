package funchost

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// pastDueTolerance is how late a firing may be before IsPastDue is set.
const pastDueTolerance = time.Second

// timerTrigger fires a timerTrigger function on its schedule. Firings of
// one function never overlap: the next occurrence is computed after the
// invocation ends, as the real timer listener does.
type timerTrigger struct {
	host         *Host
	fn           *Function
	name         string
	schedule     *Schedule
	runOnStartup bool

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	last   time.Time
}

func newTimerTrigger(h *Host, fn *Function, b *Binding) (Trigger, error) {
	s, err := ParseSchedule(b.Str("schedule"))
	if err != nil {
		return nil, bindingError("schedule", "%v", err)
	}
	return &timerTrigger{host: h, fn: fn, name: b.Name, schedule: s, runOnStartup: b.Bool("runOnStartup")}, nil
}

// describe is the func-start line.
func (t *timerTrigger) describe(string) string { return "timerTrigger" }

// Start launches the schedule loop.
func (t *timerTrigger) Start(ctx context.Context, d Dispatcher) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done != nil {
		return fmt.Errorf("timer %s already started", t.fn.Name)
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.cancel, t.done = cancel, make(chan struct{})
	t.last = time.Now()
	go t.loop(loopCtx, d)
	return nil
}

func (t *timerTrigger) loop(ctx context.Context, d Dispatcher) {
	defer close(t.done)
	if t.runOnStartup {
		now := time.Now()
		t.fire(ctx, d, now, now)
	}
	for {
		next := t.schedule.Next(time.Now())
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		t.fire(ctx, d, next, time.Now())
	}
}

// fire invokes the function once. The invocation is not cancelled by Stop:
// Stop waits for it (bounded) so that it can finish.
func (t *timerTrigger) fire(ctx context.Context, d Dispatcher, scheduled, now time.Time) {
	st := TimerStatus{Last: t.last, Next: t.schedule.Next(now), LastUpdated: now}
	t.last = now
	p := timerPayload(t.name, st, now.Sub(scheduled) > pastDueTolerance)
	reason := "Timer fired at " + now.Format("2006-01-02T15:04:05.0000000-07:00")
	if _, err := d.Invoke(context.WithoutCancel(ctx), Invocation{Function: t.fn.Name, Reason: reason, Payload: p}); err != nil {
		// The real host logs the failure and waits for the next occurrence.
		t.host.log.Warn("timer invocation failed", "function", t.fn.Name, "err", err)
	}
}

func (t *timerTrigger) manualPayload(string) *Payload {
	now := time.Now()
	return timerPayload(t.name, TimerStatus{Last: now, Next: t.schedule.Next(now), LastUpdated: now}, false)
}

// Stop cancels future firings and waits for a running one, bounded by ctx.
func (t *timerTrigger) Stop(ctx context.Context) error {
	t.mu.Lock()
	cancel, done := t.cancel, t.done
	t.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping timer %s: %w", t.fn.Name, ctx.Err())
	}
}
