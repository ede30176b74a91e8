package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/clock"
)

// alarm is one timer (of the broker's clock) that calls fire at the earliest deadline of a
// store or topic. It is only ever moved earlier by arm; when it fires, the
// owner processes what is due and re-arms for the next deadline, so a
// deadline that went away just causes one harmless early wake-up.
type alarm struct {
	mu      sync.Mutex
	t       clock.Timer
	at      time.Time
	stopped bool
	fire    func()
	// halt is the broker's stopped flag: no timer starts after Stop.
	halt *atomic.Bool
	// clock is the broker's Config.Clock.
	clock clock.Clock
}

// arm makes the alarm fire no later than at (zero: nothing to do). now is
// the broker clock's current time; the timer's delay is at - now.
func (a *alarm) arm(at, now time.Time) {
	if at.IsZero() {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped || a.halt.Load() || (!a.at.IsZero() && !at.Before(a.at)) {
		return
	}
	a.at = at
	d := at.Sub(now)
	if a.t == nil {
		a.t = a.clock.AfterFunc(d, a.run)
		return
	}
	a.t.Reset(d)
}

func (a *alarm) run() {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return
	}
	a.at = time.Time{}
	a.mu.Unlock()
	a.fire()
}

// stop disarms the alarm for good. Idempotent.
func (a *alarm) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
	if a.t != nil {
		a.t.Stop()
	}
}
