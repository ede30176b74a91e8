// Package auth decides what a client may do on the emulated namespace, as Service Bus does:
// shared access policies grant Manage, Send and Listen on the namespace or on one entity; a SAS
// token signed with a policy's key (or, when explicitly allowed, an unverified Entra JWT) grants
// the policy's rights on the resource the token names and everything below it, until it expires.
//
// It has no I/O: the AMQP layer uses Authorizer.Verify for $cbs put-token and keeps the result
// per connection in a Grants; the HTTP administration API calls Authorizer.Authorize with the
// Authorization header of each request.
//
// Resources are compared as paths of whole segments, case-insensitively, ignoring the scheme and
// the query: a token for "probe-a" covers "probe-a/Subscriptions/s" but not "probe-ab", and a
// token for the namespace root covers every entity. The host of a SAS token's resource must be
// the host of the resource it is used for (the put-token audience, the request's Host), the port
// aside; the emulator answers under any host name (localhost, a container alias, an IP).
package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Right is a set of Service Bus claims.
type Right uint8

// The claims of Service Bus. A policy with Manage must also have Send and Listen.
const (
	Listen Right = 1 << iota
	Send
	Manage
)

// Any is the empty claim set: a check for Any passes with any valid token for the resource.
const Any Right = 0

// All is every claim.
const All = Listen | Send | Manage

// String lists the claims as Service Bus names them, e.g. "Manage,Send,Listen".
func (r Right) String() string {
	var parts []string
	for _, c := range []struct {
		r    Right
		name string
	}{{Manage, "Manage"}, {Send, "Send"}, {Listen, "Listen"}} {
		if r&c.r != 0 {
			parts = append(parts, c.name)
		}
	}
	return strings.Join(parts, ",")
}

// ParseRight reads one claim name ("Manage", "Send" or "Listen", any case).
func ParseRight(s string) (Right, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "manage":
		return Manage, nil
	case "send":
		return Send, nil
	case "listen":
		return Listen, nil
	}
	return 0, fmt.Errorf("claim %q: want Manage, Send or Listen: %w", s, ErrInvalidConfig)
}

// Token types of $cbs put-token (the "type" application property).
const (
	TypeSAS = "servicebus.windows.net:sastoken"
	TypeJWT = "jwt"
)

// Default policy: the official emulator's sample connection string.
const (
	DefaultKeyName = "RootManageSharedAccessKey"
	DefaultKey     = "SAS_KEY_VALUE"
)

// entraAudience is the audience of Entra tokens for any Service Bus namespace.
const entraAudience = "https://servicebus.azure.net"

// Policy is a shared access authorization rule.
type Policy struct {
	// Name is the key name (skn in tokens, the user name of SASL PLAIN). Unique, case-insensitively.
	Name string
	// PrimaryKey signs tokens; required.
	PrimaryKey string
	// SecondaryKey, when set, signs tokens too (for key rotation).
	SecondaryKey string
	// Rights are the claims the policy grants; Manage needs Send and Listen as well.
	Rights Right
	// Entity limits the policy to one queue or topic (and its subscriptions); "" is the namespace.
	Entity string
}

// DefaultPolicies is the policy set of a zero Config: RootManageSharedAccessKey with every claim.
func DefaultPolicies() []Policy {
	return []Policy{{Name: DefaultKeyName, PrimaryKey: DefaultKey, Rights: All}}
}

// Config configures an Authorizer. The zero value means DefaultPolicies and no JWTs.
type Config struct {
	// Policies are the shared access policies. Default: DefaultPolicies().
	Policies []Policy
	// AcceptUnverifiedJWT accepts Entra tokens (token type jwt, or "Bearer" over HTTP) WITHOUT
	// checking their signature: only the audience (https://servicebus.azure.net or a URL of the
	// namespace's host) and the expiry are checked, and such a token grants every claim. Default
	// false: JWTs are refused. Meant for local runs of azidentity clients only.
	AcceptUnverifiedJWT bool
}

// Authorizer verifies tokens against the policies. Safe for concurrent use; immutable.
type Authorizer struct {
	byName    map[string]policy // by lower-case name
	acceptJWT bool
}

