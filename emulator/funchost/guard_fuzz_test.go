package funchost

import (
	"encoding/json"
	"testing"
)

// FuzzParsePort: customHandler.port either parses to 1..65535 or errors.
func FuzzParsePort(f *testing.F) {
	for _, s := range []string{`7071`, `"7071"`, `0`, `70000`, `1.5`, `"x"`, `null`, `[]`, `-1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !json.Valid([]byte(raw)) {
			return
		}
		n, err := parsePort(json.RawMessage(raw))
		if err == nil && (n < 1 || n > 65535) {
			t.Fatalf("parsePort(%s) = %d without error", raw, n)
		}
	})
}
