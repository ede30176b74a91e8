package broker

import "errors"

// Sentinel errors. Every error the broker returns wraps one of these, so the
// wire layer can map them with errors.Is to AMQP conditions and $management
// status codes (suggested mapping in each comment).
var (
	// ErrNotFound: the address names no queue, topic, subscription or
	// dead-letter queue. Wire: status 404 / amqp:not-found.
	ErrNotFound = errors.New("messaging entity not found")

	// ErrQuotaExceeded reports a send to a queue or topic that holds its MaxSizeInMegabytes.
	ErrQuotaExceeded = errors.New("quota exceeded")

	// ErrMessageNotFound: a sequence number given to ReceiveBySequenceNumber
	// or CancelScheduled names no message in the required state.
	// Wire: status 404 / com.microsoft:message-not-found.
	ErrMessageNotFound = errors.New("message not found")

	// ErrLockLost: the lock token is unknown on the entity or its lock has
	// expired. Wire: status 410 / com.microsoft:message-lock-lost.
	ErrLockLost = errors.New("the lock supplied is invalid: it has expired or is unknown")

	// ErrExists: an entity of that name already exists. Wire (admin API): 409.
	ErrExists = errors.New("messaging entity already exists")

	// ErrNotAllowed: the operation is not valid for this kind of entity, e.g.
	// sending to a subscription or dead-letter queue, receiving from a
	// topic, dead-lettering a message that is already in a dead-letter queue.
	// Wire: amqp:not-allowed.
	ErrNotAllowed = errors.New("operation not allowed on this entity")

	// ErrInvalid: an argument is malformed (empty name, negative duration...).
	// Wire: amqp:invalid-field / status 400.
	ErrInvalid = errors.New("invalid argument")

	// ErrDisabled: the entity's status (SetStatus) refuses the operation.
	// Always joined with ErrNotAllowed. Wire: amqp:not-allowed.
	ErrDisabled = errors.New("messaging entity is disabled")

	// ErrStopped: the broker has been stopped; blocking calls return it.
	ErrStopped = errors.New("broker stopped")

	// ErrClosed: the Receiver has been closed.
	ErrClosed = errors.New("receiver closed")

	// ErrSessionLocked: the session is locked by another session receiver.
	// Wire: com.microsoft:session-cannot-be-locked.
	ErrSessionLocked = errors.New("the requested session cannot be locked: it is locked by another receiver")

	// ErrSessionLockLost: the session lock expired or was released (the
	// receiver closed, or another receiver holds the session now).
	// Wire: com.microsoft:session-lock-lost / status 410.
	ErrSessionLockLost = errors.New("the session lock has expired or was released")

	// ErrNoSession: AcceptNextSession found no unlocked session with
	// available messages before its context ended. Wire: com.microsoft:timeout.
	ErrNoSession = errors.New("no unlocked session with available messages")
)
