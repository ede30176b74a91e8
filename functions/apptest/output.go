package apptest

import "github.com/orderflow/orderflow/internal/testkit"

// Output collects the host's and the handler's output for assertions and
// for the log of a failed test.
type Output = testkit.Buffer
