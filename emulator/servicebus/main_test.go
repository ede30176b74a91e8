package servicebus_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: every
// connection, session and timer of the server must be gone after Stop, and
// the SDK clients the tests open must be closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
