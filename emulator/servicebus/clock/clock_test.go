package clock_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/clock"
)

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestFakeFiresDueTimersInOrderAtTheirDeadline(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(start)
	var got []string
	at := func(name string) func() {
		return func() { got = append(got, fmt.Sprintf("%s@%v", name, c.Now().Sub(start))) }
	}
	c.AfterFunc(3*time.Second, at("c"))
	c.AfterFunc(time.Second, at("a"))
	c.AfterFunc(time.Second, at("a2")) // same deadline: creation order
	c.AfterFunc(time.Hour, at("late"))
	c.Advance(2 * time.Second)
	if s := strings.Join(got, " "); s != "a@1s a2@1s" {
		t.Fatalf("after 2 s: %s", s)
	}
	if now := c.Now(); !now.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("Now %v", now)
	}
	c.Advance(time.Second)
	if s := strings.Join(got, " "); s != "a@1s a2@1s c@3s" {
		t.Fatalf("after 3 s: %s", s)
	}
	if c.Pending() != 1 {
		t.Fatalf("Pending %d, want 1", c.Pending())
	}
	c.Advance(-time.Hour) // does not go back
	if !c.Now().Equal(start.Add(3 * time.Second)) {
		t.Fatalf("Now after a negative advance %v", c.Now())
	}
}

func TestFakeCallbackSetsTimersThatFireInTheSameAdvance(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(start)
	var ticks []time.Duration
	var tick func()
	var tm clock.Timer
	tick = func() {
		ticks = append(ticks, c.Now().Sub(start))
		tm.Reset(10 * time.Second) // re-arm from inside the callback, as the broker's alarm does
	}
	tm = c.AfterFunc(10*time.Second, tick)
	c.Advance(35 * time.Second)
	if fmt.Sprint(ticks) != "[10s 20s 30s]" {
		t.Fatalf("ticks %v", ticks)
	}
	if !tm.Stop() || tm.Stop() {
		t.Fatal("Stop: want true once while pending, then false")
	}
	c.Advance(time.Minute)
	if len(ticks) != 3 {
		t.Fatalf("a stopped timer fired: %v", ticks)
	}
}

func TestFakeStopAndReset(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(start)
	fired := 0
	tm := c.AfterFunc(time.Minute, func() { fired++ })
	if !tm.Reset(time.Hour) {
		t.Fatal("Reset of a pending timer returned false")
	}
	c.Advance(time.Minute)
	if fired != 0 {
		t.Fatal("fired at the old deadline")
	}
	c.Advance(time.Hour)
	if fired != 1 || tm.Stop() {
		t.Fatalf("fired %d times; Stop after firing must be false", fired)
	}
	if tm.Reset(0) {
		t.Fatal("Reset of a fired timer returned true")
	}
	if fired != 1 {
		t.Fatal("AfterFunc/Reset must not call f by itself")
	}
	c.Advance(0) // a timer due now fires at the next Advance
	if fired != 2 {
		t.Fatalf("fired %d, want 2", fired)
	}
}

// Concurrent readers, timer setters and advancers: run with -race.
func TestFakeConcurrentUse(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(start)
	var mu sync.Mutex
	fired := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 100 {
				c.AfterFunc(time.Duration(i)*time.Millisecond, func() { mu.Lock(); fired++; mu.Unlock() })
				_ = c.Now()
			}
		})
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Millisecond)
			}
		})
	}
	wg.Wait()
	c.Advance(time.Second)
	if fired != 400 || c.Pending() != 0 {
		t.Fatalf("fired %d pending %d, want 400 and 0", fired, c.Pending())
	}
}

func TestRealIsTheWallClock(t *testing.T) {
	t.Parallel()
	c := clock.Or(nil)
	if _, ok := c.(clock.Real); !ok {
		t.Fatalf("Or(nil) = %T, want Real", c)
	}
	before := time.Now()
	if now := c.Now(); now.Before(before) || now.Sub(before) > time.Minute {
		t.Fatalf("Now %v, wall clock %v", now, before)
	}
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Real timer did not fire")
	}
	fake := clock.NewFake(start)
	if clock.Or(fake) != clock.Clock(fake) {
		t.Fatal("Or changed a non-nil clock")
	}
}
