package wal

import "errors"

// Sentinel errors; every error the package returns wraps one of these or an
// I/O error from the operating system.
var (
	// ErrClosed: the log was closed (or abandoned) before the record was
	// made durable, or Append was called after Close.
	ErrClosed = errors.New("write-ahead log closed")

	// ErrTooLarge: a record exceeds MaxRecordSize.
	ErrTooLarge = errors.New("write-ahead log record too large")

	// ErrEmpty: a record has no bytes (records are never empty, so that a
	// zero-filled tail is not mistaken for records).
	ErrEmpty = errors.New("empty write-ahead log record")

	// ErrCorrupt: a record in the middle of the log (not a torn tail) fails
	// its checksum, so replaying further would skip acknowledged records.
	ErrCorrupt = errors.New("write-ahead log corrupt")

	// ErrUnreadable: ReadAt could not read back a whole record at the
	// position it was given (its file is closed, or the bytes there are
	// not a record).
	ErrUnreadable = errors.New("write-ahead log record unreadable")
)
