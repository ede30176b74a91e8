package funchost

import (
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// goldenMessage is a received message as azservicebus returns it.
func goldenMessage(i int, body, session string) *azservicebus.ReceivedMessage {
	enq := time.Date(2024, 5, 1, 10, 0, i, 123456700, time.UTC)
	exp := enq.Add(14 * 24 * time.Hour)
	m := &azservicebus.ReceivedMessage{
		Body: []byte(body), DeliveryCount: uint32(i), LockToken: [16]byte{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		MessageID: "m-" + string(rune('0'+i)), SequenceNumber: ptr(int64(10 + i)), EnqueuedTime: &enq, ExpiresAt: &exp,
		ContentType: ptr("application/json"), ApplicationProperties: map[string]any{"tenant": "a"},
	}
	if i == 2 {
		m.ContentType, m.CorrelationID, m.ApplicationProperties = nil, ptr("c-2"), nil
	}
	if session != "" {
		m.SessionID = ptr(session)
	}
	return m
}

// TestServiceBusPayloadGolden replays the payload shapes the real host
// sends for a serviceBusTrigger with cardinality "many" (string and
// binary) and for a session-enabled trigger (one message and a batch).
// The fixtures are written from the extension's
// ServiceBusTriggerBindingStrategy (batch keys, their order and the
// TransactionPartitionKeyArray quirk), the host's
// GetHttpScriptInvocationContextValue (arrays become a JSON string of the
// array) and ServiceBusSessionMessageActions (SessionLockedUntil); see
// docs/functions-protocol.md.
func TestServiceBusPayloadGolden(t *testing.T) {
	t.Parallel()
	conn := sbConn{fqns: "ns.servicebus.windows.net", identifier: "ns-…"}
	lockedUntil := time.Date(2024, 5, 1, 10, 1, 0, 500000000, time.UTC)
	sess := &sbSession{lockedUntil: func() time.Time { return lockedUntil }}
	batch := func(session string) []*azservicebus.ReceivedMessage {
		return []*azservicebus.ReceivedMessage{goldenMessage(1, `{"orderId":7}`, session), goldenMessage(2, "hello", session)}
	}
	str := &Binding{Name: "msgs", Cardinality: "many"}
	bin := &Binding{Name: "msgs", Cardinality: "many", DataType: "binary"}
	one := &Binding{Name: "msg"}
	cases := map[string]*Payload{
		"servicebus_batch.json":         sbBatchPayload(str, batch(""), conn, nil),
		"servicebus_batch_binary.json":  sbBatchPayload(bin, batch(""), conn, nil),
		"servicebus_session.json":       sbPayload(one, goldenMessage(1, `{"orderId":7}`, "order-7"), conn, sess),
		"servicebus_session_batch.json": sbBatchPayload(str, batch("order-7"), conn, sess),
	}
	for file, p := range cases {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, p, "Consume", goldenNow, goldenGUID, file)
		})
	}
}
