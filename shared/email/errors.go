package email

import "errors"

// Sentinel errors.
var (
	// ErrNoRecipient is returned for a message without a valid recipient.
	ErrNoRecipient = errors.New("email has no valid recipient")
)
