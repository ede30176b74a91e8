package funchost

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// payloadPair is one invocation built by the encoder and by the legacy
// builder of payload_legacy_test.go.
type payloadPair struct {
	name   string
	got    *Payload
	legacy *legacyPayload
}

// checkSameBytes renders both payloads and requires identical bytes: the
// golden tests compare JSON semantically, this pins every byte the host sends.
func checkSameBytes(t *testing.T, pairs []payloadPair, fn string, now time.Time, guid string) {
	t.Helper()
	for _, p := range pairs {
		want, werr := p.legacy.Body(fn, now, guid)
		got, gerr := p.got.Body(fn, now, guid)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: error %v, legacy error %v", p.name, gerr, werr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: body differs from the legacy encoder\ngot:  %s\nwant: %s", p.name, got, want)
		}
	}
}

// oracleMessage is a Service Bus message whose every text field is s.
func oracleMessage(body []byte, s string, n uint32, at time.Time) *azservicebus.ReceivedMessage {
	exp := at.Add(time.Duration(n) * time.Second)
	return &azservicebus.ReceivedMessage{
		Body: body, DeliveryCount: n, LockToken: [16]byte{byte(n), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		MessageID: s, SequenceNumber: ptr(int64(n) - 7), EnqueuedTime: &at, ExpiresAt: &exp,
		ContentType: ptr(s), CorrelationID: ptr(s + "c"), ReplyTo: ptr(s), To: ptr(s), Subject: ptr(s),
		SessionID: ptr(s), ReplyToSessionID: ptr(s), PartitionKey: ptr(s), DeadLetterSource: ptr(s),
		ApplicationProperties: map[string]any{"type": s, s: "v", "z" + s: s + "<&>"},
	}
}

// oracleDelivery is a RabbitMQ delivery whose every text field is s.
func oracleDelivery(body []byte, s string, n uint32, at time.Time) amqp.Delivery {
	return amqp.Delivery{
		ConsumerTag: s, DeliveryTag: uint64(n), Redelivered: n%2 == 1, Exchange: s, RoutingKey: s,
		AppId: s, ContentEncoding: s, ContentType: s, CorrelationId: s, DeliveryMode: uint8(n), Expiration: s,
		MessageId: s, Priority: uint8(n >> 8), ReplyTo: s, Timestamp: at, Type: s, UserId: s,
		Headers: amqp.Table{"traceparent": s, s: int32(n), "t": amqp.Table{"at": at.Truncate(time.Second)}}, Body: body,
	}
}

// oraclePairs builds every trigger's invocation from the same inputs with
// both builders.
func oraclePairs(body []byte, s string, n uint32, at time.Time) []payloadPair {
	conn := sbConn{fqns: s, identifier: s + "-id"}
	sess := &sbSession{lockedUntil: func() time.Time { return at }}
	msgs := []*azservicebus.ReceivedMessage{oracleMessage(body, s, n, at), goldenMessage(2, s, "")}
	var pairs []payloadPair
	for _, dt := range []string{"", "binary", "String"} {
		one, many := &Binding{Name: "msg", DataType: dt}, &Binding{Name: "msgs", DataType: dt, Cardinality: "many"}
		pairs = append(pairs,
			payloadPair{"servicebus " + dt, sbPayload(one, msgs[0], conn, nil), legacySbPayload(one, msgs[0], conn, nil)},
			payloadPair{"servicebus session " + dt, sbPayload(one, msgs[0], conn, sess), legacySbPayload(one, msgs[0], conn, sess)},
			payloadPair{"servicebus batch " + dt, sbBatchPayload(many, msgs, conn, sess), legacySbBatchPayload(many, msgs, conn, sess)},
			payloadPair{"rabbitmq " + dt, rabbitPayload(one, oracleDelivery(body, s, n, at)), legacyRabbitPayload(one, oracleDelivery(body, s, n, at))},
			payloadPair{"string trigger " + dt, stringTriggerPayload("msg", string(body), dt), legacyStringTriggerPayload("msg", string(body), dt)},
		)
	}
	bare := amqp.Delivery{Body: body}
	pairs = append(pairs,
		payloadPair{"rabbitmq bare", rabbitPayload(&Binding{Name: "m"}, bare), legacyRabbitPayload(&Binding{Name: "m"}, bare)},
		payloadPair{"timer", timerPayload(s, TimerStatus{Last: at, Next: at.Add(time.Minute), LastUpdated: at}, n%2 == 0),
			legacyTimerPayload(s, TimerStatus{Last: at, Next: at.Add(time.Minute), LastUpdated: at}, n%2 == 0)},
		payloadPair{"empty", &Payload{}, &legacyPayload{}},
	)
	r := httptest.NewRequest("POST", "http://localhost:7071/api/orders/5?x=1&code=k&q=%3C"+strings.Repeat("a", int(n%3)), bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Text", strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s), ""))
	params := map[string]string{"id": s, s + "p": "<b>"}
	pairs = append(pairs, payloadPair{"http", httpRequestPayload("req", r, body, params, localIdentities("Admin")),
		legacyHTTPRequestPayload("req", r, body, params, localIdentities("Admin"))})
	return pairs
}

var oracleSeeds = []struct {
	body string
	s    string
}{
	{benchEvent, "0b3c2d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"},
	{`{"a":"<x>&y","sys":{"k":1},"o":{ "n" : [1, 2] },"u":"\u2028\u2029"}`, "a<b>&c"},
	{"not json \xff\xfe \u2028", "bad \xff utf8 \u2029 \" \\ \n \x00"},
	{`{"":1,"Data":true,"s":"\ud800"}`, ""},
	{`{"f":1e400,"g":-0.0,"h":12345678901234567890}`, "é😀"},
}

// TestPayloadBytesMatchLegacy holds every trigger's invocation body to the
// bytes of the encoder it replaced.
func TestPayloadBytesMatchLegacy(t *testing.T) {
	t.Parallel()
	for i, seed := range oracleSeeds {
		at := goldenNow.Add(time.Duration(i) * 1234567 * time.Microsecond)
		checkSameBytes(t, oraclePairs([]byte(seed.body), seed.s, uint32(i*300), at), "F"+seed.s, at, seed.s)
	}
	for _, s := range []string{"", "<", "\u2028"} {
		p := &Payload{}
		p.Metadata.Set("sys", StringValue(s))
		p.Metadata.Set("k", StringValue(s))
		lp := &legacyPayload{}
		lp.Metadata.Set("sys", legacyStringValue(s))
		lp.Metadata.Set("k", legacyStringValue(s))
		checkSameBytes(t, []payloadPair{{"spilled sys", p, lp}}, "F", goldenNow, "g")
	}
}

// FuzzPayloadMatchesLegacy holds the encoder to the legacy one, byte for
// byte, for arbitrary bodies, message fields and clock readings.
func FuzzPayloadMatchesLegacy(f *testing.F) {
	for i, seed := range oracleSeeds {
		f.Add([]byte(seed.body), seed.s, uint32(i*300), goldenNow.UnixNano())
	}
	f.Fuzz(func(t *testing.T, body []byte, s string, n uint32, nanos int64) {
		at := time.Unix(0, nanos).UTC()
		checkSameBytes(t, oraclePairs(body, s, n, at), s, at, s)
	})
}
