package funchost

// The invocation body as it was built before the append-style encoder:
// generic values, each encoded with encoding/json, and the whole body
// re-marshalled. It is kept here, unchanged but for the names, as the
// oracle the new encoder must match byte for byte.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// legacyPayload is the {Data, Metadata} invocation body (functions-protocol 2.2).
type legacyPayload struct {
	Data     legacyFields
	Metadata legacyFields
}

// Body renders the payload for function fn, adding Metadata.sys with the
// given clock reading and random GUID (functions-protocol 2.4).
func (p *legacyPayload) Body(fn string, now time.Time, randGUID string) ([]byte, error) {
	meta := p.Metadata.clone()
	sys := legacyNewFields()
	sys.Set("MethodName", legacyRawValue(mustJSON(fn)))
	sys.Set("UtcNow", legacyRawValue(mustJSON(netJSONTime(now.UTC()))))
	sys.Set("RandGuid", legacyRawValue(mustJSON(randGUID)))
	meta.Set("sys", sys.Value())
	body := legacyNewFields()
	body.Set("Data", p.Data.Value())
	body.Set("Metadata", meta.Value())
	return json.Marshal(body)
}

// legacyFields is a JSON object that keeps insertion order, as the host's
// dictionaries do. Setting a key again overwrites it in place.
type legacyFields struct {
	keys []string
	vals map[string]json.RawMessage
}

func legacyNewFields() legacyFields { return legacyFields{vals: map[string]json.RawMessage{}} }

// Set stores v under key; a null legacyValue removes the key, because the host
// omits null-valued binding data (functions-protocol 2.4).
func (f *legacyFields) Set(key string, v legacyValue) {
	if f.vals == nil {
		f.vals = map[string]json.RawMessage{}
	}
	if v.raw == nil {
		if _, ok := f.vals[key]; ok {
			delete(f.vals, key)
			for i, k := range f.keys {
				if k == key {
					f.keys = append(f.keys[:i], f.keys[i+1:]...)
					break
				}
			}
		}
		return
	}
	if _, ok := f.vals[key]; !ok {
		f.keys = append(f.keys, key)
	}
	f.vals[key] = v.raw
}

// Get returns the wire form stored under key.
func (f legacyFields) Get(key string) (json.RawMessage, bool) {
	v, ok := f.vals[key]
	return v, ok
}

// Keys returns the keys in insertion order.
func (f legacyFields) Keys() []string { return append([]string(nil), f.keys...) }

// legacyValue turns the fields into a nested-object legacyValue.
func (f legacyFields) Value() legacyValue {
	b, _ := f.MarshalJSON()
	return legacyValue{raw: b}
}

func (f legacyFields) clone() legacyFields {
	c := legacyNewFields()
	for _, k := range f.keys {
		c.Set(k, legacyValue{raw: f.vals[k]})
	}
	return c
}

