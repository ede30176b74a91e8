package sqlfilter

import "strings"

// Filter is a parsed SQL filter. It is immutable and safe for concurrent
// use.
type Filter struct {
	src    string
	root   node
	params map[string]any // as given, kept so that the filter can be stored and parsed again
}

// ParseFilter parses a SQL filter expression (a predicate). Errors are
// *SyntaxError with the 1-based line and column. "1=1" is the TrueFilter and
// "1=0" the FalseFilter of the SDKs.
func ParseFilter(expr string) (*Filter, error) {
	return ParseFilterWithParameters(expr, nil)
}

// ParseFilterWithParameters parses a filter that refers to @parameters
// (SqlRuleFilter.Parameters). Keys include the "@" and match
// case-insensitively; values may be string, any integer type, bool,
// float32/64, time.Time or time.Duration.
func ParseFilterWithParameters(expr string, params map[string]any) (*Filter, error) {
	return parseFilter(expr, params, parseOptions{})
}

func parseFilter(expr string, params map[string]any, opt parseOptions) (*Filter, error) {
	p, err := newParser(expr, params, opt)
	if err != nil {
		return nil, err
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if err := p.requirePred(root); err != nil {
		return nil, err
	}
	if err := p.expectEOF(); err != nil {
		return nil, err
	}
	return &Filter{src: expr, root: root, params: params}, nil
}

// Match evaluates the filter against a message. It returns true only when
// the predicate is TRUE; FALSE and unknown (for example a comparison with a
// missing property) do not match. An *EvalError means the filter could not
// be evaluated for this message (type mismatch, division by zero, ...); the
// service then does not select the message, and neither should the caller.
func (f *Filter) Match(m Properties) (bool, error) {
	ev := evaluator{src: f.src, env: msgEnv{m}}
	t, err := ev.pred(f.root)
	if err != nil {
		return false, err
	}
	return t == triTrue, nil
}

// Expression returns the text the filter was parsed from.
func (f *Filter) Expression() string { return f.src }

// Parameters returns the @parameters the filter was parsed with (nil for
// none); the caller must not modify the map.
func (f *Filter) Parameters() map[string]any { return f.params }

// String returns the canonical form: keywords upper-case, system property
// names canonical, every compound expression parenthesized. Parsing it
// gives an equivalent filter.
func (f *Filter) String() string {
	var b strings.Builder
	f.root.format(&b)
	return b.String()
}
