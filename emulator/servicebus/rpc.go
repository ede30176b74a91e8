package servicebus

import (
	"fmt"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// request is a CBS or $management request message.
type request struct {
	id      any    // properties.message-id, echoed as correlation-id
	replyTo string // properties.reply-to: the target address of the client's reply link
	props   map[string]any
	value   any // the amqp-value body
}

// response is the reply to a request.
type response struct {
	code  int32
	desc  string
	value enc.Map // amqp-value body; nil for none
}

func decodeRequest(payload []byte) (*request, error) {
	p, err := parseMessage(payload)
	if err != nil {
		return nil, err
	}
	pr := &p.msg.Properties
	return &request{id: pr.MessageID, replyTo: pr.ReplyTo, props: p.msg.ApplicationProperties, value: p.value}, nil
}

// encodeResponse encodes resp as the answer to req: correlation-id, both spellings of the status
// application properties, and the amqp-value body.
func encodeResponse(req *request, resp *response) ([]byte, error) {
	b := enc.AppendDescriptor(nil, secProperties)
	b, start := enc.BeginComposite(b)
	b = append(b, enc.TypeNull, enc.TypeNull, enc.TypeNull, enc.TypeNull, enc.TypeNull)
	var err error
	if b, err = enc.Append(b, req.id); err != nil {
		return nil, fmt.Errorf("encoding correlation-id: %w", err)
	}
	b = enc.EndList(b, start, 6)
	// Both spellings: the AMQP management draft and the Go SDK read status-code, the
	// JavaScript SDK's management client reads statusCode (as Service Bus sends it).
	b = enc.AppendDescriptor(b, secApplicationProps)
	b, start = enc.BeginComposite(b)
	b = enc.AppendInt(enc.AppendString(b, "statusCode"), resp.code)
	b = enc.AppendString(enc.AppendString(b, "statusDescription"), resp.desc)
	b = enc.AppendInt(enc.AppendString(b, "status-code"), resp.code)
	b = enc.AppendString(enc.AppendString(b, "status-description"), resp.desc)
	b = enc.EndMap(b, start, 8)
	if resp.value != nil {
		b = enc.AppendDescriptor(b, secValue)
		if b, err = enc.AppendMap(b, resp.value); err != nil {
			return nil, fmt.Errorf("encoding response body: %w", err)
		}
	}
	return b, nil
}

// propString reads a string (or symbol) application property.
func propString(m map[string]any, key string) string {
	s, _ := text(m[key])
	return s
}
