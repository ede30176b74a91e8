package sqlfilter

import (
	"fmt"
	"strings"
)

// Action is a parsed SQL rule action: SET and REMOVE statements applied to
// a message a rule selected. It is immutable and safe for concurrent use.
type Action struct {
	src    string
	stmts  []statement
	params map[string]any // as given, kept so that the action can be stored and parsed again
}

// statement is SET target = expr, or REMOVE target when expr is nil.
type statement struct {
	pos    int
	target *propRef
	expr   node
}

// ParseAction parses a rule action (service-bus-messaging-sql-rule-action):
// one or more "SET property = expression" / "REMOVE property" statements,
// each optionally followed by ";". At most MaxActionStatements statements.
// SET on a read-only system property (SequenceNumber, EnqueuedTimeUtc, ...)
// and REMOVE of any system property are refused here, since a system
// property is a field of the message rather than a dictionary entry.
func ParseAction(expr string) (*Action, error) {
	return ParseActionWithParameters(expr, nil)
}

// ParseActionWithParameters parses an action that refers to @parameters
// (SqlRuleAction.Parameters); see ParseFilterWithParameters.
func ParseActionWithParameters(expr string, params map[string]any) (*Action, error) {
	return parseAction(expr, params, parseOptions{})
}

func parseAction(expr string, params map[string]any, opt parseOptions) (*Action, error) {
	p, err := newParser(expr, params, opt)
	if err != nil {
		return nil, err
	}
	a := &Action{src: expr, params: params}
	for {
		t, err := p.advance()
		if err != nil {
			return nil, err
		}
		if t.kind == tokEOF && len(a.stmts) > 0 {
			return a, nil
		}
		if !isKw(t, "SET") && !isKw(t, "REMOVE") {
			return nil, p.errAt(t.pos, "expected SET or REMOVE, found %s", t.describe())
		}
		if len(a.stmts) == MaxActionStatements && !opt.noLimits {
			e := syntaxErr(expr, t.pos, fmt.Sprintf("an action has at most %d statements", MaxActionStatements))
			e.Err = ErrTooManyStatements
			return nil, e
		}
		target, err := p.parseProperty()
		if err != nil {
			return nil, err
		}
		st := statement{pos: t.pos, target: target}
		if t.text == "REMOVE" {
			if target.sys {
				return nil, p.errAt(target.pos, "system property sys.%s cannot be removed", target.name)
			}
		} else {
			if target.sys && !SystemPropertySettable(target.name) {
				return nil, p.errAt(target.pos, "system property sys.%s is read-only", target.name)
			}
			if err := p.expectOp("=", "after the SET property"); err != nil {
				return nil, err
			}
			if st.expr, err = p.parseOperand(); err != nil {
				return nil, err
			}
		}
		a.stmts = append(a.stmts, st)
		if _, err := p.acceptOp(";"); err != nil {
			return nil, err
		}
	}
}

// Apply runs the statements in order against m; each sees the effect of the
// ones before it. Changes are collected first and written to m only when
// every statement succeeded, so an *EvalError leaves m untouched.
//
// Semantics (service-bus-messaging-sql-rule-action, "Considerations"):
// SET creates or replaces a property; a missing user property reads as
// NULL, and SET of a NULL value stores a property whose value is null (a
// system property is cleared). SET converts implicitly when C# would:
// an integer assigned over an existing floating-point property stays
// floating-point; otherwise the property takes the expression's type, and a
// plain copy (SET a = b) keeps b's exact Go type. A system property only
// accepts its own type (string, DateTime, TimeSpan or bool) or NULL.
func (a *Action) Apply(m MutableProperties) error {
	st := &staged{m: m}
	ev := evaluator{src: a.src, env: st}
	for _, s := range a.stmts {
		if s.expr == nil {
			st.remove(s.target.name)
			continue
		}
		v, raw, err := ev.assigned(s.expr)
		if err != nil {
			return err
		}
		if s.target.sys {
			if !checkSysValue(sysProps[strings.ToLower(s.target.name)].kind, v) {
				line, col := position(a.src, s.pos)
				return &EvalError{Line: line, Column: col, Err: fmt.Errorf("%w: cannot assign %s to sys.%s", ErrTypeMismatch, typeName(v), s.target.name)}
			}
			st.setSys(s.target.name, v)
			continue
		}
		st.setUser(s.target.name, v, raw)
	}
	st.commit()
	return nil
}

// assigned evaluates the right-hand side of SET: the normalized value, and
// the value to store (the raw one for a plain property copy).
func (ev *evaluator) assigned(n node) (v, raw any, err error) {
	switch n := n.(type) {
	case *propRef:
		raw, _ = ev.prop(n)
		return normalize(raw), raw, nil
	case *call:
		return ev.call(n)
	}
	v, err = ev.value(n)
	return v, v, err
}

// Expression returns the text the action was parsed from.
func (a *Action) Expression() string { return a.src }

// Parameters returns the @parameters the action was parsed with (nil for
// none); the caller must not modify the map.
func (a *Action) Parameters() map[string]any { return a.params }

// String returns the canonical form, statements separated by "; ".
func (a *Action) String() string {
	var b strings.Builder
	for i, s := range a.stmts {
		if i > 0 {
			b.WriteString("; ")
		}
		if s.expr == nil {
			b.WriteString("REMOVE ")
			s.target.format(&b)
			continue
		}
		b.WriteString("SET ")
		s.target.format(&b)
		b.WriteString(" = ")
		s.expr.format(&b)
	}
	return b.String()
}
