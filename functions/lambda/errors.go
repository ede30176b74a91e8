package lambda

import "errors"

// Sentinel errors.
var (
	// ErrUnknownFunction means the function name (ORDERFLOW_FUNCTION or
	// AWS_LAMBDA_FUNCTION_NAME) names none of Functions.
	ErrUnknownFunction = errors.New("unknown function")
	// ErrNotHTTP means an HTTP function got an event that is not an HTTP
	// API payload v2 (or Function URL) request.
	ErrNotHTTP = errors.New("event is not an HTTP API v2 request")
	// ErrQueueKey means a rmqMessagesByQueue key is not "<queue>::<vhost>".
	ErrQueueKey = errors.New("malformed RabbitMQ queue key")
	// ErrWrongQueue means a consumer got messages of a queue that is not
	// its own: the event source mapping is misconfigured.
	ErrWrongQueue = errors.New("messages from another function's queue")
	// ErrInvocation means the app failed an invocation (the batch or
	// scheduled run is retried).
	ErrInvocation = errors.New("invocation failed")
)