type policy struct {
	Policy
	entity string // normalized Entity
}

// New validates cfg and returns its Authorizer.
func New(cfg Config) (*Authorizer, error) {
	pols := cfg.Policies
	if len(pols) == 0 {
		pols = DefaultPolicies()
	}
	a := &Authorizer{byName: make(map[string]policy, len(pols)), acceptJWT: cfg.AcceptUnverifiedJWT}
	for i, p := range pols {
		if err := ValidatePolicy(p); err != nil {
			return nil, fmt.Errorf("policy %d: %w", i, err)
		}
		key := strings.ToLower(p.Name)
		if _, dup := a.byName[key]; dup {
			return nil, fmt.Errorf("policy %q defined twice: %w", p.Name, ErrInvalidConfig)
		}
		a.byName[key] = policy{Policy: p, entity: ResourcePath(p.Entity)}
	}
	return a, nil
}

// ValidatePolicy checks one policy on its own (name, keys, claims).
func ValidatePolicy(p Policy) error {
	switch {
	case strings.TrimSpace(p.Name) == "":
		return fmt.Errorf("name is required: %w", ErrInvalidConfig)
	case strings.ContainsAny(p.Name, "&= \t\r\n\x00"):
		return fmt.Errorf("policy %q: name must not contain '&', '=', spaces or NUL: %w", p.Name, ErrInvalidConfig)
	case p.PrimaryKey == "":
		return fmt.Errorf("policy %q: PrimaryKey is required: %w", p.Name, ErrInvalidConfig)
	case p.Rights == 0 || p.Rights&^All != 0:
		return fmt.Errorf("policy %q: at least one of Manage, Send, Listen is required: %w", p.Name, ErrInvalidConfig)
	case p.Rights&Manage != 0 && p.Rights != All:
		return fmt.Errorf("policy %q: Manage requires Send and Listen too (as on Service Bus): %w", p.Name, ErrInvalidConfig)
	case strings.Contains(p.Entity, "://"):
		return fmt.Errorf("policy %q: Entity must be an entity name, not a URL: %w", p.Name, ErrInvalidConfig)
	}
	return nil
}

// Grant is what a verified token allows: Rights on Scope and everything below it, until Expires.
type Grant struct {
	// Scope is the normalized resource path ("" is the whole namespace).
	Scope string
	// Rights are the granted claims.
	Rights Right
	// Expires ends the grant; zero means never (SASL PLAIN).
	Expires time.Time
}

// Allows checks that the grant covers resource (a path or URL) with the need claims at now.
func (g Grant) Allows(resource string, need Right, now time.Time) error {
	path := ResourcePath(resource)
	if !covers(g.Scope, path) {
		return fmt.Errorf("%w: '%s'", ErrAudience, path)
	}
	if !g.Expires.IsZero() && !now.Before(g.Expires) {
		return fmt.Errorf("%w at %s", ErrExpired, g.Expires.UTC().Format(time.RFC3339))
	}
	if g.Rights&need != need {
		return missing(need, path)
	}
	return nil
}

func missing(need Right, path string) error {
	return fmt.Errorf("%w: unauthorized access, '%s' claim(s) are required to perform this operation on '%s'", ErrMissingRight, need, path)
}

// Verify checks a token put for audience (the name of a $cbs put-token, or a request URL) and
// returns what it grants there. tokenType is TypeSAS or TypeJWT.
func (a *Authorizer) Verify(tokenType, token, audience string, now time.Time) (Grant, error) {
	switch tokenType {
	case TypeSAS:
		return a.verifySAS(token, audience, now)
	case TypeJWT:
		if !a.acceptJWT {
			return Grant{}, fmt.Errorf("%w: jwt tokens are accepted only when unverified JWTs are enabled", ErrTokenType)
		}
		return verifyJWT(token, audience, now)
	}
	return Grant{}, fmt.Errorf("%w %q", ErrTokenType, tokenType)
}

