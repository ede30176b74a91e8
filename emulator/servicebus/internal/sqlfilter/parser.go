package sqlfilter

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Limits of the service that the parser enforces (service-bus-quotas; the
// .NET SqlRuleFilter / SqlRuleAction constructors; the emulator's
// usage-quota table).
const (
	// MaxExpressionLength is the longest filter or action text, in UTF-16
	// code units as .NET counts string length.
	MaxExpressionLength = 1024
	// MaxActionStatements is the most SET/REMOVE statements in one action.
	MaxActionStatements = 32
)

// maxDepth bounds nesting of parentheses, NOT and unary signs so that
// recursion stays shallow whatever the text. At 1024 characters no sensible
// filter comes near it.
const maxDepth = 256

// parser is a recursive-descent parser over a lazily scanned token stream.
type parser struct {
	lex      lexer
	buf      []token // look-ahead
	prev     token   // last consumed token
	hasPrev  bool
	depth    int
	maxDepth int
	params   map[string]any
}

// parseOptions carries the limits; the fuzz round-trip disables them
// because canonical text adds parentheses.
type parseOptions struct {
	noLimits bool
}

func newParser(src string, params map[string]any, opt parseOptions) (*parser, error) {
	p := &parser{lex: lexer{src: src}, params: params, maxDepth: maxDepth}
	if opt.noLimits {
		p.maxDepth = math.MaxInt
		return p, nil
	}
	if n := utf16Len(src); n > MaxExpressionLength {
		e := syntaxErr(src, 0, fmt.Sprintf("expression is %d characters long; the limit is %d", n, MaxExpressionLength))
		e.Err = ErrTooLong
		return nil, e
	}
	return p, nil
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if l := utf16.RuneLen(r); l > 0 {
			n += l
		} else {
			n++ // invalid UTF-8 byte; the lexer rejects it
		}
	}
	return n
}

// peek returns the k-th token ahead (0 = next) without consuming it.
func (p *parser) peek(k int) (token, error) {
	for len(p.buf) <= k {
		t, err := p.lex.next()
		if err != nil {
			return token{}, err
		}
		p.buf = append(p.buf, t)
		if t.kind == tokEOF {
			break
		}
	}
	if k >= len(p.buf) {
		return p.buf[len(p.buf)-1], nil // EOF repeats
	}
	return p.buf[k], nil
}

// skip consumes the next token, which the caller has peeked: it is
// buffered, so consuming it cannot fail.
func (p *parser) skip() {
	if len(p.buf) == 0 {
		panic("sqlfilter: skip without a peeked token")
	}
	t := p.buf[0]
	if t.kind != tokEOF {
		p.buf = p.buf[1:]
	}
	p.prev, p.hasPrev = t, true
}

// advance consumes and returns the next token.
func (p *parser) advance() (token, error) {
	t, err := p.peek(0)
	if err != nil {
		return t, err
	}
	if t.kind != tokEOF {
		p.buf = p.buf[1:]
	}
	p.prev, p.hasPrev = t, true
	return t, nil
}

func (p *parser) errAt(pos int, format string, args ...any) error {
	return syntaxErr(p.lex.src, pos, fmt.Sprintf(format, args...))
}

// isOp and isKw test a token.
func isOp(t token, op string) bool { return t.kind == tokOp && t.text == op }
func isKw(t token, kw string) bool { return t.kind == tokKeyword && t.text == kw }

// acceptOp consumes the next token if it is op.
func (p *parser) acceptOp(op string) (bool, error) {
	t, err := p.peek(0)
	if err != nil || !isOp(t, op) {
		return false, err
	}
	_, err = p.advance()
	return true, err
}

func (p *parser) acceptKw(kw string) (bool, error) {
	t, err := p.peek(0)
	if err != nil || !isKw(t, kw) {
		return false, err
	}
	_, err = p.advance()
	return true, err
}

