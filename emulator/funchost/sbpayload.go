package funchost

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// sbPayload builds the invocation of one message (functions-protocol 2.5): the body as the
// trigger value, the binding data of the extension's
// ServiceBusTriggerBindingStrategy as Metadata, then the JSON-body spill.
func sbPayload(b *Binding, m *azservicebus.ReceivedMessage, conn sbConn, sess *sbSession) *Payload {
	p := &Payload{}
	p.Data.Set(b.Name, TriggerValue(m.Body, b.DataType))
	md := &p.Metadata
	sbActions(md, sess)
	optStr := func(key string, v *string) {
		if v != nil {
			md.Set(key, StringValue(*v))
		}
	}
	md.Set("DeliveryCount", IntValue(int64(m.DeliveryCount)))
	md.Set("LockToken", StringValue(dotnetGUID(m.LockToken)))
	if m.MessageID != "" {
		md.Set("MessageId", StringValue(m.MessageID))
	}
	if m.SequenceNumber != nil {
		md.Set("SequenceNumber", IntValue(*m.SequenceNumber))
	}
	if m.EnqueuedTime != nil {
		md.Set("EnqueuedTimeUtc", DateTimeValue(m.EnqueuedTime.UTC()))
		md.Set("EnqueuedTime", DateTimeOffsetValue(m.EnqueuedTime.UTC()))
	}
	if m.ExpiresAt != nil {
		md.Set("ExpiresAtUtc", DateTimeValue(m.ExpiresAt.UTC()))
		md.Set("ExpiresAt", DateTimeOffsetValue(m.ExpiresAt.UTC()))
	}
	optStr("ContentType", m.ContentType)
	optStr("CorrelationId", m.CorrelationID)
	optStr("ReplyTo", m.ReplyTo)
	optStr("To", m.To)
	optStr("Subject", m.Subject)
	optStr("Label", m.Subject)
	optStr("SessionId", m.SessionID)
	optStr("ReplyToSessionId", m.ReplyToSessionID)
	optStr("PartitionKey", m.PartitionKey)
	optStr("DeadLetterSource", m.DeadLetterSource)
	props := m.ApplicationProperties
	if props == nil {
		props = map[string]any{}
	}
	md.Set("ApplicationProperties", ObjectValue(props))
	md.Set("UserProperties", ObjectValue(props))
	md.Set("Client", sbClientValue(conn))
	if !strings.EqualFold(b.DataType, "binary") {
		md.SpillJSON(string(m.Body))
	}
	return p
}

// sbActions sets the settlement objects. The extension puts its message
// actions object under MessageReceiver, MessageSession, MessageActions and
// SessionActions: for a plain receiver it has no public properties ({}); for
// a session it is ServiceBusSessionMessageActions, whose one public property
// SessionLockedUntil (a DateTimeOffset) survives JObject.FromObject.
// ReceiveActions is always {}.
func sbActions(md *Fields, sess *sbSession) {
	actions := ObjectValue(map[string]any{})
	if sess != nil {
		f := newFields()
		f.Set("SessionLockedUntil", jsonString(netJSONDateTimeOffset(sess.lockedUntil().UTC())))
		actions = f.Value()
	}
	for _, k := range []string{"MessageReceiver", "MessageSession", "MessageActions", "SessionActions"} {
		md.Set(k, actions)
	}
	md.Set("ReceiveActions", ObjectValue(map[string]any{}))
}

// sbClientValue is the ServiceBusClient object as JObject.FromObject shows it.
func sbClientValue(conn sbConn) Value {
	client := newFields()
	client.Set("FullyQualifiedNamespace", jsonString(conn.fqns))
	client.Set("IsClosed", rawValue(json.RawMessage("false")))
	client.Set("TransportType", rawValue(json.RawMessage("0")))
	client.Set("Identifier", jsonString(conn.identifier))
	return client.Value()
}

