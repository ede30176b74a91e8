package frames

import "errors"

// Sentinel errors of the frame layer.
var (
	// ErrMalformed reports a frame that cannot be parsed (bad header, bad body, wrong field type).
	ErrMalformed = errors.New("malformed frame")
	// ErrMissingField reports a performative without one of its mandatory fields.
	ErrMissingField = errors.New("mandatory field missing")
	// ErrUnknownPerformative reports a descriptor that names no performative of the frame type.
	ErrUnknownPerformative = errors.New("unknown performative")
	// ErrFrameTooLarge reports a frame above the negotiated max-frame-size.
	ErrFrameTooLarge = errors.New("frame larger than max-frame-size")
)
