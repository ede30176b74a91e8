package order

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors.
var (
	// ErrInvalidTransition is returned when an order cannot move to the
	// requested status from its current one.
	ErrInvalidTransition = errors.New("invalid order status transition")
	// ErrUnsupportedEvent is returned for an event whose type or version
	// this code does not understand.
	ErrUnsupportedEvent = errors.New("unsupported event")
)

// Kind classifies a ValidationError.
type Kind int

const (
	// Malformed means the input is not the expected JSON document at all:
	// syntax errors, wrong types, unknown fields, trailing data.
	Malformed Kind = iota + 1
	// Invalid means the input is well-formed but breaks a rule: a missing
	// field, a value out of range, an unknown product.
	Invalid
)

// FieldError is one problem with one input field. Field uses a JSON-path-like
// notation: "customerEmail", "items[2].quantity".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError reports a client mistake. It is always safe to show to the
// client and never means the server failed.
type ValidationError struct {
	Kind   Kind
	Detail string
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(e.Detail)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	return b.String()
}

// fieldErrors collects field errors in input order.
type fieldErrors []FieldError

func (fe *fieldErrors) add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (fe fieldErrors) err(detail string) error {
	if len(fe) == 0 {
		return nil
	}
	return &ValidationError{Kind: Invalid, Detail: detail, Fields: fe}
}
