package funchost

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/internal/jsonw"
)

// This file holds every encoding rule of the invocation body (functions-protocol 2.2–2.7):
// what the real host puts in {Data, Metadata} and how each .NET value type
// looks on the wire. Golden fixtures in testdata/payload pin them down.

// Payload is the {Data, Metadata} invocation body (functions-protocol 2.2).
type Payload struct {
	Data     Fields
	Metadata Fields
}

// Body renders the payload for function fn, adding Metadata.sys with the
// given clock reading and random GUID (functions-protocol 2.4). Every value
// is stored in its final wire form, so the body is written in one pass into
// one buffer: the bytes are those json.Marshal gave for the same fields
// (payload_oracle_test.go holds the two to each other).
func (p *Payload) Body(fn string, now time.Time, randGUID string) ([]byte, error) {
	if p.Data.err != nil {
		return nil, fmt.Errorf("payload Data: %w", p.Data.err)
	}
	if p.Metadata.err != nil {
		return nil, fmt.Errorf("payload Metadata: %w", p.Metadata.err)
	}
	b := make([]byte, 0, p.Data.size()+p.Metadata.size()+len(fn)+len(randGUID)+128)
	b = append(b, `{"Data":`...)
	b = p.Data.appendJSON(b)
	b = append(b, `,"Metadata":{`...)
	sys := false
	for i, e := range p.Metadata.entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, e.key)
		if e.key == "sys" {
			// The host's own sys replaces a spilled "sys" in place.
			b, sys = appendSys(b, fn, now, randGUID), true
			continue
		}
		b = append(b, e.raw...)
	}
	if !sys {
		if len(p.Metadata.entries) > 0 {
			b = append(b, ',')
		}
		b = append(b, `"sys":`...)
		b = appendSys(b, fn, now, randGUID)
	}
	return append(b, "}}"...), nil
}

// appendSys writes Metadata.sys: MethodName, UtcNow (Json.NET's UTC
// DateTime) and RandGuid.
func appendSys(b []byte, fn string, now time.Time, randGUID string) []byte {
	b = append(b, `{"MethodName":`...)
	b = jsonw.AppendString(b, fn, true)
	b = append(b, `,"UtcNow":"`...)
	b = now.UTC().AppendFormat(b, netJSONUTCLayout)
	b = append(b, `","RandGuid":`...)
	b = jsonw.AppendString(b, randGUID, true)
	return append(b, '}')
}

// Fields is a JSON object that keeps insertion order, as the host's
// dictionaries do. Setting a key again overwrites it in place. The objects
// are small (at most a few dozen keys), so a slice searched in order costs
// less than a map.
type Fields struct {
	entries []field
	// err is the first value that could not be encoded; Body reports it.
	err error
}

type field struct {
	key string
	raw []byte
}

func newFields() Fields { return Fields{} }

// Set stores v under key; a null Value removes the key, because the host
// omits null-valued binding data (functions-protocol 2.4).
func (f *Fields) Set(key string, v Value) {
	if v.err != nil && f.err == nil {
		f.err = v.err
	}
	for i := range f.entries {
		if f.entries[i].key != key {
			continue
		}
		if v.raw == nil {
			f.entries = append(f.entries[:i], f.entries[i+1:]...)
		} else {
			f.entries[i].raw = v.raw
		}
		return
	}
	if v.raw != nil {
		f.entries = append(f.entries, field{key: key, raw: v.raw})
	}
}

// Get returns the wire form stored under key.
func (f Fields) Get(key string) (json.RawMessage, bool) {
	for _, e := range f.entries {
		if e.key == key {
			return e.raw, true
		}
	}
	return nil, false
}

// Keys returns the keys in insertion order.
func (f Fields) Keys() []string {
	keys := make([]string, len(f.entries))
	for i, e := range f.entries {
		keys[i] = e.key
	}
	return keys
}

// Value turns the fields into a nested-object Value.
func (f Fields) Value() Value {
	return Value{raw: f.appendJSON(make([]byte, 0, f.size())), err: f.err}
}

// size is an upper bound of the object's encoded length when no key needs
// escaping, so that one allocation usually holds it.
func (f Fields) size() int {
	n := 2
	for _, e := range f.entries {
		n += len(e.key) + len(e.raw) + 4
	}
	return n
}

func (f Fields) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, e := range f.entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, e.key)
		b = append(b, e.raw...)
	}
	return append(b, '}')
}

