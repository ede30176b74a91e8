package servicebus

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// Management operations (the "operation" application property).
const (
	opRenewLock      = "com.microsoft:renew-lock"
	opPeek           = "com.microsoft:peek-message"
	opReceiveBySeq   = "com.microsoft:receive-by-sequence-number"
	opUpdateDispo    = "com.microsoft:update-disposition"
	opSchedule       = "com.microsoft:schedule-message"
	opCancelSchedule = "com.microsoft:cancel-scheduled-message"
	opListSessions   = "com.microsoft:get-message-sessions"
	opAddRule        = "com.microsoft:add-rule"
	opRemoveRule     = "com.microsoft:remove-rule"
	opEnumerateRules = "com.microsoft:enumerate-rules"
)

// manage answers a request on <entity>/$management. Status codes follow what the SDK expects
// (servicebus-amqp 6): 200 with the documented body types, 204 for an empty peek, 410 for a
// lost lock, 404 for unknown entities or messages. Codes other than 401/404/410 make the SDK
// rebuild its connection, so they are kept for real faults.
func (c *conn) manage(entity broker.Address, req *request) *response {
	op := propString(req.props, "operation")
	if resp := c.authorizeOp(op, entity.Path); resp != nil {
		return resp
	}
	body, _ := req.value.(enc.Map)
	args := mapToProps(body)
	b := c.srv.broker
	path := entity.Path
	if resp := c.manageSession(op, path, req, args); resp != nil {
		return resp
	}
	if resp := c.manageRules(op, entity, args); resp != nil {
		return resp
	}
	switch op {
	case opRenewLock:
		tokens, err := uuidsOf(args["lock-tokens"])
		if err != nil {
			return badRequest(err)
		}
		until, err := b.RenewLock(path, tokens)
		if err != nil {
			return errResponse(err)
		}
		vals := make([]any, len(until))
		for i, t := range until {
			vals[i] = t
		}
		return ok(enc.Map{{Key: "expirations", Value: enc.Array{Code: enc.TypeTimestamp, Values: vals}}})
	case opPeek:
		return c.peek(args, func(from int64, count int) ([]*broker.Message, error) { return b.Peek(path, from, count) })
	case opReceiveBySeq:
		return receiveBySeq(args, func(seqs []int64, mode broker.ReceiveMode) ([]*broker.Message, error) {
			return b.ReceiveBySequenceNumber(path, seqs, mode)
		}, errResponse)
	case opUpdateDispo:
		return c.updateDisposition(path, args)
	case opSchedule:
		list, _ := args["messages"].([]any)
		msgs := make([]*broker.Message, 0, len(list))
		for i, item := range list {
			entry, _ := item.(enc.Map)
			raw, _ := entry.Get("message")
			data, okb := raw.([]byte)
			if !okb {
				return badRequest(fmt.Errorf("messages[%d] has no binary message", i))
			}
			p, err := parseMessage(data)
			if err != nil {
				return badRequest(fmt.Errorf("messages[%d]: %w", i, err))
			}
			p.msg.Size = int32(len(data))
			msgs = append(msgs, &p.msg)
		}
		seqs, err := b.Send(path, msgs)
		if err != nil {
			return errResponse(err)
		}
		vals := make([]any, len(seqs))
		for i, s := range seqs {
			vals[i] = s
		}
		return ok(enc.Map{{Key: "sequence-numbers", Value: enc.Array{Code: enc.TypeLong, Values: vals}}})
	case opCancelSchedule:
		seqs, err := int64sOf(args["sequence-numbers"])
		if err != nil {
			return badRequest(err)
		}
		if err := b.CancelScheduled(path, seqs); err != nil {
			return errResponse(err)
		}
		return &response{code: 200, desc: "OK"}
	}
	return &response{code: 501, desc: fmt.Sprintf("operation %q is not supported by this emulator", op)}
}

func (c *conn) updateDisposition(path string, args map[string]any) *response {
	tokens, err := uuidsOf(args["lock-tokens"])
	if err != nil {
		return badRequest(err)
	}
	var props map[string]any
	if m, isMap := args["properties-to-modify"].(enc.Map); isMap {
		props = mapToProps(m)
	}
	status, _ := text(args["disposition-status"])
	b := c.srv.broker
	for _, tok := range tokens {
		switch status {
		case "completed":
			err = b.Complete(path, tok)
		case "abandoned":
			err = b.Abandon(path, tok, props)
		case "suspended":
			reason, _ := text(args["deadletter-reason"])
			desc, _ := text(args["deadletter-description"])
			err = b.DeadLetter(path, tok, reason, desc, props)
		case "defered", "deferred":
			err = b.Defer(path, tok, props)
		default:
			return badRequest(fmt.Errorf("unknown disposition-status %q", status))
		}
		if err != nil {
			return errResponse(err)
		}
	}
	return &response{code: 200, desc: "OK"}
}

// peek answers peek-message with what read returns: the entity's messages, or a session's for a
// session receiver (management_session.go). 204 when there are none.
func (c *conn) peek(args map[string]any, read func(from int64, count int) ([]*broker.Message, error)) *response {
	from, ok1 := int64Of(args["from-sequence-number"])
	count, ok2 := int64Of(args["message-count"])
	if !ok1 || !ok2 {
		return badRequest(errors.New("peek needs from-sequence-number and message-count"))
	}
	msgs, err := read(from, peekCount(count))
	if err != nil {
		return errResponse(err)
	}
	if len(msgs) == 0 {
		return &response{code: 204, desc: "No messages"}
	}
	return c.peekResponse(msgs)
}

