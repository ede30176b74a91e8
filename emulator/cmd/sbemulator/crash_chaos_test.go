//go:build chaos

package main

import (
	"testing"
	"time"
)

// TestChaosEmulatorKill9 is the emulator's crash test in make chaos: many
// SDK producers and consumers through six kill -9 of the emulator with
// -data-dir, then an exact accounting of every message id.
func TestChaosEmulatorKill9(t *testing.T) {
	runCrashPlan(t, crashPlan{kills: 6, producers: 8, consumers: 8, round: 3 * time.Second})
}
