package funchost

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Route is a compiled HTTP route template: the ASP.NET Core template subset
// the Functions host accepts in function.json "route" — literal segments,
// {name}, inline constraints {id:int}, {n:min(1)}, several per parameter
// {id:int:min(1)}, optional {id?}, defaults {page=1} and catch-all {*rest}.
// Complex segments mixing literals and parameters ("{a}.{b}") are rejected.
type Route struct {
	// Template is the template as given (route prefix included).
	Template string
	segments []segment
}

type segment struct {
	literal     string
	param       bool
	name        string
	optional    bool
	catchAll    bool
	def         string
	hasDef      bool
	constraints []constraint
}

type constraint struct {
	text  string
	match func(string) bool
}

// ParseRoute compiles a route template.
func ParseRoute(template string) (*Route, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(template, "~"), "/")
	r := &Route{Template: template}
	if t == "" {
		return r, nil
	}
	if strings.Contains(t, "?") && !strings.Contains(t, "{") {
		return nil, fmt.Errorf("%w: %q: '?' is not allowed outside a parameter", ErrRoute, template)
	}
	names := map[string]bool{}
	parts := splitTemplate(t)
	for i, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%w: %q: empty segment (consecutive or trailing '/')", ErrRoute, template)
		}
		seg, err := parseSegment(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrRoute, template, err)
		}
		if seg.param {
			key := strings.ToLower(seg.name)
			if names[key] {
				return nil, fmt.Errorf("%w: %q: parameter %q appears twice", ErrRoute, template, seg.name)
			}
			names[key] = true
			if seg.catchAll && i != len(parts)-1 {
				return nil, fmt.Errorf("%w: %q: catch-all parameter must be the last segment", ErrRoute, template)
			}
		}
		if i > 0 {
			prev := r.segments[i-1]
			if prev.optional && !(seg.optional || seg.catchAll) {
				return nil, fmt.Errorf("%w: %q: optional parameter %q must be at the end", ErrRoute, template, prev.name)
			}
		}
		r.segments = append(r.segments, seg)
	}
	return r, nil
}

// splitTemplate splits on '/' outside braces (a regex constraint may hold '/').
func splitTemplate(t string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '{':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case '/':
			if depth == 0 {
				parts = append(parts, t[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, t[start:])
}

func parseSegment(p string) (segment, error) {
	unescaped := strings.ReplaceAll(strings.ReplaceAll(p, "{{", ""), "}}", "")
	if !strings.ContainsAny(unescaped, "{}") {
		return segment{literal: strings.ReplaceAll(strings.ReplaceAll(p, "{{", "{"), "}}", "}")}, nil
	}
	if !strings.HasPrefix(p, "{") || !strings.HasSuffix(p, "}") || !balancedParam(p) {
		return segment{}, fmt.Errorf("segment %q: complex segments are not supported; a parameter must fill its segment", p)
	}
	inner := p[1 : len(p)-1]
	seg := segment{param: true}
	if strings.HasPrefix(inner, "*") {
		seg.catchAll = true
		inner = strings.TrimPrefix(strings.TrimPrefix(inner, "*"), "*")
	}
	// The name runs to the first ':', '=' or '?'.
	end := strings.IndexAny(inner, ":=?")
	if end < 0 {
		end = len(inner)
	}
	seg.name = inner[:end]
	if seg.name == "" || strings.ContainsAny(seg.name, "{}/*") {
		return segment{}, fmt.Errorf("segment %q: invalid parameter name", p)
	}
	rest := inner[end:]
	for strings.HasPrefix(rest, ":") {
		text, after := cutConstraint(rest[1:])
		c, err := newConstraint(text)
		if err != nil {
			return segment{}, fmt.Errorf("parameter %q: %v", seg.name, err)
		}
		seg.constraints = append(seg.constraints, c)
		rest = after
	}
	if strings.HasPrefix(rest, "=") {
		seg.def, seg.hasDef = rest[1:], true
		rest = ""
		if strings.HasSuffix(seg.def, "?") {
			return segment{}, fmt.Errorf("parameter %q cannot be optional and have a default", seg.name)
		}
	}
	if rest == "?" {
		seg.optional = true
		rest = ""
	}
	if rest != "" {
		return segment{}, fmt.Errorf("parameter %q: unexpected %q", seg.name, rest)
	}
	if seg.catchAll && seg.optional {
		return segment{}, fmt.Errorf("catch-all parameter %q cannot be marked optional", seg.name)
	}
	if seg.hasDef {
		seg.optional = true
	}
	return seg, nil
}

// balancedParam reports whether p is exactly one {…} (braces inside a regex
// constraint's parentheses are allowed).
func balancedParam(p string) bool {
	depth, parens := 0, 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '(':
			parens++
		case ')':
			if parens > 0 {
				parens--
			}
		case '{':
			if parens == 0 {
				depth++
				if depth > 1 {
					return false
				}
			}
		case '}':
			if parens == 0 {
				depth--
				if depth == 0 && i != len(p)-1 {
					return false
				}
			}
		}
	}
	return depth == 0
}

