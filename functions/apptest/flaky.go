package apptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/orderflow/orderflow/functions/apptest/attempt"
)

// FlakyAttempt is one invocation intercepted by testdata/flaky (or
// testdata/flakylambda on the Lambda target), as it logs it.
type FlakyAttempt = attempt.Attempt

// FlakyAttempts reads the wrapper's log of intercepted invocations.
func (a *App) FlakyAttempts(t *testing.T) []FlakyAttempt {
	t.Helper()
	raw, err := os.ReadFile(a.flakyLog)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []FlakyAttempt
	s := bufio.NewScanner(bytes.NewReader(raw))
	for s.Scan() {
		var at FlakyAttempt
		if err := json.Unmarshal(s.Bytes(), &at); err != nil {
			t.Fatalf("flaky log line %q: %v", s.Text(), err)
		}
		out = append(out, at)
	}
	return out
}
