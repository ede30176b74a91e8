package funchost

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/internal/jsonw"
)

// Result is the handler's answer to a payload-mode invocation (functions-protocol 4.1).
type Result struct {
	// InvocationID is the X-Azure-Functions-InvocationId sent.
	InvocationID string
	// Instance is the handler instance that answered.
	Instance int
	// Outputs maps output binding names (case-sensitive) to their values.
	Outputs map[string]json.RawMessage
	// Logs are the handler's log lines; the host logs them at Information.
	Logs []string
	// ReturnValue goes to the $return binding.
	ReturnValue json.RawMessage
}

type resultWire struct {
	Outputs     map[string]json.RawMessage `json:"Outputs"`
	Logs        []string                   `json:"Logs"`
	ReturnValue json.RawMessage            `json:"ReturnValue"`
}

// maxReason bounds the response text quoted in errors.
const maxReason = 512

// parseResult interprets a handler response as the real host does (functions-protocol 4.2):
// 2xx required, content type application/json or text/json, a JSON object.
// An empty body or literal null makes the real host wait until functionTimeout
// (it never completes the invocation); we fail it at once with a clear
// reason instead, which is kinder and still flags the handler bug.
func parseResult(resp *http.Response) (*Result, error) {
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading handler response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &InvocationError{StatusCode: resp.StatusCode, Reason: sanitize(body), Err: ErrBadResponse}
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" && mt != "text/json" {
		return nil, &InvocationError{StatusCode: resp.StatusCode, Err: ErrBadResponse,
			Reason: fmt.Sprintf("no MediaTypeFormatter is available to read a result from content with media type %q (send Content-Type: application/json)", resp.Header.Get("Content-Type"))}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, &InvocationError{StatusCode: resp.StatusCode, Err: ErrBadResponse,
			Reason: "empty or null response body: the real host would hang until functionTimeout; return at least {}"}
	}
	w, ok := scanResult(trimmed)
	if !ok {
		w = resultWire{}
		err = json.Unmarshal(trimmed, &w)
	}
	if err != nil {
		return nil, &InvocationError{StatusCode: resp.StatusCode, Err: ErrBadResponse,
			Reason: fmt.Sprintf("invalid HttpResponseMessage: %v: %s", err, sanitize(body))}
	}
	if string(bytes.TrimSpace(w.ReturnValue)) == "null" {
		w.ReturnValue = nil
	}
	return &Result{Outputs: w.Outputs, Logs: w.Logs, ReturnValue: w.ReturnValue}, nil
}

// scanResult reads the answer as encoding/json would into resultWire,
// without reflection, when it has the plain shape handlers send: the three
// names spelled exactly, once each, Outputs an object (or null) with plain
// names, Logs an array of strings (or null). The values alias body. Anything
// else is left to encoding/json (false). payload_oracle_test.go holds the
// two to each other.
func scanResult(body []byte) (resultWire, bool) {
	var w resultWire
	if !json.Valid(body) {
		return w, false
	}
	var outputs, logs, ret bool
	ok := jsonw.Members(body, func(key, v []byte) bool {
		switch string(key) {
		case "Outputs":
			if outputs {
				return false
			}
			outputs = true
			if string(v) == "null" {
				return true
			}
			w.Outputs = map[string]json.RawMessage{}
			return jsonw.Members(v, func(k, v []byte) bool {
				if !asciiName(k) {
					return false
				}
				w.Outputs[string(k)] = v
				return true
			})
		case "Logs":
			if logs {
				return false
			}
			logs = true
			if string(v) == "null" {
				return true
			}
			w.Logs = []string{}
			return jsonw.Elements(v, func(e []byte) bool {
				if string(e) == "null" {
					w.Logs = append(w.Logs, "")
					return true
				}
				s, ok := jsonw.UnquoteASCII(e)
				w.Logs = append(w.Logs, s)
				return ok
			})
		case "ReturnValue":
			if ret {
				return false
			}
			ret = true
			w.ReturnValue = v
			return true
		}
		// Other spellings of the three names match case-insensitively.
		return asciiName(key) && !strings.EqualFold(string(key), "Outputs") &&
			!strings.EqualFold(string(key), "Logs") && !strings.EqualFold(string(key), "ReturnValue")
	})
	return w, ok
}

