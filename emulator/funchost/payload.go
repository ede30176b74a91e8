package funchost

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
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
// given clock reading and random GUID (functions-protocol 2.4).
func (p *Payload) Body(fn string, now time.Time, randGUID string) ([]byte, error) {
	meta := p.Metadata.clone()
	sys := newFields()
	sys.Set("MethodName", rawValue(mustJSON(fn)))
	sys.Set("UtcNow", rawValue(mustJSON(netJSONTime(now.UTC()))))
	sys.Set("RandGuid", rawValue(mustJSON(randGUID)))
	meta.Set("sys", sys.Value())
	body := newFields()
	body.Set("Data", p.Data.Value())
	body.Set("Metadata", meta.Value())
	return json.Marshal(body)
}

// Fields is a JSON object that keeps insertion order, as the host's
// dictionaries do. Setting a key again overwrites it in place.
type Fields struct {
	keys []string
	vals map[string]json.RawMessage
}

func newFields() Fields { return Fields{vals: map[string]json.RawMessage{}} }

// Set stores v under key; a null Value removes the key, because the host
// omits null-valued binding data (functions-protocol 2.4).
func (f *Fields) Set(key string, v Value) {
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
func (f Fields) Get(key string) (json.RawMessage, bool) {
	v, ok := f.vals[key]
	return v, ok
}

// Keys returns the keys in insertion order.
func (f Fields) Keys() []string { return append([]string(nil), f.keys...) }

// Value turns the fields into a nested-object Value.
func (f Fields) Value() Value {
	b, _ := f.MarshalJSON()
	return Value{raw: b}
}

func (f Fields) clone() Fields {
	c := newFields()
	for _, k := range f.keys {
		c.Set(k, Value{raw: f.vals[k]})
	}
	return c
}

// MarshalJSON writes the object with keys in insertion order.
func (f Fields) MarshalJSON() ([]byte, error) {
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

// Value is one binding value in its wire form (functions-protocol 2.3 table). The zero Value is
// .NET null and is omitted.
type Value struct{ raw json.RawMessage }

// Raw returns the JSON text of the value.
func (v Value) Raw() json.RawMessage { return v.raw }

func rawValue(raw json.RawMessage) Value { return Value{raw: raw} }

// StringValue is a .NET string: JsonConvert.SerializeObject makes it a JSON
// string holding JSON text, so it arrives double-encoded ("\"hello\"").
func StringValue(s string) Value { return Value{raw: mustJSON(string(mustJSON(s)))} }

// IntValue is an int/long/ulong: serialised to JSON text, so 3 arrives as "3".
func IntValue(n int64) Value { return Value{raw: mustJSON(strconv.FormatInt(n, 10))} }

// UintValue is a ulong (RabbitMQ DeliveryTag): arrives as "7".
func UintValue(n uint64) Value { return Value{raw: mustJSON(strconv.FormatUint(n, 10))} }

// BoolValue is a bool: arrives as "true"/"false" (JSON text, lower case).
func BoolValue(b bool) Value { return Value{raw: mustJSON(strconv.FormatBool(b))} }

// BytesValue is a byte[] (and any value of a dataType: binary binding): a
// single-encoded base64 string.
func BytesValue(b []byte) Value { return Value{raw: mustJSON(base64.StdEncoding.EncodeToString(b))} }

// DateTimeValue is a System.DateTime: re-parsed from its ToString(), so
// seconds precision and no zone suffix ("2024-05-01T10:00:00").
func DateTimeValue(t time.Time) Value { return Value{raw: mustJSON(t.Format("2006-01-02T15:04:05"))} }

// DateTimeOffsetValue is a System.DateTimeOffset: seconds precision with the
// offset ("2024-05-01T10:00:00+00:00").
func DateTimeOffsetValue(t time.Time) Value {
	return Value{raw: mustJSON(t.Format("2006-01-02T15:04:05-07:00"))}
}

// ObjectValue is anything JObject.FromObject accepts (POCO, dictionary): a
// nested JSON object. v is marshalled with encoding/json; a json.RawMessage
// or Fields is used as is.
func ObjectValue(v any) Value {
	switch v := v.(type) {
	case json.RawMessage:
		return Value{raw: v}
	case Fields:
		return v.Value()
	}
	return Value{raw: mustJSON(v)}
}

// ArrayValue is a .NET array or list (string[] of a batch trigger, …): a JSON
// string holding the array's JSON text.
func ArrayValue(v any) Value { return Value{raw: mustJSON(string(mustJSON(v)))} }

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
			f.Set(k, Value{raw: compactJSON(raw)})
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
func netJSONTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.9999999Z") }

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
		query.Set(k, rawValue(mustJSON(v)))
		queryPlain[k] = v
	}
	headers := newFields()
	headerStrings := newFields()
	all := r.Header.Clone()
	if r.Host != "" {
		all.Set("Host", r.Host)
	}
	for _, k := range sortedKeys(all) {
		headers.Set(k, rawValue(mustJSON(all[k])))
		headerStrings.Set(k, rawValue(mustJSON(strings.Join(all[k], ","))))
	}
	paramFields := newFields()
	for _, k := range sortedKeys(params) {
		paramFields.Set(k, rawValue(mustJSON(params[k])))
	}
	req := newFields()
	req.Set("Url", rawValue(mustJSON(scheme+"://"+r.Host+r.URL.RequestURI())))
	req.Set("Method", rawValue(mustJSON(r.Method)))
	req.Set("Query", query.Value())
	req.Set("Headers", headers.Value())
	req.Set("Params", paramFields.Value())
	req.Set("Identities", ObjectValue(identities))
	// Body only when Content-Length > 0; a chunked request gets none (functions-protocol 3.1).
	if r.ContentLength > 0 {
		if isOctetOrMultipart(r.Header.Get("Content-Type")) {
			req.Set("Body", BytesValue(body))
		} else {
			req.Set("Body", rawValue(mustJSON(string(body))))
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
	status.Set("Last", rawValue(mustJSON(netJSONTime(st.Last))))
	status.Set("Next", rawValue(mustJSON(netJSONTime(st.Next))))
	status.Set("LastUpdated", rawValue(mustJSON(netJSONTime(st.LastUpdated))))
	info := newFields()
	info.Set("Schedule", rawValue(json.RawMessage(`{"AdjustForDST":true}`)))
	info.Set("ScheduleStatus", status.Value())
	info.Set("IsPastDue", rawValue(mustJSON(pastDue)))
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
