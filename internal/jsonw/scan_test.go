package jsonw

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// decoded is what encoding/json's tokenizer reads from an object or array:
// names (nil for an array) and the text of each value.
func decoded(t *testing.T, raw []byte) (delim json.Delim, keys []string, values [][]byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		t.Fatal(err)
	}
	delim, _ = tok.(json.Delim)
	if delim != '{' && delim != '[' {
		return delim, nil, nil
	}
	for dec.More() {
		if delim == '{' {
			k, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k.(string))
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		values = append(values, v)
	}
	return delim, keys, values
}

// FuzzScan holds Members, Elements and UnquoteASCII to encoding/json on
// valid JSON text.
func FuzzScan(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":{"c":[1,"]"]},"d":"\"}"}`, ` [ 1 , {"x":[]} , "a\\b" ] `, `{"k\u00e9":null,"":""}`, `"x\n"`, `"\u00e9"`, `{}`, `[]`, `"ab\"c\\/"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if s, ok := UnquoteASCII(raw); ok {
			var want string
			if err := json.Unmarshal(raw, &want); err != nil || s != want {
				t.Fatalf("UnquoteASCII(%q) = %q, encoding/json %q, %v", raw, s, want, err)
			}
		}
		if !json.Valid(raw) {
			return
		}
		delim, keys, values := decoded(t, raw)
		var gotKeys []string
		var gotValues [][]byte
		ok := Members(raw, func(k, v []byte) bool {
			gotKeys, gotValues = append(gotKeys, string(k)), append(gotValues, v)
			return true
		})
		if ok != (delim == '{') && !(delim == '{' && !ok && bytes.IndexByte(raw, '\\') >= 0) {
			t.Fatalf("Members(%q) = %v", raw, ok)
		}
		if ok {
			for i := range keys {
				if !utf8.ValidString(gotKeys[i]) {
					continue // encoding/json replaces invalid UTF-8
				}
				if gotKeys[i] != keys[i] || !bytes.Equal(gotValues[i], values[i]) {
					t.Fatalf("Members(%q): %q=%s, encoding/json %q=%s", raw, gotKeys[i], gotValues[i], keys[i], values[i])
				}
			}
			if len(gotKeys) != len(keys) {
				t.Fatalf("Members(%q): %d members, encoding/json %d", raw, len(gotKeys), len(keys))
			}
		}
		gotValues = nil
		ok = Elements(raw, func(v []byte) bool {
			gotValues = append(gotValues, v)
			return true
		})
		if ok != (delim == '[') {
			t.Fatalf("Elements(%q) = %v", raw, ok)
		}
		if ok && (len(gotValues) != len(values) || (len(values) > 0 && !bytes.Equal(bytes.Join(gotValues, nil), bytes.Join(values, nil)))) {
			t.Fatalf("Elements(%q) = %q, encoding/json %q", raw, gotValues, values)
		}
	})
}
