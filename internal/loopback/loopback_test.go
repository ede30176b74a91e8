package loopback

import (
	"strings"
	"testing"
)

func TestAllowed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host  string
		extra []string
		want  bool
	}{
		{"localhost:7071", nil, true},
		{"app.localhost.", nil, true},
		{"[::1]:7071", nil, true},
		{"127.0.0.2", nil, true},
		{"evil.example", nil, false},
		{"evil.example:7071", []string{"evil.example"}, true},
		{"other.example", []string{"*"}, true},
		{"", nil, false},
		{"10.0.0.1", nil, false},
	} {
		if got := Allowed(tc.host, tc.extra); got != tc.want {
			t.Errorf("Allowed(%q, %v) = %v, want %v", tc.host, tc.extra, got, tc.want)
		}
	}
}

// FuzzAllowed: the Host check never panics, and a name it accepts
// without extra names is a loopback one.
func FuzzAllowed(f *testing.F) {
	for _, s := range []string{"localhost:7071", "[::1]:7071", "127.0.0.1", "evil.example", "app.localhost.", "[", ":", "LOCALHOST", "127.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !Allowed(host, nil) {
			return
		}
		h := strings.ToLower(host)
		if !strings.Contains(h, "localhost") && !strings.Contains(h, "127.") && !strings.Contains(h, "::1") && !strings.Contains(h, ":") {
			t.Fatalf("accepted non-loopback Host %q", host)
		}
	})
}
