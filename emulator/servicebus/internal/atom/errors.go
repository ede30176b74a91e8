package atom

import "errors"

// ErrSyntax reports a body that is not a well-formed description entry (or
// one beyond the bounds of Parse). Parse wraps it with the reason.
var ErrSyntax = errors.New("malformed ATOM entry")
