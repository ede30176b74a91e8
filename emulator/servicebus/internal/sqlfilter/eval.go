package sqlfilter

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// env is where an evaluation reads properties: the message itself for a
// filter, the message plus pending changes for an action.
type env interface {
	// sys returns a system property by canonical name.
	sys(name string) (any, bool)
	// user returns the raw value of a user property, matched
	// case-insensitively.
	user(name string) (any, bool)
}

// msgEnv reads straight from the message.
type msgEnv struct{ m Properties }

func (e msgEnv) sys(name string) (any, bool) { return e.m.System(name) }

func (e msgEnv) user(name string) (any, bool) {
	_, v, ok := lookupUser(e.m.UserProperties(), name)
	return v, ok
}

// evaluator walks a tree for one message.
type evaluator struct {
	src string
	env env
}

// fail wraps err as an *EvalError located at n (an *EvalError passes
// through).
func (ev *evaluator) fail(n node, err error) error {
	var ee *EvalError
	if errors.As(err, &ee) {
		return err
	}
	line, col := position(ev.src, n.offset())
	return &EvalError{Line: line, Column: col, Err: err}
}

// pred evaluates a predicate with SQL three-valued logic. AND and OR
// short-circuit (FALSE AND x, TRUE OR x skip x, as the C# operators && and
// || do), so an error in the skipped side does not surface.
func (ev *evaluator) pred(n node) (tri, error) {
	switch n := n.(type) {
	case *binary:
		switch n.op {
		case "AND":
			l, err := ev.pred(n.l)
			if err != nil || l == triFalse {
				return l, err
			}
			r, err := ev.pred(n.r)
			if err != nil || r == triFalse {
				return r, err
			}
			if l == triUnknown || r == triUnknown {
				return triUnknown, nil
			}
			return triTrue, nil
		case "OR":
			l, err := ev.pred(n.l)
			if err != nil || l == triTrue {
				return l, err
			}
			r, err := ev.pred(n.r)
			if err != nil || r == triTrue {
				return r, err
			}
			if l == triUnknown || r == triUnknown {
				return triUnknown, nil
			}
			return triFalse, nil
		}
		a, err := ev.value(n.l)
		if err != nil {
			return triUnknown, err
		}
		b, err := ev.value(n.r)
		if err != nil {
			return triUnknown, err
		}
		t, err := compare(n.op, a, b)
		if err != nil {
			return triUnknown, ev.fail(n, err)
		}
		return t, nil
	case *not:
		t, err := ev.pred(n.x)
		if err != nil {
			return t, err
		}
		return negTri(t), nil
	case *in:
		return ev.in(n)
	case *like:
		return ev.like(n)
	case *isNull:
		v, ok := ev.prop(n.x)
		return triOf((!ok || v == nil) != n.neg), nil
	case *exists:
		v, ok := ev.prop(n.x)
		if n.x.sys {
			ok = ok && v != nil
		}
		return triOf(ok), nil
	}
	return triUnknown, ev.fail(n, fmt.Errorf("%w: not a condition", ErrTypeMismatch))
}