// cutConstraint returns one constraint text ("int", "min(1)", "regex(a:b)")
// and what follows it.
func cutConstraint(s string) (string, string) {
	parens := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			parens++
		case ')':
			if parens > 0 {
				parens--
			}
		case ':', '=', '?':
			if parens == 0 {
				return s[:i], s[i:]
			}
		}
	}
	return s, ""
}

var alphaRe = regexp.MustCompile(`^(?i)[a-z]*$`)

func newConstraint(text string) (constraint, error) {
	name, arg, hasArg := strings.Cut(text, "(")
	if hasArg {
		if !strings.HasSuffix(arg, ")") {
			return constraint{}, fmt.Errorf("constraint %q: missing ')'", text)
		}
		arg = arg[:len(arg)-1]
	}
	c := constraint{text: text}
	noArg := func(f func(string) bool) (constraint, error) {
		if hasArg {
			return constraint{}, fmt.Errorf("constraint %q takes no argument", name)
		}
		c.match = f
		return c, nil
	}
	switch strings.ToLower(name) {
	case "int":
		return noArg(func(v string) bool { _, err := strconv.ParseInt(strings.TrimPrefix(v, "+"), 10, 32); return err == nil })
	case "long":
		return noArg(func(v string) bool { _, err := strconv.ParseInt(strings.TrimPrefix(v, "+"), 10, 64); return err == nil })
	case "bool":
		return noArg(func(v string) bool { return strings.EqualFold(v, "true") || strings.EqualFold(v, "false") })
	case "guid":
		return noArg(isGUID)
	case "alpha":
		return noArg(alphaRe.MatchString)
	case "decimal", "double", "float":
		return noArg(func(v string) bool {
			_, err := strconv.ParseFloat(v, 64)
			return err == nil && !strings.ContainsAny(v, "xXpP_") && !strings.EqualFold(strings.TrimLeft(v, "+-"), "inf")
		})
	case "datetime":
		return noArg(isDateTime)
	case "required":
		return noArg(func(v string) bool { return v != "" })
	case "min", "max":
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			return constraint{}, fmt.Errorf("constraint %q: bad number", text)
		}
		isMin := strings.EqualFold(name, "min")
		c.match = func(v string) bool {
			x, err := strconv.ParseInt(strings.TrimPrefix(v, "+"), 10, 64)
			return err == nil && ((isMin && x >= n) || (!isMin && x <= n))
		}
		return c, nil
	case "range":
		lo, hi, err := twoInts(arg)
		if err != nil {
			return constraint{}, fmt.Errorf("constraint %q: %v", text, err)
		}
		c.match = func(v string) bool {
			x, err := strconv.ParseInt(strings.TrimPrefix(v, "+"), 10, 64)
			return err == nil && x >= lo && x <= hi
		}
		return c, nil
	case "minlength", "maxlength":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 {
			return constraint{}, fmt.Errorf("constraint %q: bad length", text)
		}
		isMin := strings.EqualFold(name, "minlength")
		c.match = func(v string) bool {
			l := len([]rune(v))
			return (isMin && l >= n) || (!isMin && l <= n)
		}
		return c, nil
	case "length":
		lo, hi, err := twoInts(arg)
		if err != nil {
			n, err2 := strconv.ParseInt(arg, 10, 64)
			if err2 != nil {
				return constraint{}, fmt.Errorf("constraint %q: bad length", text)
			}
			lo, hi = n, n
		}
		c.match = func(v string) bool { l := int64(len([]rune(v))); return l >= lo && l <= hi }
		return c, nil
	case "regex":
		// Braces in a template regex are escaped by doubling them.
		arg = strings.ReplaceAll(strings.ReplaceAll(arg, "{{", "{"), "}}", "}")
		re, err := regexp.Compile("(?i)" + arg)
		if err != nil {
			return constraint{}, fmt.Errorf("constraint %q: %v", text, err)
		}
		c.match = re.MatchString
		return c, nil
	}
	return constraint{}, fmt.Errorf("unknown constraint %q", name)
}

func twoInts(arg string) (int64, int64, error) {
	a, b, ok := strings.Cut(arg, ",")
	if !ok {
		return 0, 0, fmt.Errorf("want two numbers")
	}
	lo, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	hi, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bad number")
	}
	return lo, hi, nil
}

