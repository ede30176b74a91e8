package handler

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The envelope decoding as it was before the typed decoder: the body into
// maps with encoding/json, then each value decoded again. Kept, unchanged
// but for the names, as the oracle of envelope.go.

// checkEnvelope decodes body both ways and requires the same error, the
// same values, and the same event bytes, delivery note and delivery facts.
func checkEnvelope(t *testing.T, body []byte) {
	t.Helper()
	var old genericInvocation // the former Invocation's shape
	oerr := json.Unmarshal(body, &old)
	inv, err := decodeInvocation(body)
	if (err == nil) != (oerr == nil) || (err != nil && err.Error() != oerr.Error()) {
		t.Fatalf("decoding %q: error %v, encoding/json %v", body, err, oerr)
	}
	if err != nil {
		return
	}
	same := func(name string, got json.RawMessage, want json.RawMessage, present bool) {
		t.Helper()
		if (got != nil) != present || !bytes.Equal(got, want) {
			t.Fatalf("%s of %q: %q (present %v), encoding/json %q (present %v)", name, body, got, got != nil, want, present)
		}
	}
	for _, c := range []struct {
		name string
		got  json.RawMessage
		m    map[string]json.RawMessage
		key  string
	}{
		{"Data.message", inv.Data.Message, old.Data, "message"},
		{"Data.req", inv.Data.Req, old.Data, "req"},
		{"MessageId", inv.Metadata.MessageID, old.Metadata, "MessageId"},
		{"DeliveryCount", inv.Metadata.DeliveryCount, old.Metadata, "DeliveryCount"},
		{"ApplicationProperties", inv.Metadata.ApplicationProperties, old.Metadata, "ApplicationProperties"},
		{"BasicProperties", inv.Metadata.BasicProperties, old.Metadata, "BasicProperties"},
		{"Redelivered", inv.Metadata.Redelivered, old.Metadata, "Redelivered"},
		{"Exchange", inv.Metadata.Exchange, old.Metadata, "Exchange"},
		{"RoutingKey", inv.Metadata.RoutingKey, old.Metadata, "RoutingKey"},
	} {
		want, ok := c.m[c.key]
		same(c.name, c.got, want, ok)
	}
	checkDecoders(t, inv.Data.Message, inv.Metadata, old.Data["message"], old.Metadata)
}

// checkDecoders holds the value decoders to their legacy versions.
func checkDecoders(t *testing.T, message json.RawMessage, md Metadata, oldMessage json.RawMessage, oldMD map[string]json.RawMessage) {
	t.Helper()
	got, err := MessageBody(message)
	want, werr := legacyMessageBody(oldMessage)
	if !bytes.Equal(got, want) || (err == nil) != (werr == nil) {
		t.Fatalf("MessageBody(%q) = %q, %v; legacy %q, %v", message, got, err, want, werr)
	}
	if got, want := deliveryNote(md), legacyDeliveryNote(oldMD); got != want {
		t.Fatalf("deliveryNote = %q, legacy %q", got, want)
	}
	if got, want := delivery(md), legacyDelivery(oldMD); !reflect.DeepEqual(got, want) {
		t.Fatalf("delivery = %+v, legacy %+v", got, want)
	}
}

// envelopeSeeds are the invocations the host sends for our queue functions,
// and the odd shapes the fast path hands to encoding/json.
func envelopeSeeds(tb testing.TB) [][]byte {
	seeds := [][]byte{
		benchInvocation(tb, "processorder_servicebus.json"),
		benchInvocation(tb, "processorder_rabbitmq.json"),
		benchInvocation(tb, "sendemail_servicebus.json"),
		benchInvocation(tb, "outboxrelay_timer.json"),
	}
	for _, f := range []string{"processorder_servicebus.json", "processorder_rabbitmq.json"} {
		b, err := os.ReadFile("testdata/payload/" + f)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, []byte(strings.NewReplacer("{{body64}}", "eyJhIjoxfQ==", "{{bodyLen}}", "7", "{{messageId}}", "m\\u00e9", "{{deliveryCount}}", "x").Replace(string(b))))
	}
	for _, s := range []string{
		`null`, ` {} `, `[]`, `"x"`, `{"Data":null,"Metadata":null}`, `{"Data":{"message":"\"a\""},"data":{"message":1}}`,
		`{"Data":{"message":1},"Data":{"req":2}}`, `{"D\u0061ta":{"message":"AA=="}}`, `{"Data":[1]}`, `{"Metadata":"x"}`,
		`{"Data":{"message":{"a":[1,{"b":"}"}]},"message":"QQ=="}}`, `{"Data":{"mess\u0061ge":"QQ=="}}`,
		`{"Metadata":{"MessageId":"null","DeliveryCount":"\"7\"","Redelivered":true,"ApplicationProperties":"{\"traceparent\":\"x\",\"n\":1}"}}`,
		`{"Metadata":{"ApplicationProperties":{"a":"\"b\"","a":1,"\u00e9":"x","c":"\u00e9"}}}`,
		`{"Metadata":{"MessageId":"\"m\u00e9\\\"\"","DeliveryCount":" \"3\""}}`,
		`{"Metadata":{"BasicProperties":"{\"MessageId\":\"m\"}","Exchange":null}}`, `{"Datа":{}}`, "{\"Data\":{\"message\":\"QQ\n==\"}}",
		`{"DATA":{"message":"QQ=="}}`, `{"Metadata":{"a":1},"Metadata":{"MessageId":"\"m\""}}`, `{"Data":{},"x":{"Data":1}} `,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

func TestEnvelopeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range envelopeSeeds(t) {
		checkEnvelope(t, s)
	}
}

