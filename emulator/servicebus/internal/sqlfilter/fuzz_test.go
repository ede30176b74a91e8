package sqlfilter

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// fuzzParams are the parameters every fuzz input may use.
var fuzzParams = map[string]any{"@s": "red", "@n": int64(3), "@d": 2.5, "@t": time.Unix(0, 0).UTC(), "@span": time.Second}

// setupFuzz returns a message for evaluating fuzzed filters and actions.
func setupFuzz(t *testing.T) *MapProperties {
	t.Helper()
	return &MapProperties{
		Sys: map[string]any{SysMessageID: "123456", SysLabel: "Sales bus", SysSequenceNumber: int64(7)},
		User: map[string]any{
			"userProp1": "value1", "color": "red", "quantity": int32(10), "price": 5.5,
			"flag": true, "nullProp": nil, "pct": "50%", "big": int64(-1 << 63),
		},
	}
}

// checkSyntaxError: every parse failure is a positioned *SyntaxError.
func checkSyntaxError(t *testing.T, src string, err error) {
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("parse(%q) error %T %v is not *SyntaxError", src, err, err)
	}
	if se.Line < 1 || se.Column < 1 || se.Offset < 0 || se.Offset > len(src) {
		t.Fatalf("parse(%q) error has a bad position: %+v", src, se)
	}
}

// checkEvalError: every evaluation failure is an *EvalError.
func checkEvalError(t *testing.T, src string, err error) {
	var ee *EvalError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("evaluating %q: error %T %v is not *EvalError", src, err, err)
	}
}

// FuzzParseFilter: parsing never panics, fails only with a positioned
// *SyntaxError, evaluation fails only with *EvalError, and the canonical
// String form parses back to itself.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"sys.MessageId = '123456' AND userProp1 = 'value1'",
		"1=1",
		"color IN ('red', 'blue') OR NOT quantity > 5 * (2 - 1)",
		"sys.Label LIKE '%bus%' AND pct LIKE '50!%' ESCAPE '!'",
		"EXISTS(flag) AND nullProp IS NULL AND missing IS NOT NULL",
		"[my prop] <> -9223372036854775808 OR \"quoted\" != 1.5E-3",
		"p('sys.MessageId') = @s AND newid() <> newid() AND @t + @span > @t",
		"price % @n = @d / 1 AND color NOT LIKE 'r_d'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		flt, err := ParseFilterWithParameters(src, fuzzParams)
		if err != nil {
			checkSyntaxError(t, src, err)
			return
		}
		_, err = flt.Match(setupFuzz(t))
		checkEvalError(t, src, err)
		canon := flt.String()
		again, err := parseFilter(canon, fuzzParams, parseOptions{noLimits: true})
		if err != nil {
			t.Fatalf("String() of %q = %q does not parse: %v", src, canon, err)
		}
		if again.String() != canon {
			t.Fatalf("round trip of %q: %q then %q", src, canon, again.String())
		}
	})
}

// FuzzParseAction: as FuzzParseFilter, for actions; a failed Apply must
// leave the message unchanged.
func FuzzParseAction(f *testing.F) {
	for _, s := range []string{
		"SET sys.To = 'Entity'",
		"SET quantity = quantity / 2; REMOVE priority;SET sys.CorrelationId = 'low';",
		"SET a = 1 SET b = a + 1 REMOVE a",
		"SET [x y] = p('color') + 'x'; SET sys.TimeToLive = @span",
		"SET id = newid(); SET sys.Label = NULL",
		"SET q = quantity / 0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		a, err := ParseActionWithParameters(src, fuzzParams)
		if err != nil {
			checkSyntaxError(t, src, err)
			return
		}
		m := setupFuzz(t)
		before := fmt.Sprint(m.Sys, m.User)
		if err := a.Apply(m); err != nil {
			checkEvalError(t, src, err)
			if after := fmt.Sprint(m.Sys, m.User); after != before {
				t.Fatalf("failed Apply(%q) changed the message:\n%s\n%s", src, before, after)
			}
		}
		canon := a.String()
		again, err := parseAction(canon, fuzzParams, parseOptions{noLimits: true})
		if err != nil {
			t.Fatalf("String() of %q = %q does not parse: %v", src, canon, err)
		}
		if again.String() != canon {
			t.Fatalf("round trip of %q: %q then %q", src, canon, again.String())
		}
	})
}
