package bus

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrClosed is returned by a publisher after Close.
	ErrClosed = errors.New("publisher closed")
	// ErrNotConfirmed means the broker refused (nacked) a message or the
	// channel closed before it confirmed it.
	ErrNotConfirmed = errors.New("message not confirmed by broker")
)

// BrokerError carries the broker's own reason for a failure.
type BrokerError struct {
	// Broker is "rabbitmq" or "servicebus".
	Broker string
	// Op is what was being done ("dial", "declare", "publish", ...).
	Op string
	// Err is the broker or client error.
	Err error
}

func (e *BrokerError) Error() string { return fmt.Sprintf("%s %s: %v", e.Broker, e.Op, e.Err) }

// Unwrap returns the underlying error.
func (e *BrokerError) Unwrap() error { return e.Err }
