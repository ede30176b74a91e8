package config

import "errors"

// Sentinel errors; Parse and Load wrap them (joined with errors.Join when a
// file has several problems), naming the entity and field at fault.
var (
	// ErrSyntax: the file is not JSON (after removing comments).
	ErrSyntax = errors.New("syntax error")
	// ErrInvalid: a value is missing, malformed, duplicated or out of range.
	ErrInvalid = errors.New("invalid configuration")
	// ErrUnsupported: the file uses a feature this emulator does not
	// implement, refused rather than half-applied. Every setting of the
	// official schema is implemented now, so Parse does not return it;
	// callers may still test for it.
	ErrUnsupported = errors.New("not supported yet")
)