// MarshalJSON writes the object with keys in insertion order.
func (f legacyFields) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range f.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustJSON(k))
		b.WriteByte(':')
		b.Write(f.vals[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// legacyValue is one binding value in its wire form (functions-protocol 2.3 table). The zero legacyValue is
// .NET null and is omitted.
type legacyValue struct{ raw json.RawMessage }

// Raw returns the JSON text of the value.
func (v legacyValue) Raw() json.RawMessage { return v.raw }

func legacyRawValue(raw json.RawMessage) legacyValue { return legacyValue{raw: raw} }

// legacyStringValue is a .NET string: JsonConvert.SerializeObject makes it a JSON
// string holding JSON text, so it arrives double-encoded ("\"hello\"").
func legacyStringValue(s string) legacyValue { return legacyValue{raw: mustJSON(string(mustJSON(s)))} }

// legacyIntValue is an int/long/ulong: serialised to JSON text, so 3 arrives as "3".
func legacyIntValue(n int64) legacyValue { return legacyValue{raw: mustJSON(strconv.FormatInt(n, 10))} }

// legacyUintValue is a ulong (RabbitMQ DeliveryTag): arrives as "7".
func legacyUintValue(n uint64) legacyValue {
	return legacyValue{raw: mustJSON(strconv.FormatUint(n, 10))}
}

// legacyBoolValue is a bool: arrives as "true"/"false" (JSON text, lower case).
func legacyBoolValue(b bool) legacyValue { return legacyValue{raw: mustJSON(strconv.FormatBool(b))} }

// legacyBytesValue is a byte[] (and any value of a dataType: binary binding): a
// single-encoded base64 string.
func legacyBytesValue(b []byte) legacyValue {
	return legacyValue{raw: mustJSON(base64.StdEncoding.EncodeToString(b))}
}

// legacyDateTimeValue is a System.DateTime: re-parsed from its ToString(), so
// seconds precision and no zone suffix ("2024-05-01T10:00:00").
func legacyDateTimeValue(t time.Time) legacyValue {
	return legacyValue{raw: mustJSON(t.Format("2006-01-02T15:04:05"))}
}

// legacyDateTimeOffsetValue is a System.DateTimeOffset: seconds precision with the
// offset ("2024-05-01T10:00:00+00:00").
func legacyDateTimeOffsetValue(t time.Time) legacyValue {
	return legacyValue{raw: mustJSON(t.Format("2006-01-02T15:04:05-07:00"))}
}

// legacyObjectValue is anything JObject.FromObject accepts (POCO, dictionary): a
// nested JSON object. v is marshalled with encoding/json; a json.RawMessage
// or legacyFields is used as is.
func legacyObjectValue(v any) legacyValue {
	switch v := v.(type) {
	case json.RawMessage:
		return legacyValue{raw: v}
	case legacyFields:
		return v.Value()
	}
	return legacyValue{raw: mustJSON(v)}
}

// legacyArrayValue is a .NET array or list (string[] of a batch trigger, …): a JSON
// string holding the array's JSON text.
func legacyArrayValue(v any) legacyValue { return legacyValue{raw: mustJSON(string(mustJSON(v)))} }

// legacyTriggerValue encodes a trigger's raw message body: base64 for dataType
// binary, otherwise the UTF-8 string, double-encoded (functions-protocol 2.3). A body that is
// not valid UTF-8 still goes out as a string (lossy), as the host's
// converter falls back to.
func legacyTriggerValue(body []byte, dataType string) legacyValue {
	if strings.EqualFold(dataType, "binary") {
		return legacyBytesValue(body)
	}
	return legacyStringValue(string(body))
}

// SpillJSON applies the host's ApplyBindingData to a string trigger value:
// when s is a JSON object, each top-level property that is not an array (and
// not null) is copied into f, objects as nested objects and scalars as .NET
// strings, overwriting same-named keys (functions-protocol 2.3).
func (f *legacyFields) SpillJSON(s string) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "{") || !strings.HasSuffix(t, "}") {
		return
	}
	obj, keys, ok := orderedObject([]byte(t))
	if !ok {
		return
	}
	for _, k := range keys {
		raw := bytes.TrimSpace(obj[k])
		switch {
		case len(raw) == 0, raw[0] == '[', string(raw) == "null":
		case raw[0] == '{':
			f.Set(k, legacyValue{raw: compactJSON(raw)})
		default:
			f.Set(k, legacyStringValue(jsonScalarString(raw)))
		}
	}
}

// legacyHTTPRequestPayload builds the payload of an HTTP function in payload mode:
// Data.<trigger> from H HttpRequestExtensions.GetRequestAsJObject and the
// Metadata from HTTPX GetRequestBindingDataAsync.
func legacyHTTPRequestPayload(trigger string, r *http.Request, body []byte, params map[string]string, identities any) *legacyPayload {
	p := &legacyPayload{Data: legacyNewFields(), Metadata: legacyNewFields()}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	query := legacyNewFields()
	queryPlain := map[string]string{}
	for _, k := range sortedKeys(r.URL.Query()) {
		v := strings.Join(r.URL.Query()[k], ",")
		query.Set(k, legacyRawValue(mustJSON(v)))
		queryPlain[k] = v
	}
	headers := legacyNewFields()
	headerStrings := legacyNewFields()
	all := r.Header.Clone()
	if r.Host != "" {
		all.Set("Host", r.Host)
	}
	for _, k := range sortedKeys(all) {
		headers.Set(k, legacyRawValue(mustJSON(all[k])))
		headerStrings.Set(k, legacyRawValue(mustJSON(strings.Join(all[k], ","))))
	}
	paramFields := legacyNewFields()
	for _, k := range sortedKeys(params) {
		paramFields.Set(k, legacyRawValue(mustJSON(params[k])))
	}
	req := legacyNewFields()
	req.Set("Url", legacyRawValue(mustJSON(scheme+"://"+r.Host+r.URL.RequestURI())))
	req.Set("Method", legacyRawValue(mustJSON(r.Method)))
	req.Set("Query", query.Value())
	req.Set("Headers", headers.Value())
	req.Set("Params", paramFields.Value())
	req.Set("Identities", legacyObjectValue(identities))
	// Body only when Content-Length > 0; a chunked request gets none (functions-protocol 3.1).
	if r.ContentLength > 0 {
		if isOctetOrMultipart(r.Header.Get("Content-Type")) {
			req.Set("Body", legacyBytesValue(body))
		} else {
			req.Set("Body", legacyRawValue(mustJSON(string(body))))
		}
	}
	p.Data.Set(trigger, req.Value())

	if r.ContentLength > 0 && isJSONContent(r.Header.Get("Content-Type")) {
		p.Metadata.SpillJSON(string(body))
	}
	for _, k := range sortedKeys(queryPlain) {
		if strings.EqualFold(k, "code") {
			continue // the host keeps the key out of binding data
		}
		p.Metadata.Set(k, legacyStringValue(queryPlain[k]))
	}
	for _, k := range sortedKeys(params) {
		p.Metadata.Set(k, legacyStringValue(params[k]))
	}
	p.Metadata.Set("Query", query.Value())
	p.Metadata.Set("Headers", headerStrings.Value())
	return p
}

