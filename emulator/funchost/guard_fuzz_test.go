package funchost

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzHostAllowed: the Host check never panics, and a name it accepts
// without extra names is a loopback one.
func FuzzHostAllowed(f *testing.F) {
	for _, s := range []string{"localhost:7071", "[::1]:7071", "127.0.0.1", "evil.example", "app.localhost.", "[", ":", "LOCALHOST", "127.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !hostAllowed(host, nil) {
			return
		}
		h := strings.ToLower(host)
		if !strings.Contains(h, "localhost") && !strings.Contains(h, "127.") && !strings.Contains(h, "::1") && !strings.Contains(h, ":") {
			t.Fatalf("accepted non-loopback Host %q", host)
		}
	})
}

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
