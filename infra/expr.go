package infra

import (
	"regexp"
	"strings"
)

// Expr is the text of a Bicep expression with comments blanked, as cut out by
// the reader. Its methods look into object and array literals without
// evaluating anything: Prop("properties.sku.name") on `{ properties: { sku:
// { name: 'S' } } }` gives `'S'`.
type Expr string

// Entry is one `key: value` pair of an object literal.
type Entry struct {
	// Key is the property name, unquoted when it was a plain string.
	Key string
	// Value is the property's expression.
	Value Expr
}

// loopHead matches the start of a for-expression: `for x in src:` or
// `for (x, i) in src:`.
var loopHead = regexp.MustCompile(`^for\s+(?:\(\s*([A-Za-z_]\w*)\s*,\s*[A-Za-z_]\w*\s*\)|([A-Za-z_]\w*))\s+in\s+`)

// identifier matches a whole Bicep identifier.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// String returns the trimmed text.
func (e Expr) String() string { return strings.TrimSpace(string(e)) }

// Loop reports the loop variable and source of a for-expression
// `[for v in src: body]`; ok is false for anything else.
func (e Expr) Loop() (variable, source string, ok bool) {
	s := e.String()
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return "", "", false
	}
	inner := strings.TrimSpace(s[1 : len(s)-1])
	m := loopHead.FindStringSubmatchIndex(inner)
	if m == nil {
		return "", "", false
	}
	if m[2] >= 0 {
		variable = inner[m[2]:m[3]]
	} else {
		variable = inner[m[4]:m[5]]
	}
	rest := inner[m[1]:]
	colon := indexTop(rest, ':')
	if colon < 0 {
		return "", "", false
	}
	return variable, strings.TrimSpace(rest[:colon]), true
}

// Body unwraps a resource or module value to its object: the body of
// `[for …: {…}]`, of `if (…) {…}`, or the object itself.
func (e Expr) Body() Expr {
	s := e.String()
	if _, src, ok := e.Loop(); ok {
		inner := strings.TrimSpace(s[1 : len(s)-1])
		at := strings.Index(inner, src) + len(src)
		rest := inner[at:]
		return Expr(strings.TrimSpace(rest[indexTop(rest, ':')+1:])).Body()
	}
	if strings.HasPrefix(s, "if") {
		if open := strings.IndexByte(s, '{'); open >= 0 {
			return Expr(s[open:])
		}
	}
	return Expr(s)
}

// Entries lists the top-level pairs of an object literal (after Body), in
// order; nil when e is not an object literal.
func (e Expr) Entries() []Entry {
	s := e.Body().String()
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil
	}
	var out []Entry
	for _, part := range splitTop(s[1 : len(s)-1]) {
		colon := indexTop(part, ':')
		if colon < 0 {
			continue
		}
		key := strings.TrimSpace(part[:colon])
		if lit, ok := Expr(key).Lit(); ok {
			key = lit
		}
		out = append(out, Entry{Key: key, Value: Expr(strings.TrimSpace(part[colon+1:]))})
	}
	return out
}

// Items lists the elements of an array literal; nil when e is not one (a
// for-expression is not an array literal).
func (e Expr) Items() []Expr {
	s := e.String()
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return nil
	}
	if _, _, ok := e.Loop(); ok {
		return nil
	}
	var out []Expr
	for _, part := range splitTop(s[1 : len(s)-1]) {
		out = append(out, Expr(part))
	}
	return out
}

// Prop follows a dotted path of property names through nested object
// literals.
func (e Expr) Prop(path string) (Expr, bool) {
	cur := e
	for _, key := range strings.Split(path, ".") {
		found := false
		for _, en := range cur.Entries() {
			if en.Key == key {
				cur, found = en.Value, true
				break
			}
		}
		if !found {
			return "", false
		}
	}
	return cur, true
}

// Lit returns the content of a plain string literal (no interpolation,
// escapes resolved); ok is false for any other expression.
func (e Expr) Lit() (string, bool) {
	s := e.String()
	if len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' || strings.HasPrefix(s, "'''") {
		return "", false
	}
	end, err := skipString(s, 0)
	if err != nil || end != len(s) || strings.Contains(s, "${") {
		return "", false
	}
	r := strings.NewReplacer(`\'`, `'`, `\\`, `\`, `\n`, "\n", `\t`, "\t", `\$`, `$`)
	return r.Replace(s[1 : len(s)-1]), true
}

// Ident returns the expression as a bare identifier; ok is false otherwise.
func (e Expr) Ident() (string, bool) {
	s := e.String()
	return s, identifier.MatchString(s)
}

// splitTop splits s at newlines and commas that are outside strings and
// brackets, dropping empty parts.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	flush := func(end int) {
		if p := strings.TrimSpace(s[start:end]); p != "" {
			out = append(out, p)
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			end, err := skipString(s, i)
			if err != nil {
				return append(out, strings.TrimSpace(s[start:]))
			}
			i = end - 1
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			depth--
		case '\n', ',':
			if depth == 0 {
				flush(i)
				start = i + 1
			}
		}
	}
	flush(len(s))
	return out
}

// indexTop returns the index of the first c in s outside strings and
// brackets, or -1. A ':' of a ternary is skipped only if it follows a '?'
// at the same level.
func indexTop(s string, c byte) int {
	depth, ternary := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			end, err := skipString(s, i)
			if err != nil {
				return -1
			}
			i = end - 1
			continue
		case '{', '[', '(':
			depth++
			continue
		case '}', ']', ')':
			depth--
			continue
		case '?':
			// `?.` and `??` are not ternaries.
			if depth == 0 && c == ':' && i+1 < len(s) && s[i+1] != '.' && s[i+1] != '?' && (i == 0 || s[i-1] != '?') {
				ternary++
			}
			continue
		}
		if depth == 0 && s[i] == c {
			if c == ':' && ternary > 0 {
				ternary--
				continue
			}
			return i
		}
	}
	return -1
}