// isGUID accepts the formats Guid.TryParse accepts: N, D, B and P.
func isGUID(v string) bool {
	switch {
	case len(v) == 38 && ((v[0] == '{' && v[37] == '}') || (v[0] == '(' && v[37] == ')')):
		v = v[1:37]
	case len(v) == 32:
		return isHex(v)
	}
	if len(v) != 36 || v[8] != '-' || v[13] != '-' || v[18] != '-' || v[23] != '-' {
		return false
	}
	return isHex(v[0:8] + v[9:13] + v[14:18] + v[19:23] + v[24:])
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isDateTime(v string) bool {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02", "2006-01-02 15:04:05", "01/02/2006", "01-02-2006"} {
		if _, err := time.Parse(layout, v); err == nil {
			return true
		}
	}
	return false
}

// Match matches a request path (escaped, leading '/' optional) and returns the
// route values, URL-decoded. Literals compare case-insensitively and one
// trailing '/' is ignored, as in ASP.NET Core routing.
func (r *Route) Match(path string) (map[string]string, bool) {
	path = strings.TrimPrefix(path, "/")
	path = strings.TrimSuffix(path, "/")
	var parts []string
	if path != "" {
		parts = strings.Split(path, "/")
	}
	values := map[string]string{}
	for i, seg := range r.segments {
		if seg.catchAll {
			if i < len(parts) {
				rest, err := url.PathUnescape(strings.Join(parts[i:], "/"))
				if err != nil {
					return nil, false
				}
				if !seg.check(rest) {
					return nil, false
				}
				values[seg.name] = rest
			}
			return values, true
		}
		if i >= len(parts) {
			if !seg.optional {
				return nil, false
			}
			if seg.hasDef {
				values[seg.name] = seg.def
			}
			continue
		}
		v, err := url.PathUnescape(parts[i])
		if err != nil {
			return nil, false
		}
		if !seg.param {
			if !strings.EqualFold(v, seg.literal) {
				return nil, false
			}
			continue
		}
		if v == "" || !seg.check(v) {
			return nil, false
		}
		values[seg.name] = v
	}
	if len(parts) > len(r.segments) {
		return nil, false
	}
	return values, true
}

func (s segment) check(v string) bool {
	for _, c := range s.constraints {
		if !c.match(v) {
			return false
		}
	}
	return true
}

// precedence is ASP.NET Core's inbound route precedence, one digit per
// segment: literal 1, constrained parameter 3, parameter 4, catch-all 5. Lower
// sorts first, so /orders/new beats /orders/{id}.
func (r *Route) precedence() []int {
	p := make([]int, len(r.segments))
	for i, s := range r.segments {
		switch {
		case !s.param:
			p[i] = 1
		case s.catchAll:
			p[i] = 5
		case len(s.constraints) > 0:
			p[i] = 3
		default:
			p[i] = 4
		}
	}
	return p
}

// before reports whether route a takes precedence over b.
func before(a, b *Route) bool {
	pa, pb := a.precedence(), b.precedence()
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// sameShape reports whether two templates match exactly the same paths
// as far as the template tells: literals equal case-insensitively,
// parameters of the same kind with the same constraints, whatever their
// names ("orders/{id}" and "Orders/{orderId}/").
func sameShape(a, b *Route) bool {
	if len(a.segments) != len(b.segments) {
		return false
	}
	for i, x := range a.segments {
		y := b.segments[i]
		if x.param != y.param || x.catchAll != y.catchAll || x.optional != y.optional {
			return false
		}
		if !x.param {
			if !strings.EqualFold(x.literal, y.literal) {
				return false
			}
			continue
		}
		if len(x.constraints) != len(y.constraints) {
			return false
		}
		for k := range x.constraints {
			if !strings.EqualFold(x.constraints[k].text, y.constraints[k].text) {
				return false
			}
		}
	}
	return true
}

// routeConflict reports t's route when an earlier function already serves
// the same template for an overlapping set of methods: the real host
// refuses to start with such a pair (ambiguous routes).
func routeConflict(earlier []*httpTrigger, t *httpTrigger) error {
	for _, e := range earlier {
		if !sameShape(e.route, t.route) || !methodsOverlap(e.methods, t.methods) {
			continue
		}
		return &ConfigError{File: t.fn.Name + "/function.json", Field: fmt.Sprintf("bindings[%d].route", t.fn.triggerIndex()),
			Msg: fmt.Sprintf("%q conflicts with function %s (%q) for the same methods", t.route.Template, e.fn.Name, e.route.Template)}
	}
	return nil
}

// methodsOverlap: an empty list means every method.
func methodsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}
