package email

import "errors"

// Sentinel errors.
var (
	// ErrNoRecipient is returned for a message without a valid recipient.
	ErrNoRecipient = errors.New("email has no valid recipient")
	// ErrHeader is returned for a header value that cannot be written
	// safely (a line break, an unparsable address or Message-ID).
	ErrHeader = errors.New("email header value refused")
)
