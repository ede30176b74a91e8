package servicebus

import (
	"errors"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// Session operations of $management (servicebus-amqp 6.2).
const (
	opRenewSessionLock = "com.microsoft:renew-session-lock"
	opGetSessionState  = "com.microsoft:get-session-state"
	opSetSessionState  = "com.microsoft:set-session-state"
)

// listSessionsDefaultMode: a last-updated-time at or beyond .NET's DateTime.MaxValue (the Go SDK
// sends 10000-01-01) asks for sessions with messages or state rather than "state updated since".
var listSessionsDefaultMode = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// manageSession answers the session operations, and peek and receive-by-sequence-number on behalf
// of a session receiver (associated-link-name names a session link of this connection), which
// see only its session's messages. It returns nil for requests that are not session-scoped.
func (c *conn) manageSession(op, path string, req *request, args map[string]any) *response {
	b := c.srv.broker
	switch op {
	case opListSessions:
		return c.listSessions(path, args)
	case opRenewSessionLock:
		id, err := sessionIDArg(args)
		if err != nil {
			return badRequest(err)
		}
		var until time.Time
		// A request naming its link renews only that link's lock: a link whose lock lapsed (and
		// was detached) must not renew the lock another receiver took since. Without a link
		// name the session's current lock is renewed, whoever holds it.
		name := propString(req.props, "associated-link-name")
		switch sr := c.sessionReceiver(name); {
		case sr != nil && sr.SessionID() == id:
			until, err = sr.RenewLock()
		case name != "":
			err = fmt.Errorf("session %q of %s: link %q holds no lock on it: %w", id, path, name, broker.ErrSessionLockLost)
		default:
			until, err = b.RenewSessionLock(path, id)
		}
		if err != nil {
			return sessionErrResponse(err)
		}
		return ok(enc.Map{{Key: "expiration", Value: until}})
	case opGetSessionState:
		id, err := sessionIDArg(args)
		if err != nil {
			return badRequest(err)
		}
		state, err := b.SessionState(path, id)
		if err != nil {
			return sessionErrResponse(err)
		}
		var v any // null when no state is set: the SDKs return nil/undefined
		if state != nil {
			v = state
		}
		return ok(enc.Map{{Key: "session-state", Value: v}})
	case opSetSessionState:
		id, err := sessionIDArg(args)
		if err != nil {
			return badRequest(err)
		}
		var state []byte
		switch v := args["session-state"].(type) {
		case []byte:
			state = v
		case nil:
		default:
			return badRequest(fmt.Errorf("session-state of type %T: want binary", v))
		}
		if err := b.SetSessionState(path, id, state); err != nil {
			return sessionErrResponse(err)
		}
		return &response{code: 200, desc: "OK"}
	case opPeek:
		sr := c.sessionReceiver(propString(req.props, "associated-link-name"))
		if sr == nil {
			return nil
		}
		return c.peek(args, func(from int64, count int) ([]*broker.Message, error) {
			return b.PeekSession(path, sr.SessionID(), from, count)
		})
	case opReceiveBySeq:
		sr := c.sessionReceiver(propString(req.props, "associated-link-name"))
		if sr == nil {
			return nil
		}
		return receiveBySeq(args, sr.ReceiveDeferred, sessionErrResponse)
	}
	return nil
}

// listSessions answers get-message-sessions: 200 with sessions-ids (array of string), or 204
// when there are none. An entity without sessions has none.
func (c *conn) listSessions(path string, args map[string]any) *response {
	var updatedAfter time.Time
	if t, isTime := args["last-updated-time"].(time.Time); isTime && t.Before(listSessionsDefaultMode) {
		updatedAfter = t
	}
	skip, _ := int64Of(args["skip"])
	top, _ := int64Of(args["top"])
	ids, err := c.srv.broker.ListSessions(path, updatedAfter, int(skip), int(top))
	switch {
	case errors.Is(err, broker.ErrNotAllowed):
		return &response{code: 204, desc: "No sessions: the entity does not require sessions"}
	case err != nil:
		return errResponse(err)
	case len(ids) == 0:
		return &response{code: 204, desc: "No sessions"}
	}
	vals := make([]any, len(ids))
	for i, id := range ids {
		vals[i] = id
	}
	return ok(enc.Map{{Key: "sessions-ids", Value: enc.Array{Code: enc.TypeStr32, Values: vals}}})
}

func sessionIDArg(args map[string]any) (string, error) {
	id, isText := text(args["session-id"])
	if !isText {
		return "", fmt.Errorf("session-id of type %T: want string", args["session-id"])
	}
	return id, nil
}

// sessionErrResponse maps session errors: a lost session lock is 410 (the SDKs' lock lost), a
// session request on an entity without sessions 400.
func sessionErrResponse(err error) *response {
	if errors.Is(err, broker.ErrSessionLockLost) {
		return &response{code: 410, desc: err.Error()}
	}
	return errResponse(err)
}