func appendKey(b []byte, key string) []byte {
	return append(jsonw.AppendString(b, key, true), ':')
}

// MarshalJSON writes the object with keys in insertion order.
func (f Fields) MarshalJSON() ([]byte, error) {
	v := f.Value()
	return v.raw, v.err
}

// Value is one binding value in its wire form (functions-protocol 2.3 table). The zero Value is
// .NET null and is omitted. The wire form is final: compact JSON with
// <, >, &, U+2028 and U+2029 escaped inside strings, as json.Marshal writes
// them, so that Body only concatenates.
type Value struct {
	raw json.RawMessage
	err error
}

// Raw returns the JSON text of the value.
func (v Value) Raw() json.RawMessage { return v.raw }

// rawValue wraps JSON text that is already in final wire form (see Value).
func rawValue(raw json.RawMessage) Value { return Value{raw: raw} }

// jsonString is a JSON string value (a property of a nested object, not a
// .NET string binding value, which StringValue double-encodes).
func jsonString(s string) Value { return Value{raw: jsonw.AppendString(nil, s, true)} }

// quoted is s between quotes, for text that never needs escaping (digits,
// base64, formatted dates).
func quoted(n int, appendText func([]byte) []byte) Value {
	b := make([]byte, 1, n+2)
	b[0] = '"'
	return Value{raw: append(appendText(b), '"')}
}

// StringValue is a .NET string: JsonConvert.SerializeObject makes it a JSON
// string holding JSON text, so it arrives double-encoded ("\"hello\"").
func StringValue(s string) Value {
	// The inner encoding is SerializeObject's, which does not escape HTML;
	// the outer one is the body's.
	var scratch [128]byte
	inner := jsonw.AppendString(scratch[:0], s, false)
	return Value{raw: jsonw.AppendString(make([]byte, 0, len(inner)+16), inner, true)}
}

// IntValue is an int/long/ulong: serialised to JSON text, so 3 arrives as "3".
func IntValue(n int64) Value {
	return quoted(20, func(b []byte) []byte { return strconv.AppendInt(b, n, 10) })
}

// UintValue is a ulong (RabbitMQ DeliveryTag): arrives as "7".
func UintValue(n uint64) Value {
	return quoted(20, func(b []byte) []byte { return strconv.AppendUint(b, n, 10) })
}

// BoolValue is a bool: arrives as "true"/"false" (JSON text, lower case).
func BoolValue(b bool) Value {
	if b {
		return rawValue(json.RawMessage(`"true"`))
	}
	return rawValue(json.RawMessage(`"false"`))
}

// BytesValue is a byte[] (and any value of a dataType: binary binding): a
// single-encoded base64 string.
func BytesValue(b []byte) Value {
	return quoted(base64.StdEncoding.EncodedLen(len(b)), func(dst []byte) []byte { return base64.StdEncoding.AppendEncode(dst, b) })
}

// DateTimeValue is a System.DateTime: re-parsed from its ToString(), so
// seconds precision and no zone suffix ("2024-05-01T10:00:00").
func DateTimeValue(t time.Time) Value {
	return quoted(24, func(b []byte) []byte { return t.AppendFormat(b, "2006-01-02T15:04:05") })
}

// DateTimeOffsetValue is a System.DateTimeOffset: seconds precision with the
// offset ("2024-05-01T10:00:00+00:00").
func DateTimeOffsetValue(t time.Time) Value {
	return quoted(32, func(b []byte) []byte { return t.AppendFormat(b, "2006-01-02T15:04:05-07:00") })
}

// ObjectValue is anything JObject.FromObject accepts (POCO, dictionary): a
// nested JSON object. v is marshalled with encoding/json; a json.RawMessage
// (compacted) or Fields is used as is.
func ObjectValue(v any) Value {
	switch v := v.(type) {
	case json.RawMessage:
		if v == nil {
			return Value{}
		}
		raw, err := finalJSON(v)
		if err != nil {
			return Value{raw: v, err: fmt.Errorf("object value: %w", err)}
		}
		return Value{raw: raw}
	case Fields:
		return v.Value()
	case map[string]any:
		return Value{raw: appendStringMap(nil, v)}
	}
	return Value{raw: marshalJSON(v)}
}

