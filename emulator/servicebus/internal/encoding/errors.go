package encoding

import (
	"errors"
	"fmt"
)

// Sentinel errors of the codec. Decoding errors wrap ErrMalformed so callers can map them to
// amqp:decode-error.
var (
	// ErrMalformed reports input that is not a valid AMQP encoding (truncated, lying lengths, bad codes).
	ErrMalformed = errors.New("malformed AMQP encoding")
	// ErrUnsupportedType reports a Go value the encoder has no AMQP mapping for.
	ErrUnsupportedType = errors.New("unsupported type")
	// ErrBudget reports input that would decode to more memory than its allocation budget
	// (Budget) allows; such errors also wrap ErrMalformed.
	ErrBudget = fmt.Errorf("decoded size exceeds the allocation budget: %w", ErrMalformed)
	// ErrType reports a value whose AMQP type differs from the one a field requires.
	ErrType = errors.New("unexpected AMQP type")
)
