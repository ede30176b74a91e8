package apptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// FlakyAttempt is one invocation intercepted by testdata/flaky (or
// testdata/flakylambda on the Lambda target), as it logs it.
type FlakyAttempt struct {
	Function  string `json:"function"`
	MessageID string `json:"messageId"`
	// DeliveryCount is Metadata.DeliveryCount (Service Bus).
	DeliveryCount string `json:"deliveryCount"`
	// RequeueCount is the x-ms-rabbitmq-requeuecount header (RabbitMQ); nil
	// when absent.
	RequeueCount *int64 `json:"requeueCount"`
	// Redelivered is the redelivered flag of an Amazon MQ event's message
	// (Lambda target); nil otherwise.
	Redelivered *bool `json:"redelivered"`
	// Outcome is injected-failure, handled-then-killed or forwarded.
	Outcome string `json:"outcome"`
}

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
