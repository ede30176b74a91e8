package sbtest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a fixture leaves goroutines behind after its cleanup.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