func asciiName(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func sanitize(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > maxReason {
		s = s[:maxReason] + "…"
	}
	return s
}

// Output returns the value bound to output binding name: ReturnValue for
// "$return"; otherwise Outputs[name], overridden by the same key of a
// JSON-object ReturnValue when the function has no $return binding (functions-protocol 4.1).
func (r *Result) Output(name string, hasReturnBinding bool) (json.RawMessage, bool) {
	if name == "$return" {
		return r.ReturnValue, len(r.ReturnValue) > 0
	}
	if !hasReturnBinding && len(r.ReturnValue) > 0 && bytes.TrimSpace(r.ReturnValue)[0] == '{' {
		var ret map[string]json.RawMessage
		if json.Unmarshal(r.ReturnValue, &ret) == nil {
			if v, ok := ret[name]; ok {
				return v, true
			}
		}
	}
	v, ok := r.Outputs[name]
	if ok && string(bytes.TrimSpace(v)) == "null" {
		return nil, false
	}
	return v, ok
}

// httpOutput is a converted http output binding value (functions-protocol 3.2).
type httpOutput struct {
	Status int
	Header http.Header
	Body   []byte
}

// parseHTTPOutput converts Outputs.res: a JSON object (or a string holding
// one) with statusCode, headers and body. A missing value is the empty
// object: 200 with body {} (functions-protocol 3.2).
func parseHTTPOutput(raw json.RawMessage) (*httpOutput, error) {
	out := &httpOutput{Status: http.StatusOK, Header: http.Header{}}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		out.Body = []byte("{}")
		out.Header.Set("Content-Type", "application/json; charset=utf-8")
		return out, nil
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		raw = bytes.TrimSpace([]byte(s))
	}
	obj, keys, ok := orderedObject(raw)
	if !ok {
		return nil, fmt.Errorf("%w: http output is not a JSON object: %s", ErrBadResponse, sanitize(raw))
	}
	get := func(name string) (json.RawMessage, bool) {
		for _, k := range keys {
			if strings.EqualFold(k, name) {
				return obj[k], true
			}
		}
		return nil, false
	}
	if sc, ok := get("statusCode"); ok {
		n, err := jsonInt(sc)
		if err != nil {
			return nil, fmt.Errorf("%w: http output statusCode %s: %v", ErrBadResponse, sc, err)
		}
		out.Status = n
	} else if sc, ok := get("status"); ok {
		if n, err := jsonInt(sc); err == nil {
			out.Status = n
		}
	}
	if out.Status < 100 || out.Status > 999 {
		return nil, fmt.Errorf("%w: http output statusCode %d out of range", ErrBadResponse, out.Status)
	}
	if h, ok := get("headers"); ok && string(bytes.TrimSpace(h)) != "null" {
		hobj, hkeys, ok := orderedObject(h)
		if !ok {
			return nil, fmt.Errorf("%w: http output headers is not an object", ErrBadResponse)
		}
		for _, k := range hkeys {
			out.Header.Set(k, jsonText(hobj[k]))
		}
	}
	if b, ok := get("body"); ok {
		b = bytes.TrimSpace(b)
		switch {
		case string(b) == "null":
		case b[0] == '"':
			var s string
			_ = json.Unmarshal(b, &s)
			out.Body = []byte(s)
		case b[0] == '{' || b[0] == '[':
			out.Body = indentJSON(b)
			if out.Header.Get("Content-Type") == "" {
				out.Header.Set("Content-Type", "application/json; charset=utf-8")
			}
		default:
			out.Body = b
		}
	}
	if out.Header.Get("Content-Type") == "" && len(out.Body) > 0 {
		// The real host's default content type is not established (functions-protocol
		// 3.2): say plainly what we send rather than let net/http sniff one.
		out.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	return out, nil
}

func jsonInt(raw json.RawMessage) (int, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	switch v := v.(type) {
	case float64:
		return int(v), nil
	case string:
		return strconv.Atoi(strings.TrimSpace(v))
	}
	return 0, fmt.Errorf("not a number")
}

// jsonText stringifies a JSON value: strings unquoted, others as JSON text.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(compactJSON(raw))
}

// indentJSON re-serialises like JToken.ToString(): indented by two spaces.
func indentJSON(raw []byte) []byte {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return raw
	}
	return b.Bytes()
}

// OutputMessages converts an output binding value into messages the way the
// real host does for queue outputs (functions-protocol 4.3): unless dataType is binary a string
// that is valid base64 is decoded to bytes; a JSON array (or a string that
// looks like JSON) becomes one message per element; objects are re-serialised
// indented; other strings and numbers become one message.
func OutputMessages(raw json.RawMessage, dataType string) ([][]byte, error) {
	msgs, _, err := outputMessages(raw, dataType)
	return msgs, err
}

// outputMessages is OutputMessages that also reports whether the value was a
// base64 string decoded to bytes.
func outputMessages(raw json.RawMessage, dataType string) ([][]byte, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false, fmt.Errorf("decoding output string: %w", err)
		}
		if !strings.EqualFold(dataType, "binary") {
			if b, ok := dotnetBase64(s); ok {
				return [][]byte{b}, true, nil
			}
		}
		t := strings.TrimSpace(s)
		if (strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}")) || (strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]")) {
			if json.Valid([]byte(t)) {
				return outputMessages(json.RawMessage(t), dataType)
			}
		}
		return [][]byte{[]byte(s)}, false, nil
	}
	if raw[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, false, fmt.Errorf("decoding output array: %w", err)
		}
		msgs := make([][]byte, 0, len(items))
		for _, it := range items {
			it = bytes.TrimSpace(it)
			switch {
			case len(it) > 0 && it[0] == '"':
				var s string
				_ = json.Unmarshal(it, &s)
				msgs = append(msgs, []byte(s))
			case len(it) > 0 && (it[0] == '{' || it[0] == '['):
				msgs = append(msgs, indentJSON(it))
			default:
				msgs = append(msgs, []byte(it))
			}
		}
		return msgs, false, nil
	}
	if raw[0] == '{' {
		return [][]byte{indentJSON(raw)}, false, nil
	}
	return [][]byte{[]byte(raw)}, false, nil
}

// dotnetBase64 is Convert.TryFromBase64String: whitespace ignored, length a
// multiple of 4, standard alphabet with padding.
func dotnetBase64(s string) ([]byte, bool) {
	clean := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	if clean == "" || len(clean)%4 != 0 {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, false
	}
	return b, true
}