// Authorize checks an HTTP Authorization header value ("SharedAccessSignature sr=...", or
// "Bearer <jwt>" when unverified JWTs are accepted) for resource, the request URL
// ("http://host:port/queue?api-version=...") or a bare entity path, and that it grants need
// there. Every error wraps one of the package's sentinels and means 401.
func (a *Authorizer) Authorize(token, resource string, need Right, now time.Time) error {
	var (
		g   Grant
		err error
	)
	switch {
	case strings.TrimSpace(token) == "":
		return ErrNoToken
	case strings.HasPrefix(token, "SharedAccessSignature "):
		g, err = a.Verify(TypeSAS, token, resource, now)
	case len(token) > 7 && strings.EqualFold(token[:7], "bearer "):
		g, err = a.Verify(TypeJWT, strings.TrimSpace(token[7:]), resource, now)
	default:
		return fmt.Errorf("%w: want SharedAccessSignature or Bearer", ErrMalformed)
	}
	if err != nil {
		return err
	}
	return g.Allows(resource, need, now)
}

// Plain checks SASL PLAIN credentials (policy name and one of its keys) and grants the policy's
// rights on its scope without expiry.
func (a *Authorizer) Plain(name, key string) (Grant, error) {
	p, known := a.byName[strings.ToLower(name)]
	// Digests have one length, so comparing them takes the same time whatever the key's length
	// and whether the name exists.
	got := sha256.Sum256([]byte(key))
	primary, secondary := sha256.Sum256([]byte(p.PrimaryKey)), sha256.Sum256([]byte(p.SecondaryKey))
	ok := subtle.ConstantTimeCompare(got[:], primary[:]) == 1
	if p.SecondaryKey != "" && subtle.ConstantTimeCompare(got[:], secondary[:]) == 1 {
		ok = true
	}
	if !known || !ok {
		return Grant{}, ErrInvalidSignature
	}
	return Grant{Scope: p.entity, Rights: p.Rights}, nil
}

// verifySAS checks "SharedAccessSignature sr=<url-escaped resource>&sig=<url-escaped base64
// HMAC-SHA256 of sr+"\n"+se>&se=<unix expiry>&skn=<key name>" (fields in any order).
func (a *Authorizer) verifySAS(token, audience string, now time.Time) (Grant, error) {
	rest, ok := strings.CutPrefix(token, "SharedAccessSignature ")
	if !ok {
		return Grant{}, fmt.Errorf("%w: not a SharedAccessSignature", ErrMalformed)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, "&") {
		k, v, _ := strings.Cut(part, "=")
		if _, dup := fields[k]; dup {
			return Grant{}, fmt.Errorf("%w: field %q repeated", ErrMalformed, k)
		}
		fields[k] = v
	}
	sr, sig, se, skn := fields["sr"], fields["sig"], fields["se"], fields["skn"]
	if sr == "" || sig == "" || se == "" || skn == "" {
		return Grant{}, fmt.Errorf("%w: sr, sig, se and skn are required", ErrMalformed)
	}
	name, err := url.QueryUnescape(skn)
	if err != nil {
		return Grant{}, fmt.Errorf("%w: skn encoding", ErrMalformed)
	}
	rawSig, err := url.QueryUnescape(sig)
	if err != nil {
		return Grant{}, fmt.Errorf("%w: sig encoding", ErrMalformed)
	}
	got, err := base64.StdEncoding.DecodeString(rawSig)
	if err != nil {
		return Grant{}, fmt.Errorf("%w: sig is not base64", ErrMalformed)
	}
	// An unknown key name costs the same HMAC as a known one and fails the same way, so neither
	// the answer nor its timing tells which key names exist.
	p, known := a.byName[strings.ToLower(name)]
	primary := p.PrimaryKey
	if !known {
		primary = "\x00unknown key name"
	}
	valid := hmac.Equal(got, sign(primary, sr, se))
	if p.SecondaryKey != "" && hmac.Equal(got, sign(p.SecondaryKey, sr, se)) {
		valid = true
	}
	if !known || !valid {
		return Grant{}, ErrInvalidSignature
	}
	exp, err := strconv.ParseInt(se, 10, 64)
	if err != nil || exp <= 0 {
		return Grant{}, fmt.Errorf("%w: se %q is not unix seconds", ErrMalformed, se)
	}
	expires := time.Unix(exp, 0)
	if !now.Before(expires) {
		return Grant{}, fmt.Errorf("%w at %s", ErrExpired, expires.UTC().Format(time.RFC3339))
	}
	resource, err := url.QueryUnescape(sr)
	if err != nil {
		return Grant{}, fmt.Errorf("%w: sr encoding", ErrMalformed)
	}
	resPath, audPath := ResourcePath(resource), ResourcePath(audience)
	if resHost, audHost := hostOf(resource), hostOf(audience); resHost != "" && audHost != "" && resHost != audHost {
		return Grant{}, fmt.Errorf("%w: token for host '%s', not '%s'", ErrAudience, resHost, audHost)
	}
	if !covers(resPath, audPath) || !covers(p.entity, resPath) {
		return Grant{}, fmt.Errorf("%w: '%s'", ErrAudience, audPath)
	}
	return Grant{Scope: audPath, Rights: p.Rights, Expires: expires}, nil
}

