// Package attempt is the log of invocations the fault-injecting wrappers
// (functions/apptest/testdata/flaky and flakylambda) intercept: one JSON
// line per attempt, written by the wrappers and read back by the tests. It
// has no testing import, so the wrappers' binaries can use it.
package attempt

import (
	"encoding/json"
	"os"
	"sync"
)

// Attempt is one intercepted invocation.
type Attempt struct {
	Function  string `json:"function"`
	MessageID string `json:"messageId"`
	// DeliveryCount is Metadata.DeliveryCount (Service Bus).
	DeliveryCount string `json:"deliveryCount,omitempty"`
	// RequeueCount is the x-ms-rabbitmq-requeuecount header (RabbitMQ); nil
	// when absent.
	RequeueCount *int64 `json:"requeueCount,omitempty"`
	// Redelivered is the redelivered flag of an Amazon MQ event's message
	// (Lambda target); nil otherwise.
	Redelivered *bool `json:"redelivered,omitempty"`
	// Outcome is injected-failure, handled-then-killed or forwarded.
	Outcome string `json:"outcome"`
}

var mu sync.Mutex

// Append adds a to the log at path; an empty path logs nothing. Errors are
// dropped: the wrapper must behave like the handler it wraps whatever
// happens to its log, and a missing line fails the test that reads it.
func Append(path string, a Attempt) {
	if path == "" {
		return
	}
	line, _ := json.Marshal(a)
	mu.Lock()
	defer mu.Unlock()
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer fh.Close()
	_, _ = fh.Write(append(line, '\n'))
}
