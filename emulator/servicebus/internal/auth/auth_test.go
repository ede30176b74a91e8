package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/auth"
)

var now = time.Unix(1_700_000_000, 0)

func newAuthorizer(t *testing.T, cfg auth.Config) *auth.Authorizer {
	t.Helper()
	a, err := auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSASTestVector(t *testing.T) {
	t.Parallel()
	// The token the SDKs compute for this audience, key and expiry (docs/servicebus-auth.md).
	const want = "SharedAccessSignature sr=amqp%3a%2f%2flocalhost%2fqueue.1&sig=GQIrU4k%2FRyRQoJzQEUmSJxRo%2FCkeeb62vrPpIQI1Nzg%3D&se=1700000000&skn=RootManageSharedAccessKey"
	got := auth.SignSAS(auth.DefaultKeyName, auth.DefaultKey, "amqp://localhost/queue.1", now)
	if got != want {
		t.Fatalf("SignSAS = %s\nwant       %s", got, want)
	}
	a := newAuthorizer(t, auth.Config{})
	g, err := a.Verify(auth.TypeSAS, want, "amqp://localhost/queue.1", now.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if g.Scope != "queue.1" || g.Rights != auth.All || !g.Expires.Equal(now) {
		t.Fatalf("grant %+v", g)
	}
}

func TestSASRefusals(t *testing.T) {
	t.Parallel()
	a := newAuthorizer(t, auth.Config{Policies: []auth.Policy{
		{Name: "root", PrimaryKey: "k1", SecondaryKey: "k2", Rights: auth.All},
		{Name: "orders-send", PrimaryKey: "k3", Rights: auth.Send, Entity: "orders"},
	}})
	exp := now.Add(time.Hour)
	cases := []struct {
		name, token, audience string
		want                  error
	}{
		{"wrong key", auth.SignSAS("root", "nope", "amqp://h/q", exp), "amqp://h/q", auth.ErrInvalidSignature},
		{"unknown key name", auth.SignSAS("ghost", "k1", "amqp://h/q", exp), "amqp://h/q", auth.ErrInvalidSignature},
		{"expired", auth.SignSAS("root", "k1", "amqp://h/q", now), "amqp://h/q", auth.ErrExpired},
		{"other entity", auth.SignSAS("root", "k1", "amqp://h/probe-a", exp), "amqp://h/probe-b", auth.ErrAudience},
		{"segment prefix", auth.SignSAS("root", "k1", "amqp://h/probe-a", exp), "amqp://h/probe-ab", auth.ErrAudience},
		{"other host", auth.SignSAS("root", "k1", "amqp://elsewhere/q", exp), "amqp://h/q", auth.ErrAudience},
		{"entity policy for other entity", auth.SignSAS("orders-send", "k3", "amqp://h/payments", exp), "amqp://h/payments", auth.ErrAudience},
		{"entity policy for namespace", auth.SignSAS("orders-send", "k3", "amqp://h/", exp), "amqp://h/orders", auth.ErrAudience},
		{"not SAS", "Bearer x", "amqp://h/q", auth.ErrMalformed},
		{"missing fields", "SharedAccessSignature sr=a&se=1", "amqp://h/q", auth.ErrMalformed},
		{"repeated field", auth.SignSAS("root", "k1", "amqp://h/q", exp) + "&sr=amqp%3a%2f%2fh%2f", "amqp://h/other", auth.ErrMalformed},
	}
	for _, c := range cases {
		_, err := a.Verify(auth.TypeSAS, c.token, c.audience, now)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Wrong key and unknown key name are indistinguishable.
	_, e1 := a.Verify(auth.TypeSAS, auth.SignSAS("root", "nope", "amqp://h/q", exp), "amqp://h/q", now)
	_, e2 := a.Verify(auth.TypeSAS, auth.SignSAS("ghost", "k1", "amqp://h/q", exp), "amqp://h/q", now)
	if e1.Error() != e2.Error() || strings.Contains(e2.Error(), "ghost") {
		t.Fatalf("errors differ or name the key: %q vs %q", e1, e2)
	}
}

func TestSASGrants(t *testing.T) {
	t.Parallel()
	a := newAuthorizer(t, auth.Config{Policies: []auth.Policy{
		{Name: "root", PrimaryKey: "k1", SecondaryKey: "k2", Rights: auth.All},
		{Name: "orders-send", PrimaryKey: "k3", Rights: auth.Send, Entity: "Orders"},
	}})
	exp := now.Add(time.Hour)
	// The port and the host's case do not matter.
	if _, err := a.Verify(auth.TypeSAS, auth.SignSAS("root", "k1", "https://H:443/q", exp), "amqp://h:5673/q", now); err != nil {
		t.Fatalf("same host, other port: %v", err)
	}
	// A namespace token covers every entity; the secondary key signs too.
	g, err := a.Verify(auth.TypeSAS, auth.SignSAS("root", "k2", "sb://h/", exp), "amqp://h:5673/t/Subscriptions/s", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Allows("t/subscriptions/s/$DeadLetterQueue", auth.Listen, now); err != nil {
		t.Fatal(err)
	}
	if err := g.Allows("t", auth.Listen, now); !errors.Is(err, auth.ErrAudience) {
		t.Fatalf("grant for a subscription allowed its topic: %v", err)
	}
	if err := g.Allows("t/subscriptions/s", auth.Listen, exp); !errors.Is(err, auth.ErrExpired) {
		t.Fatalf("grant allowed at expiry: %v", err)
	}
	// An entity policy grants only its claims, on its entity.
	g, err = a.Verify(auth.TypeSAS, auth.SignSAS("orders-send", "k3", "amqp://h/orders", exp), "amqp://h/orders", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Allows("orders", auth.Send, now); err != nil {
		t.Fatal(err)
	}
	if err := g.Allows("orders", auth.Listen, now); !errors.Is(err, auth.ErrMissingRight) || !strings.Contains(err.Error(), "'Listen'") {
		t.Fatalf("Listen with a Send policy: %v", err)
	}
}

func jwtToken(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("not checked"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWT(t *testing.T) {
	t.Parallel()
	good := jwtToken(t, jwt.MapClaims{"aud": "https://servicebus.azure.net", "exp": now.Add(time.Hour).Unix()})
	if _, err := newAuthorizer(t, auth.Config{}).Verify(auth.TypeJWT, good, "amqps://h/q", now); !errors.Is(err, auth.ErrTokenType) {
		t.Fatalf("jwt accepted by default: %v", err)
	}
	a := newAuthorizer(t, auth.Config{AcceptUnverifiedJWT: true})
	g, err := a.Verify(auth.TypeJWT, good, "amqps://h/q", now)
	if err != nil || g.Rights != auth.All || g.Scope != "q" {
		t.Fatalf("good jwt: %+v, %v", g, err)
	}
	nsAud := jwtToken(t, jwt.MapClaims{"aud": []string{"https://H:443/"}, "exp": now.Add(time.Hour).Unix()})
	if _, err := a.Verify(auth.TypeJWT, nsAud, "amqps://h:5671/q", now); err != nil {
		t.Fatalf("namespace audience: %v", err)
	}
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"expired", jwtToken(t, jwt.MapClaims{"aud": "https://servicebus.azure.net", "exp": now.Unix()}), auth.ErrExpired},
		{"no exp", jwtToken(t, jwt.MapClaims{"aud": "https://servicebus.azure.net"}), auth.ErrMalformed},
		{"other audience", jwtToken(t, jwt.MapClaims{"aud": "https://storage.azure.com", "exp": now.Add(time.Hour).Unix()}), auth.ErrAudience},
		{"other host", jwtToken(t, jwt.MapClaims{"aud": "https://other/", "exp": now.Add(time.Hour).Unix()}), auth.ErrAudience},
		{"garbage", "a.b.c", auth.ErrMalformed},
	}
	for _, c := range cases {
		if _, err := a.Verify(auth.TypeJWT, c.token, "amqps://h/q", now); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestAuthorizeHTTP(t *testing.T) {
	t.Parallel()
	a := newAuthorizer(t, auth.Config{AcceptUnverifiedJWT: true, Policies: []auth.Policy{
		{Name: "root", PrimaryKey: "k1", Rights: auth.All},
		{Name: "listen", PrimaryKey: "k2", Rights: auth.Listen},
	}})
	exp := now.Add(time.Hour)
	// The Go admin client signs the whole request URL, query included.
	url := "http://localhost:5300/orders?api-version=2021-05"
	if err := a.Authorize(auth.SignSAS("root", "k1", url, exp), url, auth.Manage, now); err != nil {
		t.Fatal(err)
	}
	if err := a.Authorize(auth.SignSAS("listen", "k2", url, exp), url, auth.Manage, now); !errors.Is(err, auth.ErrMissingRight) {
		t.Fatalf("listen policy managed: %v", err)
	}
	if err := a.Authorize("", url, auth.Manage, now); !errors.Is(err, auth.ErrNoToken) {
		t.Fatalf("no token: %v", err)
	}
	if err := a.Authorize(auth.SignSAS("root", "k1", "http://localhost:5300/orders", exp), "http://localhost:5300/$Resources/Queues", auth.Manage, now); !errors.Is(err, auth.ErrAudience) {
		t.Fatalf("entity token listed the namespace: %v", err)
	}
	bearer := "Bearer " + jwtToken(t, jwt.MapClaims{"aud": "https://servicebus.azure.net/", "exp": exp.Unix()})
	if err := a.Authorize(bearer, url, auth.Manage, now); err != nil {
		t.Fatalf("bearer: %v", err)
	}
	if err := a.Authorize("Basic eDp5", url, auth.Manage, now); !errors.Is(err, auth.ErrMalformed) {
		t.Fatalf("basic: %v", err)
	}
}

func TestPlain(t *testing.T) {
	t.Parallel()
	a := newAuthorizer(t, auth.Config{Policies: []auth.Policy{{Name: "q-listen", PrimaryKey: "k", Rights: auth.Listen, Entity: "q"}}})
	g, err := a.Plain("q-listen", "k")
	if err != nil || g.Scope != "q" || g.Rights != auth.Listen || !g.Expires.IsZero() {
		t.Fatalf("%+v %v", g, err)
	}
	if _, err := a.Plain("q-listen", "x"); !errors.Is(err, auth.ErrInvalidSignature) {
		t.Fatal(err)
	}
	if _, err := a.Plain("ghost", "k"); !errors.Is(err, auth.ErrInvalidSignature) {
		t.Fatal(err)
	}
}

func TestPolicyValidation(t *testing.T) {
	t.Parallel()
	bad := [][]auth.Policy{
		{{Name: "", PrimaryKey: "k", Rights: auth.Send}},
		{{Name: "a&b", PrimaryKey: "k", Rights: auth.Send}},
		{{Name: "a", Rights: auth.Send}},
		{{Name: "a", PrimaryKey: "k"}},
		{{Name: "a", PrimaryKey: "k", Rights: auth.Manage}},
		{{Name: "a", PrimaryKey: "k", Rights: auth.Send}, {Name: "A", PrimaryKey: "k", Rights: auth.Send}},
		{{Name: "a", PrimaryKey: "k", Rights: auth.Send, Entity: "sb://h/q"}},
	}
	for i, p := range bad {
		if _, err := auth.New(auth.Config{Policies: p}); !errors.Is(err, auth.ErrInvalidConfig) {
			t.Errorf("case %d: %v", i, err)
		}
	}
}

func TestGrants(t *testing.T) {
	t.Parallel()
	var s auth.Grants
	if _, err := s.Check("q", auth.Send, now); !errors.Is(err, auth.ErrNoToken) {
		t.Fatalf("empty: %v", err)
	}
	s.Put(auth.Grant{Scope: "q", Rights: auth.Listen, Expires: now.Add(time.Minute)}, now)
	if _, err := s.Check("q", auth.Send, now); !errors.Is(err, auth.ErrMissingRight) {
		t.Fatalf("listen grant sent: %v", err)
	}
	if _, err := s.Check("q", auth.Listen, now.Add(time.Minute)); !errors.Is(err, auth.ErrExpired) {
		t.Fatalf("expired grant: %v", err)
	}
	if _, err := s.Check("qq", auth.Listen, now); !errors.Is(err, auth.ErrNoToken) {
		t.Fatalf("prefix grant: %v", err)
	}
	// Renewal replaces; the longest-lasting covering grant wins.
	s.Put(auth.Grant{Scope: "q", Rights: auth.Listen, Expires: now.Add(time.Hour)}, now)
	s.Put(auth.Grant{Scope: "", Rights: auth.All, Expires: now.Add(2 * time.Hour)}, now)
	g, err := s.Check("q/$management", auth.Listen, now)
	if err != nil || g.Scope != "" {
		t.Fatalf("%+v %v", g, err)
	}
	// Bounded: MaxGrants+10 scopes keep at most MaxGrants, dropping those expiring first.
	var b auth.Grants
	for i := range auth.MaxGrants + 10 {
		b.Put(auth.Grant{Scope: "e" + strings.Repeat("x", i), Rights: auth.Send, Expires: now.Add(time.Duration(i+1) * time.Minute)}, now)
	}
	if _, err := b.Check("e", auth.Send, now); !errors.Is(err, auth.ErrNoToken) {
		t.Fatalf("earliest grant kept beyond the bound: %v", err)
	}
	if _, err := b.Check("e"+strings.Repeat("x", auth.MaxGrants+9), auth.Send, now); err != nil {
		t.Fatalf("latest grant dropped: %v", err)
	}
}

func TestResourcePath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"amqp://h:5673/Orders//Subscriptions/x/": "orders/subscriptions/x",
		"http://h/q?api-version=1":               "q",
		"sb://h":                                 "",
		"sb://h/":                                "",
		"/q/":                                    "q",
		"":                                       "",
	} {
		if got := auth.ResourcePath(in); got != want {
			t.Errorf("ResourcePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(auth.SignSAS(auth.DefaultKeyName, auth.DefaultKey, "amqp://localhost/q", now.Add(time.Hour)), "amqp://localhost/q", false)
	f.Add("SharedAccessSignature sr=&sig=%zz&se=-1&skn=", "sb://h/", false)
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJodHRwczovL3NlcnZpY2VidXMuYXp1cmUubmV0IiwiZXhwIjoxNzAwMDAzNjAwfQ.x", "amqps://h/q", true)
	a, err := auth.New(auth.Config{AcceptUnverifiedJWT: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token, audience string, isJWT bool) {
		typ := auth.TypeSAS
		if isJWT {
			typ = auth.TypeJWT
		}
		g, err := a.Verify(typ, token, audience, now)
		if err != nil {
			return
		}
		// A grant always covers its own audience, and never outlives now by accident.
		if err := g.Allows(audience, auth.Any, now); err != nil {
			t.Fatalf("grant %+v does not allow its audience %q: %v", g, audience, err)
		}
	})
}
