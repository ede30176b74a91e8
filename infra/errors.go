package infra

import (
	"errors"
	"fmt"
)

// Sentinels of the Bicep reader; the wrapped error carries the position.
var (
	// ErrUnterminated reports a string or block comment that never ends.
	ErrUnterminated = errors.New("unterminated string or comment")
	// ErrUnbalanced reports a closing bracket without its opener, or the
	// reverse, at the end of the file.
	ErrUnbalanced = errors.New("unbalanced brackets")
	// ErrStatement reports a top-level line that starts no known statement,
	// typically an expression continued outside brackets, which the reader
	// cannot follow.
	ErrStatement = errors.New("not a statement")
)

// Finding is one violation found by a check, located in a Bicep file (or in
// another file the check reads). Checks return several findings joined with
// errors.Join.
type Finding struct {
	// File is the path of the offending file as given to the check.
	File string
	// Line is the 1-based line, or 0 when the finding is about a whole file.
	Line int
	// Msg says what is wrong, in terms of the rule broken.
	Msg string
}

// Error formats the finding as file:line: msg, the form editors jump to.
func (f *Finding) Error() string {
	if f.Line == 0 {
		return fmt.Sprintf("%s: %s", f.File, f.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", f.File, f.Line, f.Msg)
}