// appendStringMap writes a map as json.Marshal does (keys sorted) without
// reflection when every value is a string, as in application properties;
// other maps go to encoding/json.
func appendStringMap(b []byte, m map[string]any) []byte {
	var keyBuf [8]string
	keys := keyBuf[:0]
	for k, v := range m {
		if _, ok := v.(string); !ok {
			return append(b, marshalJSON(m)...)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, k)
		b = jsonw.AppendString(b, m[k].(string), true)
	}
	return append(b, '}')
}

// ArrayValue is a .NET array or list (string[] of a batch trigger, …): a JSON
// string holding the array's JSON text.
func ArrayValue(v any) Value { return Value{raw: jsonw.AppendString(nil, mustJSON(v), true)} }

// TriggerValue encodes a trigger's raw message body: base64 for dataType
// binary, otherwise the UTF-8 string, double-encoded (functions-protocol 2.3). A body that is
// not valid UTF-8 still goes out as a string (lossy), as the host's
// converter falls back to.
func TriggerValue(body []byte, dataType string) Value {
	if strings.EqualFold(dataType, "binary") {
		return BytesValue(body)
	}
	return StringValue(string(body))
}

// SpillJSON applies the host's ApplyBindingData to a string trigger value:
// when s is a JSON object, each top-level property that is not an array (and
// not null) is copied into f, objects as nested objects and scalars as .NET
// strings, overwriting same-named keys (functions-protocol 2.3).
func (f *Fields) SpillJSON(s string) {
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
			f.Set(k, ObjectValue(json.RawMessage(raw)))
		default:
			f.Set(k, StringValue(jsonScalarString(raw)))
		}
	}
}

// jsonScalarString is (string)JToken for a scalar, as Json.NET converts it:
// strings unquoted, integers as written, booleans "True"/"False" (.NET
// Boolean.ToString), floats in shortest round-trip form.
func jsonScalarString(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	case 't':
		return "True"
	case 'f':
		return "False"
	}
	txt := string(raw)
	if _, err := strconv.ParseInt(txt, 10, 64); err == nil {
		return txt
	}
	if f, err := strconv.ParseFloat(txt, 64); err == nil {
		if f == float64(int64(f)) && f < 1e15 && f > -1e15 {
			return strconv.FormatInt(int64(f), 10)
		}
		return strings.ToUpper(strconv.FormatFloat(f, 'g', -1, 64))
	}
	return txt
}

// orderedObject decodes a JSON object keeping its key order.
func orderedObject(b []byte) (map[string]json.RawMessage, []string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, nil, false
	}
	obj := map[string]json.RawMessage{}
	var keys []string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, false
		}
		if _, dup := obj[k]; !dup {
			keys = append(keys, k)
		}
		obj[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, false
	}
	if dec.More() {
		return nil, nil, false
	}
	return obj, keys, true
}

func compactJSON(raw []byte) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// finalJSON is JSON text in final wire form (see Value): compacted, with
// HTML-sensitive characters escaped, as json.Marshal re-encodes a
// json.RawMessage.
func finalJSON(raw []byte) ([]byte, error) {
	var c, h bytes.Buffer
	if err := json.Compact(&c, raw); err != nil {
		return nil, err
	}
	h.Grow(c.Len())
	json.HTMLEscape(&h, c.Bytes())
	return h.Bytes(), nil
}

// marshalJSON is json.Marshal (final wire form) for values that always
// encode.
func marshalJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("funchost: encoding JSON: " + err.Error())
	}
	return b
}

