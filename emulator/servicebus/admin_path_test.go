package servicebus

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// FuzzAdminHandler drives the whole administration handler (anonymous access, one emulator for
// the run) with any method, path, body and If-Match: it must never panic and never answer 5xx,
// since every bad request is the client's mistake.
func FuzzAdminHandler(f *testing.F) {
	srv, err := Start(context.Background(), Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", AllowAnonymous: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Stop(context.Background()) })
	h := newAdminHandler(srv)
	entry := func(kind, inner string) []byte {
		return []byte(`<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><` + kind +
			` xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect">` + inner + `</` + kind + `></content></entry>`)
	}
	f.Add(uint8(1), "/q", entry("QueueDescription", "<LockDuration>PT1M</LockDuration>"), false)
	f.Add(uint8(1), "/t", entry("TopicDescription", ""), false)
	f.Add(uint8(1), "/t/Subscriptions/s", entry("SubscriptionDescription", "<MaxDeliveryCount>3</MaxDeliveryCount>"), false)
	f.Add(uint8(1), "/t/Subscriptions/s/Rules/r", entry("RuleDescription", `<Filter xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="SqlFilter"><SqlExpression>a = @p</SqlExpression><Parameters><KeyValueOfstringanyType><Key>@p</Key><Value i:type="d:int">1</Value></KeyValueOfstringanyType></Parameters></Filter>`), false)
	f.Add(uint8(1), "/q", entry("QueueDescription", "<Status>Disabled</Status>"), true)
	f.Add(uint8(0), "/$Resources/Queues?$skip=1&$top=2", []byte(nil), false)
	f.Add(uint8(2), "/t/Subscriptions/s", []byte(nil), false)
	f.Add(uint8(0), "/$namespaceinfo", []byte(nil), false)
	methods := []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPost}
	f.Fuzz(func(t *testing.T, method uint8, target string, body []byte, ifMatch bool) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(u.Path, "/") {
			return
		}
		r := httptest.NewRequest(methods[int(method)%len(methods)], "http://127.0.0.1/", bytes.NewReader(body))
		r.URL = u // as the server parsed it (NewRequest refuses some targets a server accepts)
		if ifMatch {
			r.Header.Set("If-Match", "*")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %s", r.Method, target, w.Code, w.Body.String())
		}
	})
}
