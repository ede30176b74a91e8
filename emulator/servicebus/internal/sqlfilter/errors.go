package sqlfilter

import (
	"errors"
	"fmt"
)

// Sentinels. Parse errors are *SyntaxError values that unwrap to ErrSyntax
// (or to ErrTooLong / ErrTooManyStatements / ErrUndefinedParameter);
// evaluation errors are *EvalError values that unwrap to ErrTypeMismatch,
// ErrDivideByZero, ErrOverflow, ErrInvalidEscape or ErrUnknownSystemProperty.
var (
	// ErrSyntax: the text is not a valid filter or action.
	ErrSyntax = errors.New("syntax error")
	// ErrTooLong: the text is longer than MaxExpressionLength UTF-16 code units.
	ErrTooLong = errors.New("expression too long")
	// ErrTooManyStatements: an action has more than MaxActionStatements statements.
	ErrTooManyStatements = errors.New("too many action statements")
	// ErrUndefinedParameter: the text names an @parameter that was not supplied,
	// or a supplied parameter has a type the service does not allow.
	ErrUndefinedParameter = errors.New("undefined parameter")

	// ErrTypeMismatch: an operator was applied to operand types it is not
	// defined for (for example a string compared with a number).
	ErrTypeMismatch = errors.New("type mismatch")
	// ErrDivideByZero: integer division or remainder by zero.
	ErrDivideByZero = errors.New("division by zero")
	// ErrOverflow: an integer operation that C# reports as overflow
	// (MinInt64 / -1).
	ErrOverflow = errors.New("arithmetic overflow")
	// ErrInvalidEscape: a LIKE escape that is not exactly one character, or a
	// pattern that ends with the escape character.
	ErrInvalidEscape = errors.New("invalid LIKE escape")
	// ErrUnknownSystemProperty: property('sys.X') named no system property.
	ErrUnknownSystemProperty = errors.New("unknown system property")
)

// SyntaxError is a parse error with its 1-based position in the text.
type SyntaxError struct {
	// Line and Column are 1-based; Column counts Unicode code points.
	Line, Column int
	// Offset is the 0-based byte offset.
	Offset int
	// Msg says what was wrong, e.g. `expected expression after "="`.
	Msg string
	// Err is the sentinel the error unwraps to (ErrSyntax unless set).
	Err error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("sqlfilter: %d:%d: %s", e.Line, e.Column, e.Msg)
}

// Unwrap returns the sentinel.
func (e *SyntaxError) Unwrap() error {
	if e.Err == nil {
		return ErrSyntax
	}
	return e.Err
}

// EvalError is a failure to evaluate a filter or action against one message;
// the broker treats the rule as not matching and logs it.
type EvalError struct {
	// Line and Column locate the failing operator in the text (1-based).
	Line, Column int
	// Err wraps one of the evaluation sentinels with details.
	Err error
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("sqlfilter: %d:%d: %v", e.Line, e.Column, e.Err)
}

// Unwrap returns the wrapped error.
func (e *EvalError) Unwrap() error { return e.Err }
