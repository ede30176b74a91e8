package jsonw

import (
	"bytes"
	"encoding/json"
	"testing"
)

// encodingJSON is the oracle: what encoding/json writes for the Go string s.
func encodingJSON(t *testing.T, s string, escapeHTML bool) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", `quote " backslash \ slash /`, "\b\f\n\r\t\x00\x01\x1f\x7f", "<a href='x'>&amp;</a>",
		"caf\u00e9 \u2028 \u2029 \u2027 \U0001F600", "bad \xff\xfe utf8 \xe2\x80", "\xe2\x80\xa8", "\xed\xa0\x80 surrogate",
	} {
		for _, html := range []bool{false, true} {
			want := encodingJSON(t, s, html)
			if got := AppendString(nil, s, html); !bytes.Equal(got, want) {
				t.Errorf("AppendString(%q, html=%v) = %s, want %s", s, html, got, want)
			}
			if got := AppendString([]byte("x"), []byte(s), html); !bytes.Equal(got, append([]byte("x"), want...)) {
				t.Errorf("AppendString([]byte %q, html=%v) = %s, want x%s", s, html, got, want)
			}
		}
	}
}

// FuzzAppendString holds AppendString to encoding/json, byte for byte, with
// and without HTML escaping.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a<b>&c", "\"\\\n\x00", "\u2028\u2029", "\xff", "\xe2\x80", "é😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, html := range []bool{false, true} {
			want := encodingJSON(t, s, html)
			if got := AppendString(nil, s, html); !bytes.Equal(got, want) {
				t.Fatalf("AppendString(%q, html=%v) = %s, want %s", s, html, got, want)
			}
		}
	})
}