// legacyTimerPayload builds a timerTrigger invocation: Data.<name> is the TimerInfo
// object (JObject.FromObject, Json.NET dates), Metadata holds only sys.
func legacyTimerPayload(name string, st TimerStatus, pastDue bool) *legacyPayload {
	p := &legacyPayload{Data: legacyNewFields(), Metadata: legacyNewFields()}
	status := legacyNewFields()
	status.Set("Last", legacyRawValue(mustJSON(netJSONTime(st.Last))))
	status.Set("Next", legacyRawValue(mustJSON(netJSONTime(st.Next))))
	status.Set("LastUpdated", legacyRawValue(mustJSON(netJSONTime(st.LastUpdated))))
	info := legacyNewFields()
	info.Set("Schedule", legacyRawValue(json.RawMessage(`{"AdjustForDST":true}`)))
	info.Set("ScheduleStatus", status.Value())
	info.Set("IsPastDue", legacyRawValue(mustJSON(pastDue)))
	p.Data.Set(name, info.Value())
	return p
}

// legacyStringTriggerPayload is the payload of a string-typed trigger value (a
// manual run's "input", a queue message without dataType): the value
// double-encoded, its JSON properties spilled into Metadata.
func legacyStringTriggerPayload(name, value, dataType string) *legacyPayload {
	p := &legacyPayload{Data: legacyNewFields(), Metadata: legacyNewFields()}
	p.Data.Set(name, legacyTriggerValue([]byte(value), dataType))
	if !strings.EqualFold(dataType, "binary") {
		p.Metadata.SpillJSON(value)
	}
	return p
}

// legacySbPayload builds the invocation of one message (functions-protocol 2.5): the body as the
// trigger value, the binding data of the extension's
// ServiceBusTriggerBindingStrategy as Metadata, then the JSON-body spill.
func legacySbPayload(b *Binding, m *azservicebus.ReceivedMessage, conn sbConn, sess *sbSession) *legacyPayload {
	p := &legacyPayload{}
	p.Data.Set(b.Name, legacyTriggerValue(m.Body, b.DataType))
	md := &p.Metadata
	legacySbActions(md, sess)
	optStr := func(key string, v *string) {
		if v != nil {
			md.Set(key, legacyStringValue(*v))
		}
	}
	md.Set("DeliveryCount", legacyIntValue(int64(m.DeliveryCount)))
	md.Set("LockToken", legacyStringValue(dotnetGUID(m.LockToken)))
	if m.MessageID != "" {
		md.Set("MessageId", legacyStringValue(m.MessageID))
	}
	if m.SequenceNumber != nil {
		md.Set("SequenceNumber", legacyIntValue(*m.SequenceNumber))
	}
	if m.EnqueuedTime != nil {
		md.Set("EnqueuedTimeUtc", legacyDateTimeValue(m.EnqueuedTime.UTC()))
		md.Set("EnqueuedTime", legacyDateTimeOffsetValue(m.EnqueuedTime.UTC()))
	}
	if m.ExpiresAt != nil {
		md.Set("ExpiresAtUtc", legacyDateTimeValue(m.ExpiresAt.UTC()))
		md.Set("ExpiresAt", legacyDateTimeOffsetValue(m.ExpiresAt.UTC()))
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
	md.Set("ApplicationProperties", legacyObjectValue(props))
	md.Set("UserProperties", legacyObjectValue(props))
	md.Set("Client", legacySbClientValue(conn))
	if !strings.EqualFold(b.DataType, "binary") {
		md.SpillJSON(string(m.Body))
	}
	return p
}

// legacySbActions sets the settlement objects. The extension puts its message
// actions object under MessageReceiver, MessageSession, MessageActions and
// SessionActions: for a plain receiver it has no public properties ({}); for
// a session it is ServiceBusSessionMessageActions, whose one public property
// SessionLockedUntil (a DateTimeOffset) survives JObject.FromObject.
// ReceiveActions is always {}.
func legacySbActions(md *legacyFields, sess *sbSession) {
	actions := legacyObjectValue(map[string]any{})
	if sess != nil {
		f := legacyNewFields()
		f.Set("SessionLockedUntil", legacyRawValue(mustJSON(netJSONDateTimeOffset(sess.lockedUntil().UTC()))))
		actions = f.Value()
	}
	for _, k := range []string{"MessageReceiver", "MessageSession", "MessageActions", "SessionActions"} {
		md.Set(k, actions)
	}
	md.Set("ReceiveActions", legacyObjectValue(map[string]any{}))
}

// legacySbClientValue is the ServiceBusClient object as JObject.FromObject shows it.
func legacySbClientValue(conn sbConn) legacyValue {
	client := legacyNewFields()
	client.Set("FullyQualifiedNamespace", legacyRawValue(mustJSON(conn.fqns)))
	client.Set("IsClosed", legacyRawValue(mustJSON(false)))
	client.Set("TransportType", legacyRawValue(mustJSON(0)))
	client.Set("Identifier", legacyRawValue(mustJSON(conn.identifier)))
	return client.Value()
}

// legacySbBatchPayload builds the invocation of a batch (cardinality "many").
// The trigger value is a string[] (byte[][] with dataType binary), which
// the host, failing JObject.FromObject on an array, writes with
// JsonConvert.SerializeObject: a JSON string holding the JSON array, one
// element per message body (base64 for binary). Metadata holds the
// extension's batch binding data: one parallel array per property, named
// <Property>Array, each likewise a JSON string of the array; null entries
// for absent values; dates in Json.NET's full-precision form (arrays do not
// go through the host's seconds-precision DateTime re-parse). A batch value
// is no string, so no JSON-body spill.
func legacySbBatchPayload(b *Binding, msgs []*azservicebus.ReceivedMessage, conn sbConn, sess *sbSession) *legacyPayload {
	p := &legacyPayload{}
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
	p.Data.Set(b.Name, legacyArrayValue(bodies))
	md := &p.Metadata
	legacySbActions(md, sess)
	md.Set("Client", legacySbClientValue(conn))
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
		md.Set(kv.key, legacyArrayValue(kv.v))
	}
	return p
}

