package servicebus

import (
	"strings"
	"testing"
)

func TestParseAdminPath(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]adminPath{
		"/$namespaceinfo":                   {kind: pathNamespace},
		"/$Resources/Queues":                {kind: pathQueues},
		"/$resources/topics/":               {kind: pathTopics},
		"/orders":                           {kind: pathEntity, name: "orders", entityPathForAuth: "orders"},
		"/a/b":                              {kind: pathEntity, name: "a/b", entityPathForAuth: "a/b"},
		"/t/Subscriptions":                  {kind: pathSubscriptions, topic: "t", entityPathForAuth: "t"},
		"/t/subscriptions/":                 {kind: pathSubscriptions, topic: "t", entityPathForAuth: "t"},
		"/t/Subscriptions/s":                {kind: pathSubscription, topic: "t", sub: "s", entityPathForAuth: "t/Subscriptions/s"},
		"/t/Subscriptions/s/Rules/":         {kind: pathRules, topic: "t", sub: "s", entityPathForAuth: "t/Subscriptions/s"},
		"/t/Subscriptions/s/Rules/$Default": {kind: pathRule, topic: "t", sub: "s", rule: "$Default", entityPathForAuth: "t/Subscriptions/s"},
		"/x/y/Subscriptions/s":              {kind: pathSubscription, topic: "x/y", sub: "s", entityPathForAuth: "x/y/Subscriptions/s"},
	} {
		got, err := parseAdminPath(raw)
		want.canonical = strings.Trim(raw, "/")
		if err != nil || got != want {
			t.Errorf("parseAdminPath(%q) = %+v, %v; want %+v", raw, got, err, want)
		}
	}
	for _, raw := range []string{"/", "/$Resources/Relays", "/$other", "/t/Subscriptions/s/x/Rules/r", "/t/Subscriptions/s/Rules/a/b", "/t/Subscriptions//Rules/r"} {
		if got, err := parseAdminPath(raw); err == nil {
			t.Errorf("parseAdminPath(%q) = %+v, want an error", raw, got)
		}
	}
}

// FuzzParseAdminPath: no panic; an accepted path names its parts without empty segments, and
// subscription and rule names never contain '/'.
func FuzzParseAdminPath(f *testing.F) {
	for _, s := range []string{"/$namespaceinfo", "/q", "/t/Subscriptions/s/Rules/r", "/t/Subscriptions", "/a//b", "/t/Subscriptions/s/Rules"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ap, err := parseAdminPath(raw)
		if err != nil {
			return
		}
		parts := map[pathKind][]string{
			pathEntity: {ap.name}, pathSubscriptions: {ap.topic}, pathSubscription: {ap.topic, ap.sub},
			pathRules: {ap.topic, ap.sub}, pathRule: {ap.topic, ap.sub, ap.rule},
		}[ap.kind]
		for _, p := range parts {
			if p == "" || strings.Contains(p, "//") || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
				t.Fatalf("%q: part %q of %+v", raw, p, ap)
			}
		}
		if strings.Contains(ap.sub, "/") || strings.Contains(ap.rule, "/") {
			t.Fatalf("%q: %+v", raw, ap)
		}
		if ap.kind < pathNamespace || ap.kind > pathRule {
			t.Fatalf("%q: kind %d", raw, ap.kind)
		}
	})
}