func sign(key, sr, se string) []byte {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(sr + "\n" + se))
	return mac.Sum(nil)
}

// verifyJWT reads an Entra token without verifying its signature and checks its audience and
// lifetime; it grants every claim on audience.
func verifyJWT(token, audience string, now time.Time) (Grant, error) {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		return Grant{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if claims.ExpiresAt == nil {
		return Grant{}, fmt.Errorf("%w: jwt without exp", ErrMalformed)
	}
	if !now.Before(claims.ExpiresAt.Time) {
		return Grant{}, fmt.Errorf("%w at %s", ErrExpired, claims.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if claims.NotBefore != nil && now.Add(5*time.Minute).Before(claims.NotBefore.Time) {
		return Grant{}, fmt.Errorf("%w: not valid before %s", ErrExpired, claims.NotBefore.UTC().Format(time.RFC3339))
	}
	host := hostOf(audience)
	ok := false
	for _, aud := range claims.Audience {
		if strings.EqualFold(strings.TrimRight(aud, "/"), entraAudience) ||
			(host != "" && strings.Contains(aud, "://") && strings.EqualFold(hostOf(aud), host)) {
			ok = true
			break
		}
	}
	if !ok {
		return Grant{}, fmt.Errorf("%w: jwt audience %q is neither %s nor this namespace", ErrAudience, []string(claims.Audience), entraAudience)
	}
	return Grant{Scope: ResourcePath(audience), Rights: All, Expires: claims.ExpiresAt.Time}, nil
}

// hostOf is the host name (without port, lower-case) of a URL, "" for a bare path.
func hostOf(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	host, _, _ = strings.Cut(host, "?")
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	return strings.ToLower(host)
}

// ResourcePath normalizes a resource: the path of a URL (scheme, host, query dropped) or a bare
// entity path, lower-case, without empty segments. "amqp://h:5673/Orders//Subscriptions/x/" and
// "orders/subscriptions/x" are the same resource.
func ResourcePath(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if _, rest, ok := strings.Cut(s, "://"); ok {
		_, s, _ = strings.Cut(rest, "/")
	}
	segs := strings.Split(strings.ToLower(s), "/")
	out := segs[:0]
	for _, seg := range segs {
		if seg != "" {
			out = append(out, seg)
		}
	}
	return strings.Join(out, "/")
}

// covers reports whether scope is path or one of its ancestors, by whole segments (both normalized).
func covers(scope, path string) bool {
	return scope == "" || path == scope || strings.HasPrefix(path, scope+"/")
}

// SignSAS makes a SAS token for resource (a URL such as "amqp://localhost/queue") as the SDKs do:
// sr is the lower-cased, URL-escaped resource. For tests and tools.
func SignSAS(keyName, key, resource string, expires time.Time) string {
	sr := strings.ToLower(url.QueryEscape(resource))
	se := strconv.FormatInt(expires.Unix(), 10)
	sig := base64.StdEncoding.EncodeToString(sign(key, sr, se))
	return "SharedAccessSignature sr=" + sr + "&sig=" + url.QueryEscape(sig) + "&se=" + se + "&skn=" + url.QueryEscape(keyName)
}
