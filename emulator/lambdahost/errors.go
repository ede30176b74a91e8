package lambdahost

import "errors"

// Sentinel errors.
var (
	// ErrConfig means the Config is invalid.
	ErrConfig = errors.New("lambdahost: invalid config")
	// ErrUnknownFunction means an invocation named no configured function.
	ErrUnknownFunction = errors.New("lambdahost: unknown function")
	// ErrStopped means the host is stopping or stopped.
	ErrStopped = errors.New("lambdahost: stopped")
	// ErrTimeout means the function did not answer within its timeout; its
	// runtime process was killed and is restarted.
	ErrTimeout = errors.New("task timed out")
	// ErrRuntimeExited means the runtime process died during the
	// invocation (crash, init failure).
	ErrRuntimeExited = errors.New("runtime exited")
	// ErrThrottled means the function is stopped (control API) and did not
	// run, as Lambda throttles a function whose reserved concurrency is 0;
	// the error is a *ThrottledError.
	ErrThrottled = errors.New("lambdahost: throttled")
)

// FunctionError is an error the function reported through
// /invocation/{id}/error (or that the host reports for it, as Lambda does).
type FunctionError struct {
	// Type is errorType (e.g. "*errors.errorString", "Runtime.ExitError").
	Type string `json:"errorType"`
	// Message is errorMessage.
	Message string `json:"errorMessage"`
	// Err is the host-side cause (ErrTimeout, ErrRuntimeExited), if any.
	Err error `json:"-"`
}

func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Unwrap returns the host-side cause.
func (e *FunctionError) Unwrap() error { return e.Err }