func (p *parser) expectOp(op, context string) error {
	t, err := p.peek(0)
	if err != nil {
		return err
	}
	if !isOp(t, op) {
		return p.errAt(t.pos, "expected %q %s, found %s", op, context, t.describe())
	}
	_, err = p.advance()
	return err
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > p.maxDepth {
		return p.errAt(pos, "expression nested more than %d levels deep", p.maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// requirePred fails when n is a value where a condition is needed; the
// error points at the token after the value, where an operator was due.
func (p *parser) requirePred(n node) error {
	if n.pred() {
		return nil
	}
	t, err := p.peek(0)
	if err != nil {
		return err
	}
	return p.errAt(t.pos, "expected comparison operator, IS, IN or LIKE after expression, found %s", t.describe())
}

// requireValue fails when n is a condition where a value is needed.
func (p *parser) requireValue(n node) error {
	if !n.pred() {
		return nil
	}
	return p.errAt(n.offset(), "expected expression, found condition")
}

// parseOr: or := and { OR and }.
func (p *parser) parseOr() (node, error) {
	return p.parseBinary(keyword("OR"), p.parseAnd, p.requirePred)
}

// parseAnd: and := not { AND not }.
func (p *parser) parseAnd() (node, error) {
	return p.parseBinary(keyword("AND"), p.parseNot, p.requirePred)
}

// parseBinary parses operand { op operand } left-associatively. match
// recognises an operator token and names it; check must hold for both sides
// of every operator (conditions for AND and OR, values for arithmetic).
func (p *parser) parseBinary(match func(token) (string, bool), operand func() (node, error), check func(node) error) (node, error) {
	l, err := operand()
	if err != nil {
		return nil, err
	}
	for {
		t, err := p.peek(0)
		if err != nil {
			return nil, err
		}
		op, ok := match(t)
		if !ok {
			return l, nil
		}
		if err := check(l); err != nil {
			return nil, err
		}
		p.skip()
		r, err := operand()
		if err != nil {
			return nil, err
		}
		if err := check(r); err != nil {
			return nil, err
		}
		l = &binary{at: at{t.pos}, op: op, l: l, r: r}
	}
}

// keyword matches the keyword kw as a binary operator.
func keyword(kw string) func(token) (string, bool) {
	return func(t token) (string, bool) { return kw, isKw(t, kw) }
}

// operators matches any of the symbols ops as a binary operator.
func operators(ops ...string) func(token) (string, bool) {
	return func(t token) (string, bool) {
		for _, op := range ops {
			if isOp(t, op) {
				return op, true
			}
		}
		return "", false
	}
}

// parseNot: not := NOT not | predicate.
func (p *parser) parseNot() (node, error) {
	t, err := p.peek(0)
	if err != nil {
		return nil, err
	}
	if !isKw(t, "NOT") {
		return p.parsePredicate()
	}
	p.skip()
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	defer p.leave()
	x, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	if err := p.requirePred(x); err != nil {
		return nil, err
	}
	return &not{at: at{t.pos}, x: x}, nil
}

// parsePredicate parses EXISTS(p), or an expression optionally followed by
// a comparison, IS [NOT] NULL, [NOT] IN or [NOT] LIKE. Without one of those
// the expression is returned as is (a parenthesized value or predicate);
// callers that need a condition check with requirePred.
func (p *parser) parsePredicate() (node, error) {
	t, err := p.peek(0)
	if err != nil {
		return nil, err
	}
	if isKw(t, "EXISTS") {
		p.skip()
		if err := p.expectOp("(", "after EXISTS"); err != nil {
			return nil, err
		}
		prop, err := p.parseProperty()
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(")", "after EXISTS property"); err != nil {
			return nil, err
		}
		return &exists{at: at{t.pos}, x: prop}, nil
	}
	l, err := p.parseAdditive()
	if err != nil {
		return nil, err
	}
	op, err := p.peek(0)
	if err != nil {
		return nil, err
	}
	switch {
	case op.kind == tokOp && isComparison(op.text):
		if err := p.requireValue(l); err != nil {
			return nil, err
		}
		p.skip()
		r, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		return &binary{at: at{op.pos}, op: op.text, l: l, r: r}, nil
	case isKw(op, "IS"):
		p.skip()
		prop, ok := l.(*propRef)
		if !ok {
			return nil, p.errAt(op.pos, "IS NULL applies to a property name only")
		}
		neg, err := p.acceptKw("NOT")
		if err != nil {
			return nil, err
		}
		nt, err := p.peek(0)
		if err != nil {
			return nil, err
		}
		if !isKw(nt, "NULL") {
			return nil, p.errAt(nt.pos, "expected NULL after IS, found %s", nt.describe())
		}
		p.skip()
		return &isNull{at: at{op.pos}, x: prop, neg: neg}, nil
	case isKw(op, "IN"), isKw(op, "LIKE"):
		if err := p.requireValue(l); err != nil {
			return nil, err
		}
		return p.parseInLike(l, false)
	case isKw(op, "NOT"):
		nt, err := p.peek(1)
		if err != nil {
			return nil, err
		}
		if !isKw(nt, "IN") && !isKw(nt, "LIKE") {
			return nil, p.errAt(nt.pos, "expected IN or LIKE after NOT, found %s", nt.describe())
		}
		if err := p.requireValue(l); err != nil {
			return nil, err
		}
		p.skip()
		return p.parseInLike(l, true)
	}
	return l, nil
}

// parseInLike parses the rest of [NOT] IN (list) or [NOT] LIKE pattern
// [ESCAPE char]; the next token is IN or LIKE.
func (p *parser) parseInLike(x node, neg bool) (node, error) {
	kw, _ := p.advance()
	if kw.text == "LIKE" {
		pat, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		n := &like{at: at{kw.pos}, x: x, pattern: pat, neg: neg}
		esc, err := p.acceptKw("ESCAPE")
		if err != nil {
			return nil, err
		}
		if esc {
			if n.escape, err = p.parseOperand(); err != nil {
				return nil, err
			}
		}
		return n, p.compileStatic(n)
	}
	if err := p.expectOp("(", "after IN"); err != nil {
		return nil, err
	}
	n := &in{at: at{kw.pos}, x: x, neg: neg}
	for {
		e, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		n.list = append(n.list, e)
		t, err := p.advance()
		if err != nil {
			return nil, err
		}
		if isOp(t, ")") {
			return n, nil
		}
		if !isOp(t, ",") {
			return nil, p.errAt(t.pos, `expected "," or ")" in IN list, found %s`, t.describe())
		}
	}
}

// compileStatic compiles a LIKE whose pattern and escape are string
// constants, so that a bad constant pattern is refused when parsed.
func (p *parser) compileStatic(n *like) error {
	pat, ok := n.pattern.(*literal)
	if !ok {
		return nil
	}
	if _, ok := pat.v.(string); !ok {
		return nil
	}
	var esc any
	if n.escape != nil {
		e, ok := n.escape.(*literal)
		if !ok {
			return nil
		}
		if _, ok := e.v.(string); !ok {
			return nil
		}
		esc = e.v
	}
	elems, err := compileLikeValues(pat.v, esc)
	if err != nil {
		return p.errAt(n.pos, "%v", err)
	}
	n.static = elems
	return nil
}

// parseOperand parses an expression that must be a value.
func (p *parser) parseOperand() (node, error) {
	n, err := p.parseAdditive()
	if err != nil {
		return nil, err
	}
	return n, p.requireValue(n)
}

// parseAdditive: additive := multiplicative { (+|-) multiplicative }.
func (p *parser) parseAdditive() (node, error) {
	return p.parseBinary(operators("+", "-"), p.parseMultiplicative, p.requireValue)
}

// parseMultiplicative: multiplicative := unary { (*|/|%) unary }.
func (p *parser) parseMultiplicative() (node, error) {
	return p.parseBinary(operators("*", "/", "%"), p.parseUnary, p.requireValue)
}

// parseUnary: unary := (+|-) unary | primary. A minus before a numeric
// constant folds into a negative constant, which is how -9223372036854775808
// stays in range.
func (p *parser) parseUnary() (node, error) {
	t, err := p.peek(0)
	if err != nil {
		return nil, err
	}
	if !isOp(t, "+") && !isOp(t, "-") {
		return p.parsePrimary()
	}
	p.skip()
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	defer p.leave()
	if t.text == "-" {
		if nt, err := p.peek(0); err == nil && nt.kind == tokInt && nt.text == "9223372036854775808" {
			p.skip()
			return &literal{at: at{t.pos}, v: int64(math.MinInt64)}, nil
		}
	}
	x, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	if err := p.requireValue(x); err != nil {
		return nil, err
	}
	if lit, ok := x.(*literal); ok && t.text == "-" {
		switch v := lit.v.(type) {
		case int64:
			return &literal{at: at{t.pos}, v: -v}, nil
		case float64:
			return &literal{at: at{t.pos}, v: -v}, nil
		}
	}
	return &unary{at: at{t.pos}, op: t.text, x: x}, nil
}

// parsePrimary parses a constant, parameter, function call, property or
// parenthesized expression.
func (p *parser) parsePrimary() (node, error) {
	t, err := p.peek(0)
	if err != nil {
		return nil, err
	}
	switch t.kind {
	case tokInt:
		p.skip()
		v, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, p.errAt(t.pos, "integer constant %s is out of the range of a 64-bit integer", t.text)
		}
		return &literal{at: at{t.pos}, v: v}, nil
	case tokFloat:
		p.skip()
		v, err := strconv.ParseFloat(t.text, 64)
		if err != nil && (math.IsInf(v, 0) || !errors.Is(err, strconv.ErrRange)) {
			return nil, p.errAt(t.pos, "numeric constant %s is out of the range of a double", t.text)
		}
		return &literal{at: at{t.pos}, v: v}, nil
	case tokString:
		p.skip()
		return &literal{at: at{t.pos}, v: t.text}, nil
	case tokKeyword:
		switch t.text {
		case "TRUE", "FALSE":
			p.skip()
			return &literal{at: at{t.pos}, v: t.text == "TRUE"}, nil
		case "NULL":
			p.skip()
			return &literal{at: at{t.pos}, v: nil}, nil
		}
	case tokParam:
		p.skip()
		return p.param(t)
	case tokOp:
		if t.text == "(" {
			p.skip()
			if err := p.enter(t.pos); err != nil {
				return nil, err
			}
			defer p.leave()
			x, err := p.parseOr()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")", "to close the parenthesis"); err != nil {
				return nil, err
			}
			return x, nil
		}
	case tokIdent:
		if nt, err := p.peek(1); err == nil && isOp(nt, "(") {
			return p.parseCall()
		}
		return p.parseProperty()
	case tokQuotedIdent, tokBracketIdent:
		return p.parseProperty()
	}
	if !p.hasPrev {
		return nil, p.errAt(t.pos, "expected expression, found %s", t.describe())
	}
	return nil, p.errAt(t.pos, "expected expression after %s, found %s", p.prev.describe(), t.describe())
}

// param resolves @name against the supplied parameters; the service allows
// string, int, long, bool, double (SqlRuleFilter.Parameters) and the filter
// examples also use DateTime and TimeSpan.
func (p *parser) param(t token) (node, error) {
	v, ok := p.params[t.text]
	if !ok {
		for k, pv := range p.params {
			if strings.EqualFold(k, t.text) {
				v, ok = pv, true
				break
			}
		}
	}
	if !ok {
		e := syntaxErr(p.lex.src, t.pos, "parameter "+t.text+" is not defined")
		e.Err = ErrUndefinedParameter
		return nil, e
	}
	v = normalize(v)
	switch v.(type) {
	case nil, bool, int64, float64, string, time.Time, time.Duration:
	default:
		e := syntaxErr(p.lex.src, t.pos, fmt.Sprintf("parameter %s has unsupported type %T", t.text, v))
		e.Err = ErrUndefinedParameter
		return nil, e
	}
	return &paramRef{at: at{t.pos}, name: t.text, v: v}, nil
}

// parseCall parses newid() or property(expr) / p(expr); the next token is
// the function name.
func (p *parser) parseCall() (node, error) {
	t, _ := p.advance()
	p.skip() // "("
	switch strings.ToLower(t.text) {
	case "newid":
		if err := p.expectOp(")", "after newid("); err != nil {
			return nil, err
		}
		return &call{at: at{t.pos}, fn: "newid"}, nil
	case "property", "p":
		arg, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(")", "after the property name"); err != nil {
			return nil, err
		}
		return &call{at: at{t.pos}, fn: "property", arg: arg}, nil
	}
	return nil, p.errAt(t.pos, "unknown function %s (the language has newid, property and p)", t.text)
}

// parseProperty parses [scope .] name, where scope is sys or user.
func (p *parser) parseProperty() (*propRef, error) {
	t, err := p.advance()
	if err != nil {
		return nil, err
	}
	if !isName(t) {
		return nil, p.errAt(t.pos, "expected property name, found %s", t.describe())
	}
	dot, err := p.peek(0)
	if err != nil {
		return nil, err
	}
	if !isOp(dot, ".") {
		return &propRef{at: at{t.pos}, name: t.text}, nil
	}
	scope := strings.ToLower(t.text)
	if scope != "sys" && scope != "user" {
		return nil, p.errAt(t.pos, "unknown scope %q before \".\" (the scopes are sys and user)", t.text)
	}
	p.skip()
	n, err := p.advance()
	if err != nil {
		return nil, err
	}
	if !isName(n) {
		return nil, p.errAt(n.pos, "expected property name after %s., found %s", t.text, n.describe())
	}
	if scope == "user" {
		return &propRef{at: at{t.pos}, name: n.text}, nil
	}
	canon, ok := SystemPropertyName(n.text)
	if !ok {
		return nil, p.errAt(n.pos, "unknown system property sys.%s", n.text)
	}
	return &propRef{at: at{t.pos}, sys: true, name: canon}, nil
}

func isName(t token) bool {
	return t.kind == tokIdent || t.kind == tokQuotedIdent || t.kind == tokBracketIdent
}

// expectEOF fails unless the text is consumed.
func (p *parser) expectEOF() error {
	t, err := p.peek(0)
	if err != nil {
		return err
	}
	if t.kind != tokEOF {
		return p.errAt(t.pos, "unexpected %s", t.describe())
	}
	return nil
}