// sbBatchPayload builds the invocation of a batch (cardinality "many").
// The trigger value is a string[] (byte[][] with dataType binary), which
// the host, failing JObject.FromObject on an array, writes with
// JsonConvert.SerializeObject: a JSON string holding the JSON array, one
// element per message body (base64 for binary). Metadata holds the
// extension's batch binding data: one parallel array per property, named
// <Property>Array, each likewise a JSON string of the array; null entries
// for absent values; dates in Json.NET's full-precision form (arrays do not
// go through the host's seconds-precision DateTime re-parse). A batch value
// is no string, so no JSON-body spill.
func sbBatchPayload(b *Binding, msgs []*azservicebus.ReceivedMessage, conn sbConn, sess *sbSession) *Payload {
	p := &Payload{}
	binary := strings.EqualFold(b.DataType, "binary")
	bodies := make([]any, len(msgs))
	n := len(msgs)
	var (
		deliveryCounts = make([]int64, n)
		deadLetter     = make([]*string, n)
		lockTokens     = make([]string, n)
		expiresUtc     = make([]*string, n)
		expires        = make([]*string, n)
		enqueuedUtc    = make([]*string, n)
		enqueued       = make([]*string, n)
		messageIDs     = make([]*string, n)
		contentTypes   = make([]*string, n)
		replyTos       = make([]*string, n)
		sequence       = make([]int64, n)
		tos            = make([]*string, n)
		subjects       = make([]*string, n)
		correlations   = make([]*string, n)
		props          = make([]map[string]any, n)
		sessionIDs     = make([]*string, n)
		replySessions  = make([]*string, n)
		partitionKeys  = make([]*string, n)
	)
	for i, m := range msgs {
		if binary {
			bodies[i] = m.Body // encoding/json writes []byte as base64, like Json.NET
		} else {
			bodies[i] = string(m.Body)
		}
		deliveryCounts[i] = int64(m.DeliveryCount)
		deadLetter[i] = m.DeadLetterSource
		lockTokens[i] = dotnetGUID(m.LockToken)
		if m.ExpiresAt != nil {
			expiresUtc[i], expires[i] = ptr(netJSONDateTime(m.ExpiresAt.UTC())), ptr(netJSONDateTimeOffset(m.ExpiresAt.UTC()))
		}
		if m.EnqueuedTime != nil {
			enqueuedUtc[i], enqueued[i] = ptr(netJSONDateTime(m.EnqueuedTime.UTC())), ptr(netJSONDateTimeOffset(m.EnqueuedTime.UTC()))
		}
		if m.MessageID != "" {
			messageIDs[i] = ptr(m.MessageID)
		}
		contentTypes[i], replyTos[i], tos[i], subjects[i], correlations[i] = m.ContentType, m.ReplyTo, m.To, m.Subject, m.CorrelationID
		if m.SequenceNumber != nil {
			sequence[i] = *m.SequenceNumber
		}
		props[i] = m.ApplicationProperties
		if props[i] == nil {
			props[i] = map[string]any{}
		}
		sessionIDs[i], replySessions[i], partitionKeys[i] = m.SessionID, m.ReplyToSessionID, m.PartitionKey
	}
	p.Data.Set(b.Name, ArrayValue(bodies))
	md := &p.Metadata
	sbActions(md, sess)
	md.Set("Client", sbClientValue(conn))
	for _, kv := range []struct {
		key string
		v   any
	}{
		{"DeliveryCountArray", deliveryCounts},
		{"DeadLetterSourceArray", deadLetter},
		{"LockTokenArray", lockTokens},
		{"ExpiresAtUtcArray", expiresUtc},
		{"ExpiresAtArray", expires},
		{"EnqueuedTimeUtcArray", enqueuedUtc},
		{"EnqueuedTimeArray", enqueued},
		{"MessageIdArray", messageIDs},
		{"ContentTypeArray", contentTypes},
		{"ReplyToArray", replyTos},
		{"SequenceNumberArray", sequence},
		{"ToArray", tos},
		{"SubjectArray", subjects},
		{"LabelArray", subjects},
		{"CorrelationIdArray", correlations},
		{"ApplicationPropertiesArray", props},
		{"UserPropertiesArray", props},
		{"SessionIdArray", sessionIDs},
		{"ReplyToSessionIdArray", replySessions},
		{"PartitionKeyArray", partitionKeys},
		// The extension fills TransactionPartitionKeyArray from the
		// partition keys (sic); reproduced as it is.
		{"TransactionPartitionKeyArray", partitionKeys},
	} {
		md.Set(kv.key, ArrayValue(kv.v))
	}
	return p
}

func ptr[T any](v T) *T { return &v }

// netJSONDateTime is how Json.NET writes a DateTime of unspecified kind (the
// extension's EnqueuedTime.DateTime): ISO 8601, up to 7 fraction digits
// with trailing zeros trimmed, no zone.
func netJSONDateTime(t time.Time) string { return t.Format("2006-01-02T15:04:05.9999999") }

// netJSONDateTimeOffset is how Json.NET writes a DateTimeOffset: as
// netJSONDateTime with the offset ("+00:00").
func netJSONDateTimeOffset(t time.Time) string {
	return t.Format("2006-01-02T15:04:05.9999999-07:00")
}
