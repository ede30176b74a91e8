package sqlfilter

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// node is one AST node. Every node records the byte offset of the token that
// names it (its operator, or its first token), for error positions.
type node interface {
	// pred reports whether the node is a predicate (TRUE/FALSE/unknown)
	// rather than a value expression.
	pred() bool
	// format appends the canonical text: every compound node parenthesized,
	// so that parsing the text again gives the same tree.
	format(b *strings.Builder)
	offset() int
}

type at struct{ pos int }

func (a at) offset() int { return a.pos }

// literal is a constant: nil, bool, int64, float64, string.
type literal struct {
	at
	v any
}

// propRef is a property; sys holds the canonical system name when the scope
// is sys, else name is the user property name as written.
type propRef struct {
	at
	sys  bool
	name string
}

// paramRef is an @parameter, resolved when parsed.
type paramRef struct {
	at
	name string
	v    any
}

type unary struct {
	at
	op string // "+" or "-"
	x  node
}

// binary is an arithmetic (+ - * / %), comparison (= <> != < <= > >=) or
// logical (AND OR) operator.
type binary struct {
	at
	op   string
	l, r node
}

type not struct {
	at
	x node
}

type in struct {
	at
	x    node
	list []node
	neg  bool
}

type like struct {
	at
	x, pattern, escape node // escape may be nil
	neg                bool
	// static is the compiled pattern when pattern and escape are string
	// constants, compiled once at parse time.
	static []likeElem
}

type isNull struct {
	at
	x   *propRef
	neg bool
}

type exists struct {
	at
	x *propRef
}

// call is newid() or property(name) / p(name).
type call struct {
	at
	fn  string // "newid" or "property"
	arg node   // nil for newid
}

func (*literal) pred() bool  { return false }
func (*propRef) pred() bool  { return false }
func (*paramRef) pred() bool { return false }
func (*unary) pred() bool    { return false }
func (n *binary) pred() bool { return isComparison(n.op) || n.op == "AND" || n.op == "OR" }
func (*not) pred() bool      { return true }
func (*in) pred() bool       { return true }
func (*like) pred() bool     { return true }
func (*isNull) pred() bool   { return true }
func (*exists) pred() bool   { return true }
func (*call) pred() bool     { return false }

func isComparison(op string) bool {
	switch op {
	case "=", "<>", "!=", "<", "<=", ">", ">=":
		return true
	}
	return false
}

func (n *literal) format(b *strings.Builder) { b.WriteString(formatValue(n.v)) }

func (n *propRef) format(b *strings.Builder) {
	if n.sys {
		b.WriteString("sys.")
		b.WriteString(n.name)
		return
	}
	b.WriteString(quoteName(n.name))
}

func (n *paramRef) format(b *strings.Builder) { b.WriteString(n.name) }

func (n *unary) format(b *strings.Builder) {
	b.WriteString("(")
	b.WriteString(n.op)
	n.x.format(b)
	b.WriteString(")")
}

func (n *binary) format(b *strings.Builder) {
	b.WriteString("(")
	n.l.format(b)
	b.WriteString(" " + n.op + " ")
	n.r.format(b)
	b.WriteString(")")
}

func (n *not) format(b *strings.Builder) {
	b.WriteString("(NOT ")
	n.x.format(b)
	b.WriteString(")")
}

func (n *in) format(b *strings.Builder) {
	b.WriteString("(")
	n.x.format(b)
	if n.neg {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, e := range n.list {
		if i > 0 {
			b.WriteString(", ")
		}
		e.format(b)
	}
	b.WriteString("))")
}

func (n *like) format(b *strings.Builder) {
	b.WriteString("(")
	n.x.format(b)
	if n.neg {
		b.WriteString(" NOT")
	}
	b.WriteString(" LIKE ")
	n.pattern.format(b)
	if n.escape != nil {
		b.WriteString(" ESCAPE ")
		n.escape.format(b)
	}
	b.WriteString(")")
}

func (n *isNull) format(b *strings.Builder) {
	b.WriteString("(")
	n.x.format(b)
	if n.neg {
		b.WriteString(" IS NOT NULL)")
	} else {
		b.WriteString(" IS NULL)")
	}
}

func (n *exists) format(b *strings.Builder) {
	b.WriteString("EXISTS(")
	n.x.format(b)
	b.WriteString(")")
}

func (n *call) format(b *strings.Builder) {
	if n.fn == "newid" {
		b.WriteString("newid()")
		return
	}
	b.WriteString("property(")
	n.arg.format(b)
	b.WriteString(")")
}

// formatValue renders a literal so that the lexer reads it back unchanged.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case bool:
		if x {
			return "TRUE"
		}
		return "FALSE"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return s // unreachable from literals: they are finite
		}
		if !strings.ContainsAny(s, ".eE") {
			s += ".0" // keep it a decimal constant, not an integer one
		}
		return s
	case string:
		return "'" + strings.ReplaceAll(x, "'", "''") + "'"
	case time.Time:
		return "'" + x.Format(time.RFC3339Nano) + "'"
	}
	return "NULL"
}

// quoteName writes a user property name bare when it is a regular
// identifier, else as a delimited [identifier].
func quoteName(name string) string {
	if isRegularIdent(name) {
		return name
	}
	return "[" + strings.ReplaceAll(name, "]", "]]") + "]"
}

func isRegularIdent(s string) bool {
	if s == "" || keywords[strings.ToUpper(s)] {
		return false
	}
	for i, r := range s {
		if i == 0 && !unicode.IsLetter(r) {
			return false
		}
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}