// receiveBySeq answers receive-by-sequence-number with what receive returns (deferred messages
// of the entity, or of a session), its errors mapped by errResp. A receiver-settle-mode of 0
// (settled) asks for receive-and-delete, anything else for a peek-lock.
func receiveBySeq(args map[string]any, receive func(seqs []int64, mode broker.ReceiveMode) ([]*broker.Message, error),
	errResp func(error) *response) *response {
	seqs, err := int64sOf(args["sequence-numbers"])
	if err != nil {
		return badRequest(err)
	}
	mode := broker.PeekLock
	if m, _ := int64Of(args["receiver-settle-mode"]); m == 0 {
		mode = broker.ReceiveAndDelete
	}
	msgs, err := receive(seqs, mode)
	if err != nil {
		return errResp(err)
	}
	return messagesResponse(msgs, mode == broker.PeekLock)
}

// maxPeekCount caps the message-count of one peek: a client asking for more gets at most this
// many and continues from the last sequence number, as it does after any short answer.
const maxPeekCount = 1000

func peekCount(requested int64) int { return int(min(max(requested, 0), maxPeekCount)) }

// peekResponse answers a peek with the first messages of msgs whose encoding fits in
// MaxMessageSize (at least one): peeked messages stay in the entity, so a short answer loses
// nothing, and a response never costs much more than the largest message.
func (c *conn) peekResponse(msgs []*broker.Message) *response {
	return encodeMessages(msgs, false, int(c.srv.cfg.MaxMessageSize))
}

// messagesResponse encodes messages as the SDK reads them: a list of maps {message: binary}.
func messagesResponse(msgs []*broker.Message, locked bool) *response {
	return encodeMessages(msgs, locked, 0)
}

// encodeMessages is messagesResponse that stops before the encoded messages exceed limit bytes
// (0: no limit), keeping at least one.
func encodeMessages(msgs []*broker.Message, locked bool, limit int) *response {
	list := make([]any, 0, len(msgs))
	size := 0
	for _, m := range msgs {
		raw, err := encodeDelivered(m, locked && m.LockToken != uuid.Nil)
		if err != nil {
			return &response{code: 500, desc: err.Error()}
		}
		if size += len(raw); limit > 0 && len(list) > 0 && size > limit {
			break
		}
		entry := enc.Map{{Key: "message", Value: raw}}
		if locked && m.LockToken != uuid.Nil {
			// The Go SDK reads the x-opt-lock-token delivery annotation inside the message; the
			// JavaScript SDK reads this entry, as the request-response documentation lists it.
			entry = append(entry, enc.Pair{Key: "lock-token", Value: enc.UUID(m.LockToken)})
		}
		list = append(list, entry)
	}
	return ok(enc.Map{{Key: "messages", Value: list}})
}

func ok(v enc.Map) *response { return &response{code: 200, desc: "OK", value: v} }

func badRequest(err error) *response { return &response{code: 400, desc: err.Error()} }

// errResponse maps broker errors to the status codes the SDK understands.
func errResponse(err error) *response {
	switch {
	case errors.Is(err, broker.ErrLockLost):
		return &response{code: 410, desc: err.Error()}
	case errors.Is(err, broker.ErrNotFound), errors.Is(err, broker.ErrMessageNotFound):
		return &response{code: 404, desc: err.Error()}
	case errors.Is(err, broker.ErrExists):
		return &response{code: 409, desc: err.Error()}
	case errors.Is(err, broker.ErrInvalid), errors.Is(err, broker.ErrNotAllowed):
		return &response{code: 400, desc: err.Error()}
	case errors.Is(err, broker.ErrQuotaExceeded):
		return &response{code: 403, desc: err.Error()}
	}
	return &response{code: 500, desc: err.Error()}
}

// int64Of reads any AMQP integer as int64.
func int64Of(v any) (int64, bool) {
	switch t := v.(type) {
	case int64:
		return t, true
	case int32:
		return int64(t), true
	case int16:
		return int64(t), true
	case int8:
		return int64(t), true
	case uint64:
		return int64(t), true
	case uint32:
		return int64(t), true
	case uint16:
		return int64(t), true
	case uint8:
		return int64(t), true
	}
	return 0, false
}

// elements returns the items of an AMQP array or list.
func elements(v any) ([]any, bool) {
	switch t := v.(type) {
	case enc.Array:
		return t.Values, true
	case []any:
		return t, true
	}
	return nil, false
}

func int64sOf(v any) ([]int64, error) {
	items, isSeq := elements(v)
	if !isSeq {
		return nil, fmt.Errorf("sequence-numbers of type %T", v)
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, isInt := int64Of(it)
		if !isInt {
			return nil, fmt.Errorf("sequence number of type %T", it)
		}
		out[i] = n
	}
	return out, nil
}

func uuidsOf(v any) ([]uuid.UUID, error) {
	items, isSeq := elements(v)
	if !isSeq || len(items) == 0 {
		return nil, fmt.Errorf("lock-tokens of type %T", v)
	}
	out := make([]uuid.UUID, len(items))
	for i, it := range items {
		u, isUUID := lockTokenOf(it)
		if !isUUID {
			return nil, fmt.Errorf("lock token of type %T", it)
		}
		out[i] = u
	}
	return out, nil
}
