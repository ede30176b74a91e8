package handler

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/orderflow/orderflow/internal/jsonw"
)

// The invocation envelope is decoded once, into the few values the
// functions read, without building maps: the values alias the request
// body. Anything outside the plain shape the host sends (escaped or
// case-variant member names, a repeated Data or Metadata, a non-object
// where an object belongs, invalid JSON) goes through encoding/json as
// before, so odd and bad invocations decode and fail exactly as they did.
// envelope_test.go holds the fast path to encoding/json.

// InvocationData holds the Data members the functions read.
type InvocationData struct {
	// Message is Data.message, a queue trigger's message.
	Message json.RawMessage
	// Req is Data.req, an HTTP trigger's request in payload mode.
	Req json.RawMessage
}

func (d *InvocationData) set(key []byte, raw json.RawMessage) {
	switch string(key) {
	case queueTriggerName:
		d.Message = raw
	case httpTriggerName:
		d.Req = raw
	}
}

// Metadata holds the Metadata members (binding data) the functions read.
// A member the host did not send is nil.
type Metadata struct {
	// Service Bus.
	MessageID, DeliveryCount, ApplicationProperties json.RawMessage
	// RabbitMQ.
	BasicProperties, Redelivered, Exchange, RoutingKey json.RawMessage
}

func (m *Metadata) set(key []byte, raw json.RawMessage) {
	switch string(key) {
	case "MessageId":
		m.MessageID = raw
	case "DeliveryCount":
		m.DeliveryCount = raw
	case "ApplicationProperties":
		m.ApplicationProperties = raw
	case "BasicProperties":
		m.BasicProperties = raw
	case "Redelivered":
		m.Redelivered = raw
	case "Exchange":
		m.Exchange = raw
	case "RoutingKey":
		m.RoutingKey = raw
	}
}

// decodeInvocation decodes a non-empty invocation body.
func decodeInvocation(b []byte) (Invocation, error) {
	if inv, ok := scanInvocation(b); ok {
		return inv, nil
	}
	var generic genericInvocation
	if err := json.Unmarshal(b, &generic); err != nil {
		return Invocation{}, err
	}
	var inv Invocation
	for k, v := range generic.Data {
		inv.Data.set([]byte(k), v)
	}
	for k, v := range generic.Metadata {
		inv.Metadata.set([]byte(k), v)
	}
	return inv, nil
}

// genericInvocation is the envelope as encoding/json decodes it, for the
// slow path.
type genericInvocation struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// scanInvocation is the fast path of decodeInvocation; false means "ask
// encoding/json".
func scanInvocation(b []byte) (Invocation, bool) {
	var inv Invocation
	if !json.Valid(b) {
		return inv, false
	}
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return inv, true // null leaves the invocation empty
	}
	var data, meta bool
	ok := jsonw.Members(b, func(key, raw []byte) bool {
		switch string(key) {
		case "Data":
			if data {
				return false // encoding/json merges repeated objects
			}
			data = true
			return members(raw, inv.Data.set)
		case "Metadata":
			if meta {
				return false
			}
			meta = true
			return members(raw, inv.Metadata.set)
		}
		// encoding/json matches field names case-insensitively, with
		// Unicode folding; such names are left to it.
		return !bytes.EqualFold(key, []byte("Data")) && !bytes.EqualFold(key, []byte("Metadata")) && ascii(key)
	})
	return inv, ok
}

// members calls set for each member of the object raw (null: none), false
// for any other value. Later members overwrite earlier ones of the same
// name, as a map does.
func members(raw json.RawMessage, set func([]byte, json.RawMessage)) bool {
	if string(raw) == "null" {
		return true
	}
	return jsonw.Members(raw, func(key, v []byte) bool {
		set(key, v)
		return true
	})
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// unmarshalString is json.Unmarshal(raw, &s) for a string s, reporting
// whether it succeeded, without reflection for the plain strings the host
// sends (ASCII, simple escapes).
func unmarshalString[S ~[]byte | ~string](raw S) (string, bool) {
	if s, ok := jsonw.UnquoteASCII(raw); ok {
		return s, true
	}
	// Only a string or null decodes into a string; anything else fails.
	i := 0
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	if i == len(raw) || (raw[i] != '"' && raw[i] != 'n') {
		return "", false
	}
	var s string
	return s, json.Unmarshal([]byte(raw), &s) == nil
}

// writeInvocationResult answers an invocation with no outputs and the given
// log lines: the bytes json.Marshal gives InvocationResult{Outputs:
// map[string]any{}, Logs: logs}, without reflection.
func writeInvocationResult(w http.ResponseWriter, code int, logs []string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(appendInvocationResult(nil, logs))
}

func appendInvocationResult(b []byte, logs []string) []byte {
	n := 64
	for _, l := range logs {
		n += len(l) + 8
	}
	b = append(make([]byte, 0, len(b)+n), b...)
	b = append(b, `{"Outputs":{},"Logs":`...)
	if logs == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, l := range logs {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.AppendString(b, l, true)
		}
		b = append(b, ']')
	}
	return append(b, `,"ReturnValue":null}`...)
}
