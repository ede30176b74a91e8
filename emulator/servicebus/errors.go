package servicebus

import (
	"errors"
	"fmt"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// Condition is an AMQP error condition symbol.
type Condition string

// Conditions the server sends (AMQP 1.0 part 2, section 2.8.15-2.8.18, and the Service Bus vendor ones).
const (
	CondInternalError       Condition = "amqp:internal-error"
	CondUnauthorizedAccess  Condition = "amqp:unauthorized-access"
	CondNotFound            Condition = "amqp:not-found"
	CondDecodeError         Condition = "amqp:decode-error"
	CondResourceLimit       Condition = "amqp:resource-limit-exceeded"
	CondNotAllowed          Condition = "amqp:not-allowed"
	CondInvalidField        Condition = "amqp:invalid-field"
	CondNotImplemented      Condition = "amqp:not-implemented"
	CondFramingError        Condition = "amqp:connection:framing-error"
	CondConnectionForced    Condition = "amqp:connection:forced"
	CondUnattachedHandle    Condition = "amqp:session:unattached-handle"
	CondHandleInUse         Condition = "amqp:session:handle-in-use"
	CondWindowViolation     Condition = "amqp:session:window-violation"
	CondDetachForced        Condition = "amqp:link:detach-forced"
	CondMessageSizeExceeded Condition = "amqp:link:message-size-exceeded"
	CondTransferLimit       Condition = "amqp:link:transfer-limit-exceeded"
	CondMessageLockLost     Condition = "com.microsoft:message-lock-lost"
	CondMessageNotFound     Condition = "com.microsoft:message-not-found"
	CondDeadLetter          Condition = "com.microsoft:dead-letter"
	// CondQuotaExceeded refuses a message to an entity at its MaxSizeInMegabytes. It is AMQP's
	// resource-limit-exceeded, as Service Bus sends for a full entity: the .NET client turns it
	// into its QuotaExceeded error and the Go SDK takes it as final. A vendor condition
	// (com.microsoft:quota-exceeded) is unknown to the Go SDK, which retried it for about 30 s.
	CondQuotaExceeded = CondResourceLimit

	// Session conditions: the SDKs map them to SessionCannotBeLocked / lock lost / CodeTimeout.
	CondSessionCannotBeLocked Condition = "com.microsoft:session-cannot-be-locked"
	CondSessionLockLost       Condition = "com.microsoft:session-lock-lost"
	CondTimeout               Condition = "com.microsoft:timeout"
)

// Sentinel errors of the server.
var (
	// ErrSASLRequired reports a client that skipped SASL while AllowAnonymous is off.
	ErrSASLRequired = errors.New("SASL is required: connect with the SASL protocol header")
	// ErrTLSConfig reports a TLS certificate that cannot be loaded, generated or stored.
	ErrTLSConfig = errors.New("invalid TLS configuration")
	// ErrProtocolHeader reports a peer that sent an unsupported protocol header.
	ErrProtocolHeader = errors.New("unsupported AMQP protocol header")
	// ErrConfig reports a Config field with a value Start refuses.
	ErrConfig = errors.New("invalid configuration")
	// ErrLogFailed: the write-ahead log failed and the server failed stop
	// (docs/servicebus-durability.md); restart it to recover.
	ErrLogFailed = errors.New("the write-ahead log failed; the emulator stopped serving")

	// errPropertyType reports an application property of a type Service Bus does not allow.
	errPropertyType = errors.New("only simple types are allowed in application properties")
)

// connError ends a connection: the server sends close with this condition.
type connError struct {
	Condition   Condition
	Description string
	Err         error
}

func (e *connError) Error() string {
	return layerError("connection", e.Condition, e.Description, e.Err)
}
func (e *connError) Unwrap() error { return e.Err }

// sessionError ends one session with this condition; the connection survives.
type sessionError struct {
	Condition   Condition
	Description string
	Err         error
}

func (e *sessionError) Error() string {
	return layerError("session", e.Condition, e.Description, e.Err)
}
func (e *sessionError) Unwrap() error { return e.Err }

// linkError detaches one link (closed=true) with this condition; the session survives.
type linkError struct {
	Condition   Condition
	Description string
	Err         error
}

func (e *linkError) Error() string { return layerError("link", e.Condition, e.Description, e.Err) }
func (e *linkError) Unwrap() error { return e.Err }

func layerError(layer string, c Condition, desc string, err error) string {
	s := fmt.Sprintf("%s error %s", layer, c)
	if desc != "" {
		s += ": " + desc
	}
	if err != nil {
		s += ": " + err.Error()
	}
	return s
}

// amqpError builds the wire error of a condition.
func amqpError(c Condition, desc string) *frames.Error {
	return &frames.Error{Condition: enc.Symbol(c), Description: desc}
}