func negTri(t tri) tri {
	switch t {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triUnknown
}

// in: unknown when the left side is; otherwise TRUE when some element
// equals it. NULL elements never equal anything; the docs define no other
// unknown case for IN.
func (ev *evaluator) in(n *in) (tri, error) {
	x, err := ev.value(n.x)
	if err != nil || x == nil {
		return triUnknown, err
	}
	found := false
	for _, e := range n.list {
		v, err := ev.value(e)
		if err != nil {
			return triUnknown, err
		}
		if v == nil {
			continue
		}
		t, err := compare("=", x, v)
		if err != nil {
			return triUnknown, ev.fail(e, err)
		}
		if t == triTrue {
			found = true
			break
		}
	}
	return triOf(found != n.neg), nil
}

// like: unknown when any operand is; every operand must be a string and the
// escape exactly one character.
func (ev *evaluator) like(n *like) (tri, error) {
	x, err := ev.value(n.x)
	if err != nil {
		return triUnknown, err
	}
	pat, err := ev.value(n.pattern)
	if err != nil {
		return triUnknown, err
	}
	var esc any
	if n.escape != nil {
		if esc, err = ev.value(n.escape); err != nil {
			return triUnknown, err
		}
		if esc == nil {
			return triUnknown, nil
		}
	}
	if x == nil || pat == nil {
		return triUnknown, nil
	}
	s, ok := x.(string)
	if !ok {
		return triUnknown, ev.fail(n, fmt.Errorf("%w: LIKE needs a string, found %s", ErrTypeMismatch, typeName(x)))
	}
	elems := n.static
	if elems == nil {
		if elems, err = compileLikeValues(pat, esc); err != nil {
			return triUnknown, ev.fail(n, err)
		}
	}
	return triOf(matchLike(s, elems) != n.neg), nil
}

// compileLikeValues checks the pattern and escape operand types and
// compiles the pattern; esc nil means no ESCAPE clause.
func compileLikeValues(pat, esc any) ([]likeElem, error) {
	p, ok := pat.(string)
	if !ok {
		return nil, fmt.Errorf("%w: LIKE pattern must be a string, found %s", ErrTypeMismatch, typeName(pat))
	}
	escape := rune(-1)
	if esc != nil {
		e, ok := esc.(string)
		if !ok {
			return nil, fmt.Errorf("%w: ESCAPE must be a string, found %s", ErrTypeMismatch, typeName(esc))
		}
		if utf8.RuneCountInString(e) != 1 {
			return nil, fmt.Errorf("%w: ESCAPE must be one character, found %q", ErrInvalidEscape, e)
		}
		escape, _ = utf8.DecodeRuneInString(e)
	}
	return compileLike(p, escape)
}

// prop reads a property reference; a missing property is (nil, false).
func (ev *evaluator) prop(p *propRef) (any, bool) {
	if p.sys {
		return ev.env.sys(p.name)
	}
	return ev.env.user(p.name)
}

// value evaluates a value expression to a normalized value; nil is NULL.
func (ev *evaluator) value(n node) (any, error) {
	switch n := n.(type) {
	case *literal:
		return n.v, nil
	case *paramRef:
		return n.v, nil
	case *propRef:
		v, _ := ev.prop(n)
		return normalize(v), nil
	case *unary:
		x, err := ev.value(n.x)
		if err != nil {
			return nil, err
		}
		v, err := negate(n.op, x)
		if err != nil {
			return nil, ev.fail(n, err)
		}
		return v, nil
	case *binary:
		a, err := ev.value(n.l)
		if err != nil {
			return nil, err
		}
		b, err := ev.value(n.r)
		if err != nil {
			return nil, err
		}
		v, err := arith(n.op, a, b)
		if err != nil {
			return nil, ev.fail(n, err)
		}
		return v, nil
	case *call:
		v, _, err := ev.call(n)
		return v, err
	}
	return nil, ev.fail(n, fmt.Errorf("%w: a condition is not a value", ErrTypeMismatch))
}

// call evaluates newid() or property(name). For property it also returns
// the raw value so that SET x = property('y') keeps y's exact type.
func (ev *evaluator) call(n *call) (v, raw any, err error) {
	if n.fn == "newid" {
		u, err := uuid.NewRandom()
		if err != nil {
			return nil, nil, ev.fail(n, fmt.Errorf("newid: %w", err))
		}
		return u, u, nil
	}
	name, err := ev.value(n.arg)
	if err != nil || name == nil {
		return nil, nil, err
	}
	s, ok := name.(string)
	if !ok {
		return nil, nil, ev.fail(n, fmt.Errorf("%w: property() needs a string name, found %s", ErrTypeMismatch, typeName(name)))
	}
	p, err := propertyByName(s)
	if err != nil {
		return nil, nil, ev.fail(n, err)
	}
	raw, _ = ev.prop(p)
	return normalize(raw), raw, nil
}

// propertyByName resolves the string argument of property(): "sys.X" names
// a system property, "user.X" or a bare name a user property. The docs only
// say the argument is an expression returning a string; reading it like
// the <property> syntax is our interpretation.
func propertyByName(s string) (*propRef, error) {
	if len(s) > 4 && strings.EqualFold(s[:4], "sys.") {
		canon, ok := SystemPropertyName(s[4:])
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownSystemProperty, s)
		}
		return &propRef{sys: true, name: canon}, nil
	}
	if len(s) > 5 && strings.EqualFold(s[:5], "user.") {
		s = s[5:]
	}
	return &propRef{name: s}, nil
}