// FuzzInvocationEnvelope holds the envelope decoder, and the value
// decoders behind it, to encoding/json and the code it replaced.
func FuzzInvocationEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkEnvelope(t, body)
	})
}

// FuzzMetadataValue feeds one arbitrary JSON text to every member the
// decoders read, beyond what a well-formed envelope carries.
func FuzzMetadataValue(f *testing.F) {
	for _, s := range []string{`"\"m-1\""`, `"3"`, `3`, `null`, `"null"`, `{"a":"b"}`, `"{\"a\":\"b\"}"`, `"QUJD"`, `"QQ\n=="`, "\"QQ\n==\"", `" \"x\""`, `"\u00e9"`, "\"\xff\"", ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) == 0 {
			return // a member the envelope holds is never empty
		}
		for _, keys := range [][]string{{"MessageId", "DeliveryCount", "ApplicationProperties"}, {"BasicProperties", "Redelivered", "Exchange", "RoutingKey"}} {
			old := map[string]json.RawMessage{}
			var md Metadata
			for _, k := range keys {
				old[k] = raw
				md.set([]byte(k), raw)
			}
			checkDecoders(t, raw, md, raw, old)
		}
		got, ok := unmarshalString(raw)
		var want string
		wok := json.Unmarshal(raw, &want) == nil
		if ok != wok || (ok && got != want) {
			t.Fatalf("unmarshalString(%q) = %q, %v; encoding/json %q, %v", raw, got, ok, want, wok)
		}
	})
}

// FuzzInvocationResult holds the result envelope to json.Marshal.
func FuzzInvocationResult(f *testing.F) {
	f.Add("order 7 confirmed (message m, delivery 1)", "<&>\u2028\xff")
	f.Add("", "\x00\n\"")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, logs := range [][]string{nil, {}, {a}, {a, b}} {
			want, err := json.Marshal(InvocationResult{Outputs: map[string]any{}, Logs: logs})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendInvocationResult(nil, logs); !bytes.Equal(got, want) {
				t.Fatalf("result envelope %s, json.Marshal %s", got, want)
			}
		}
	})
}

// --- legacy code ---

func legacyDelivery(md map[string]json.RawMessage) deliveryInfo {
	d := deliveryInfo{props: map[string]any{}}
	if raw, ok := md["BasicProperties"]; ok {
		d.rabbit = true
		var bp struct {
			MessageID *string                    `json:"MessageId"`
			Headers   map[string]json.RawMessage `json:"Headers"`
		}
		_ = json.Unmarshal(legacyUnwrapJSON(raw), &bp)
		if bp.MessageID != nil {
			d.messageID = *bp.MessageID
		}
		for k, v := range bp.Headers {
			if s, ok := legacyJSONString(v); ok {
				d.props[k] = headerText(s)
			}
		}
		d.exchange, _ = legacyJSONString(md["Exchange"])
		d.routingKey, _ = legacyJSONString(md["RoutingKey"])
		return d
	}
	var props map[string]json.RawMessage
	_ = json.Unmarshal(legacyUnwrapJSON(md["ApplicationProperties"]), &props)
	for k, v := range props {
		if s, ok := legacyJSONString(v); ok {
			d.props[k] = s
		}
	}
	d.messageID, _ = legacyJSONString(md["MessageId"])
	if s, ok := legacyJSONString(md["DeliveryCount"]); ok {
		d.deliveryCount, _ = strconv.Atoi(s)
	} else {
		_ = json.Unmarshal(md["DeliveryCount"], &d.deliveryCount)
	}
	return d
}

// unwrapJSON returns the JSON text inside a JSON string (hosts send some
// binding data as strings holding JSON), else raw.
func legacyUnwrapJSON(raw json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return json.RawMessage(s)
	}
	return raw
}

// jsonString decodes a JSON string, unwrapping a second level of quoting.
func legacyJSONString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	var inner string
	if len(s) > 1 && s[0] == '"' && json.Unmarshal([]byte(s), &inner) == nil {
		return inner, true
	}
	return s, true
}

func legacyMessageBody(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("invocation has no Data.%s", queueTriggerName)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		// A JSON object or array: the body itself.
		return raw, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	var inner string
	if strings.HasPrefix(s, `"`) && json.Unmarshal([]byte(s), &inner) == nil {
		return []byte(inner), nil
	}
	return []byte(s), nil
}

// deliveryNote summarises the delivery metadata both queue triggers send
// (Service Bus: MessageId, DeliveryCount; RabbitMQ: BasicProperties,
// Redelivered), tolerating the host's string-encoded values.
func legacyDeliveryNote(md map[string]json.RawMessage) string {
	str := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return strings.Trim(string(raw), `"`)
		}
		var inner string
		if json.Unmarshal([]byte(s), &inner) == nil {
			return inner
		}
		return s
	}
	var parts []string
	if v, ok := md["MessageId"]; ok {
		parts = append(parts, "message "+str(v))
	}
	if v, ok := md["DeliveryCount"]; ok {
		parts = append(parts, "delivery "+str(v))
	}
	if v, ok := md["BasicProperties"]; ok {
		var p struct {
			MessageID string         `json:"MessageId"`
			Headers   map[string]any `json:"Headers"`
		}
		if json.Unmarshal(v, &p) == nil && p.MessageID != "" {
			parts = append(parts, "message "+p.MessageID)
		}
	}
	if v, ok := md["Redelivered"]; ok {
		parts = append(parts, "redelivered "+str(v))
	}
	if len(parts) == 0 {
		return "no delivery metadata"
	}
	return strings.Join(parts, ", ")
}