// mustJSON encodes v without HTML escaping, as Json.NET's SerializeObject
// writes the JSON text that some values carry inside a string.
func mustJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("funchost: encoding JSON: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// netJSONTime is Json.NET's DateTime format for a UTC value: ISO 8601 with up
// to 7 fraction digits, trailing zeros trimmed, and "Z".
func netJSONTime(t time.Time) string { return t.UTC().Format(netJSONUTCLayout) }

const netJSONUTCLayout = "2006-01-02T15:04:05.9999999Z"

// --- HTTP trigger (functions-protocol 3.1) ---

// httpRequestPayload builds the payload of an HTTP function in payload mode:
// Data.<trigger> from H HttpRequestExtensions.GetRequestAsJObject and the
// Metadata from HTTPX GetRequestBindingDataAsync.
func httpRequestPayload(trigger string, r *http.Request, body []byte, params map[string]string, identities any) *Payload {
	p := &Payload{Data: newFields(), Metadata: newFields()}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	query := newFields()
	queryPlain := map[string]string{}
	for _, k := range sortedKeys(r.URL.Query()) {
		v := strings.Join(r.URL.Query()[k], ",")
		query.Set(k, jsonString(v))
		queryPlain[k] = v
	}
	headers := newFields()
	headerStrings := newFields()
	all := r.Header.Clone()
	if r.Host != "" {
		all.Set("Host", r.Host)
	}
	for _, k := range sortedKeys(all) {
		headers.Set(k, rawValue(marshalJSON(all[k])))
		headerStrings.Set(k, jsonString(strings.Join(all[k], ",")))
	}
	paramFields := newFields()
	for _, k := range sortedKeys(params) {
		paramFields.Set(k, jsonString(params[k]))
	}
	req := newFields()
	req.Set("Url", jsonString(scheme+"://"+r.Host+r.URL.RequestURI()))
	req.Set("Method", jsonString(r.Method))
	req.Set("Query", query.Value())
	req.Set("Headers", headers.Value())
	req.Set("Params", paramFields.Value())
	req.Set("Identities", ObjectValue(identities))
	// Body only when Content-Length > 0; a chunked request gets none (functions-protocol 3.1).
	if r.ContentLength > 0 {
		if isOctetOrMultipart(r.Header.Get("Content-Type")) {
			req.Set("Body", BytesValue(body))
		} else {
			req.Set("Body", jsonString(string(body)))
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
		p.Metadata.Set(k, StringValue(queryPlain[k]))
	}
	for _, k := range sortedKeys(params) {
		p.Metadata.Set(k, StringValue(params[k]))
	}
	p.Metadata.Set("Query", query.Value())
	p.Metadata.Set("Headers", headerStrings.Value())
	return p
}

// localIdentities is the identity func start attaches to every request: auth
// level Admin (functions-protocol 3.1). level is "Admin" or "Function".
func localIdentities(level string) []map[string]any {
	return []map[string]any{{
		"AuthenticationType": "WebJobsAuthLevel",
		"IsAuthenticated":    true,
		"Actor":              nil,
		"BootstrapContext":   nil,
		"Claims": []map[string]any{{
			"Issuer":         "LOCAL AUTHORITY",
			"OriginalIssuer": "LOCAL AUTHORITY",
			"Properties":     map[string]string{},
			"Type":           "http://schemas.microsoft.com/2017/07/functions/claims/authlevel",
			"Value":          level,
			"ValueType":      "http://www.w3.org/2001/XMLSchema#string",
		}},
		"Label":         nil,
		"Name":          nil,
		"NameClaimType": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
		"RoleClaimType": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
	}}
}

func isOctetOrMultipart(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/octet-stream" || strings.HasPrefix(mt, "multipart/")
}

func isJSONContent(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/json"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// --- timer trigger (functions-protocol 2.7) ---

// TimerStatus is the schedule status the timer trigger reports.
type TimerStatus struct {
	Last, Next, LastUpdated time.Time
}

// timerPayload builds a timerTrigger invocation: Data.<name> is the TimerInfo
// object (JObject.FromObject, Json.NET dates), Metadata holds only sys.
func timerPayload(name string, st TimerStatus, pastDue bool) *Payload {
	p := &Payload{Data: newFields(), Metadata: newFields()}
	status := newFields()
	status.Set("Last", jsonString(netJSONTime(st.Last)))
	status.Set("Next", jsonString(netJSONTime(st.Next)))
	status.Set("LastUpdated", jsonString(netJSONTime(st.LastUpdated)))
	info := newFields()
	info.Set("Schedule", rawValue(json.RawMessage(`{"AdjustForDST":true}`)))
	info.Set("ScheduleStatus", status.Value())
	info.Set("IsPastDue", rawValue(strconv.AppendBool(nil, pastDue)))
	p.Data.Set(name, info.Value())
	return p
}

// --- manual run (functions-protocol 6) ---

// stringTriggerPayload is the payload of a string-typed trigger value (a
// manual run's "input", a queue message without dataType): the value
// double-encoded, its JSON properties spilled into Metadata.
func stringTriggerPayload(name, value, dataType string) *Payload {
	p := &Payload{Data: newFields(), Metadata: newFields()}
	p.Data.Set(name, TriggerValue([]byte(value), dataType))
	if !strings.EqualFold(dataType, "binary") {
		p.Metadata.SpillJSON(value)
	}
	return p
}
