package funchost

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrConfig reports an unusable app folder (host.json, function.json, settings).
	ErrConfig = errors.New("invalid function app configuration")
	// ErrHandlerUnavailable means no handler instance can take the invocation:
	// the host is stopping or the supervisor gave up after repeated failures.
	ErrHandlerUnavailable = errors.New("handler unavailable")
	// ErrGaveUp means the handler failed too often within the restart window;
	// the real host stops the whole app in that case.
	ErrGaveUp = errors.New("handler failed repeatedly; host gave up")
	// ErrTimeout means functionTimeout elapsed before the handler answered.
	ErrTimeout = errors.New("function timeout exceeded")
	// ErrBadResponse means the handler answered with something the real host
	// rejects (non-2xx, wrong content type, unreadable JSON, empty body).
	ErrBadResponse = errors.New("invalid handler response")
	// ErrFunctionNotFound means no enabled function has that name.
	ErrFunctionNotFound = errors.New("function not found")
	// ErrRoute reports an invalid HTTP route template.
	ErrRoute = errors.New("invalid route template")
	// ErrSchedule reports an invalid timer schedule.
	ErrSchedule = errors.New("invalid timer schedule")
)

// InvocationError describes a failed invocation: which function, which handler
// instance, and the reason the handler (or the host) gave.
type InvocationError struct {
	Function     string
	InvocationID string
	// Instance is the handler instance index, -1 if none was reached.
	Instance int
	// StatusCode is the handler's HTTP status, 0 if it sent none.
	StatusCode int
	// Reason is the peer's explanation, e.g. a sanitised response body.
	Reason string
	// Err is the category (one of the sentinels above) or the transport error.
	Err error
}

func (e *InvocationError) Error() string {
	msg := fmt.Sprintf("invoking %s (id %s, instance %d)", e.Function, e.InvocationID, e.Instance)
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(": status %d", e.StatusCode)
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *InvocationError) Unwrap() error { return e.Err }

// ConfigError is a broken host.json or function.json: it names the file
// (relative to the app root, e.g. "ProcessOrder/function.json") and the
// field ("bindings[0].connection", "extensions.serviceBus.prefetchCount"),
// on one line, as the real host's start-up checks do. It matches ErrConfig.
type ConfigError struct {
	File  string
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return e.File + ": " + e.Field + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// bindingError is a problem with a field of the binding being built; New
// fills in the file and the binding's index.
func bindingError(field, format string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// hostError is a problem with a field of host.json.
func hostError(field, format string, args ...any) *ConfigError {
	return &ConfigError{File: "host.json", Field: field, Msg: fmt.Sprintf(format, args...)}
}