// legacyRabbitPayload builds the invocation of a delivery (functions-protocol 2.6): the body as the
// trigger value, delivery fields as metadata, then the JSON-body spill.
func legacyRabbitPayload(b *Binding, dl amqp.Delivery) *legacyPayload {
	p := &legacyPayload{}
	p.Data.Set(b.Name, legacyTriggerValue(dl.Body, b.DataType))
	m := &p.Metadata
	m.Set("ConsumerTag", legacyStringValue(dl.ConsumerTag))
	m.Set("DeliveryTag", legacyUintValue(dl.DeliveryTag))
	m.Set("Redelivered", legacyBoolValue(dl.Redelivered))
	m.Set("Exchange", legacyStringValue(dl.Exchange))
	m.Set("RoutingKey", legacyStringValue(dl.RoutingKey))
	m.Set("BasicProperties", legacyObjectValue(legacyBasicProperties(dl)))
	m.Set("Body", legacyObjectValue(map[string]any{"IsEmpty": len(dl.Body) == 0, "Length": len(dl.Body)}))
	if !strings.EqualFold(b.DataType, "binary") {
		m.SpillJSON(string(dl.Body))
	}
	return p
}

// legacyBasicProperties mirrors the public properties of RabbitMQ.Client's
// IBasicProperties as Json.NET serialises them (the real list is not established; functions-protocol 2.6).
func legacyBasicProperties(dl amqp.Delivery) map[string]any {
	str := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	var headers any
	if dl.Headers != nil {
		headers = amqpValue(dl.Headers)
	}
	var unix int64
	if !dl.Timestamp.IsZero() {
		unix = dl.Timestamp.Unix()
	}
	return map[string]any{
		"AppId": str(dl.AppId), "ClusterId": nil, "ContentEncoding": str(dl.ContentEncoding), "ContentType": str(dl.ContentType),
		"CorrelationId": str(dl.CorrelationId), "DeliveryMode": dl.DeliveryMode, "Expiration": str(dl.Expiration),
		"Headers": headers, "MessageId": str(dl.MessageId), "Persistent": dl.DeliveryMode == amqp.Persistent,
		"Priority": dl.Priority, "ReplyTo": str(dl.ReplyTo), "ReplyToAddress": nil,
		"Timestamp": map[string]any{"UnixTime": unix}, "Type": str(dl.Type), "UserId": str(dl.UserId),
	}
}
