package broker_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind (timers
// must be gone after Stop).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
