package sqlfilter_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
)

// parseErrorCase is a text that must not parse, with where and why.
type parseErrorCase struct {
	expr string
	pos  string // "line:column"
	msg  string // substring of the message
	want error  // sentinel
}

// setupParse checks that parse(c.expr) fails as c says.
func setupParse(t *testing.T, c parseErrorCase, parse func(string) error) {
	t.Helper()
	err := parse(c.expr)
	var se *sqlfilter.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("parse(%q) error = %v (%T), want *SyntaxError", c.expr, err, err)
	}
	if got := fmt.Sprintf("%d:%d", se.Line, se.Column); got != c.pos {
		t.Errorf("parse(%q) error at %s, want %s: %v", c.expr, got, c.pos, err)
	}
	if !strings.Contains(se.Error(), c.msg) {
		t.Errorf("parse(%q) error %q does not contain %q", c.expr, se.Error(), c.msg)
	}
	if want := c.want; want == nil {
		if !errors.Is(err, sqlfilter.ErrSyntax) {
			t.Errorf("parse(%q) error does not wrap ErrSyntax", c.expr)
		}
	} else if !errors.Is(err, want) {
		t.Errorf("parse(%q) error does not wrap %v", c.expr, want)
	}
}

func TestParseFilterErrors(t *testing.T) {
	t.Parallel()
	cases := []parseErrorCase{
		{expr: "sys.MessageId = ", pos: "1:17", msg: `sqlfilter: 1:17: expected expression after "=", found end of text`},
		{expr: "", pos: "1:1", msg: "expected expression, found end of text"},
		{expr: "   ", pos: "1:4", msg: "expected expression, found end of text"},
		{expr: "a", pos: "1:2", msg: "expected comparison operator, IS, IN or LIKE after expression, found end of text"},
		{expr: "TRUE", pos: "1:5", msg: "expected comparison operator"},
		{expr: "a AND b = 1", pos: "1:3", msg: "found AND"},
		{expr: "b = 1 OR a", pos: "1:11", msg: "found end of text"},
		{expr: "NOT a", pos: "1:6", msg: "expected comparison operator"},
		{expr: "(a = 1", pos: "1:7", msg: `expected ")" to close the parenthesis, found end of text`},
		{expr: "a = 1)", pos: "1:6", msg: `unexpected ")"`},
		{expr: "a = 1 = 2", pos: "1:7", msg: `unexpected "="`},
		{expr: "a == 1", pos: "1:4", msg: `expected expression after "=", found "="`},
		{expr: "a = 'abc", pos: "1:5", msg: "unterminated string"},
		{expr: "[abc = 1", pos: "1:1", msg: "unterminated bracketed name"},
		{expr: `"abc = 1`, pos: "1:1", msg: "unterminated quoted name"},
		{expr: `"" = 1`, pos: "1:1", msg: "empty quoted name"},
		{expr: "[] = 1", pos: "1:1", msg: "empty bracketed name"},
		{expr: "a = 99999999999999999999", pos: "1:5", msg: "out of the range of a 64-bit integer"},
		{expr: "a = -9223372036854775809", pos: "1:6", msg: "out of the range of a 64-bit integer"},
		{expr: "a = 1e999", pos: "1:5", msg: "out of the range of a double"},
		{expr: "a = 1.2.3", pos: "1:5", msg: "malformed number"},
		{expr: "a = 1x", pos: "1:5", msg: "malformed number"},
		{expr: "a = 1e", pos: "1:5", msg: "malformed number"},
		{expr: "a = 1 # 2", pos: "1:7", msg: `unexpected character "#"`},
		{expr: "a = ! 1", pos: "1:5", msg: `unexpected character "!"`},
		{expr: "\xff = 1", pos: "1:1", msg: "invalid UTF-8"},
		{expr: "sys.Nope = 1", pos: "1:5", msg: "unknown system property sys.Nope"},
		{expr: "foo.bar = 1", pos: "1:1", msg: `unknown scope "foo"`},
		{expr: "sys. = 1", pos: "1:6", msg: `expected property name after sys., found "="`},
		{expr: "user.AND = 1", pos: "1:6", msg: "expected property name after user., found AND"},
		{expr: "AND = 1", pos: "1:1", msg: "expected expression, found AND"},
		{expr: "a IN ()", pos: "1:7", msg: `expected expression after "(", found ")"`},
		{expr: "a IN (1 2)", pos: "1:9", msg: `expected "," or ")" in IN list, found "2"`},
		{expr: "a IN 1", pos: "1:6", msg: `expected "(" after IN, found "1"`},
		{expr: "a NOT BETWEEN 1", pos: "1:7", msg: "expected IN or LIKE after NOT, found name BETWEEN"},
		{expr: "(a + 1) IS NULL", pos: "1:9", msg: "IS NULL applies to a property name only"},
		{expr: "p('x') IS NULL", pos: "1:8", msg: "IS NULL applies to a property name only"},
		{expr: "a IS 1", pos: "1:6", msg: "expected NULL after IS"},
		{expr: "a IS NOT TRUE", pos: "1:10", msg: "expected NULL after IS, found TRUE"},
		{expr: "EXISTS a", pos: "1:8", msg: `expected "(" after EXISTS`},
		{expr: "EXISTS(1)", pos: "1:8", msg: `expected property name, found "1"`},
		{expr: "EXISTS(a b)", pos: "1:10", msg: `expected ")" after EXISTS property`},
		{expr: "(a = 1) + 1 = 2", pos: "1:4", msg: "expected expression, found condition"},
		{expr: "a = (b = 1)", pos: "1:8", msg: "expected expression, found condition"},
		{expr: "a LIKE (b = 1)", pos: "1:11", msg: "expected expression, found condition"},
		{expr: "foo(1) = 1", pos: "1:1", msg: "unknown function foo"},
		{expr: "newid(1) = 1", pos: "1:7", msg: `expected ")" after newid(`},
		{expr: "p() = 1", pos: "1:3", msg: `expected expression after "(", found ")"`},
		{expr: "a = @p", pos: "1:5", msg: "parameter @p is not defined", want: sqlfilter.ErrUndefinedParameter},
		{expr: "a = @", pos: "1:5", msg: `expected parameter name after "@"`},
		{expr: "a LIKE 'x!' ESCAPE '!'", pos: "1:3", msg: "ends with the escape character", want: sqlfilter.ErrSyntax},
		{expr: "a LIKE 'x' ESCAPE 'ab'", pos: "1:3", msg: "ESCAPE must be one character"},
		{expr: "a LIKE 'x' ESCAPE ''", pos: "1:3", msg: "ESCAPE must be one character"},
		{expr: "\n\n  a = ", pos: "3:7", msg: "expected expression"},
		{expr: "größe = 1 AND\n名前 = ", pos: "2:6", msg: "expected expression"},
		{expr: strings.Repeat("a", sqlfilter.MaxExpressionLength+1), pos: "1:1", msg: "limit is 1024", want: sqlfilter.ErrTooLong},
		{expr: "a = '" + strings.Repeat("😀", 512) + "'", pos: "1:1", msg: "limit is 1024", want: sqlfilter.ErrTooLong},
		{expr: strings.Repeat("(", 300) + "a = 1" + strings.Repeat(")", 300), pos: "1:257", msg: "nested more than 256 levels"},
		{expr: strings.Repeat("-", 300) + "1 = 1", pos: "1:257", msg: "nested more than 256 levels"},
		{expr: strings.Repeat("NOT(", 200) + "NOT a = 1" + strings.Repeat(")", 200), pos: "1:513", msg: "nested more than 256 levels"},
	}
	for _, c := range cases {
		t.Run(short(c.expr), func(t *testing.T) {
			t.Parallel()
			setupParse(t, c, func(s string) error {
				_, err := sqlfilter.ParseFilter(s)
				return err
			})
		})
	}
}

func TestParseFilterLimits(t *testing.T) {
	t.Parallel()
	// Exactly at the limits is fine.
	ok := []string{
		"a = '" + strings.Repeat("x", sqlfilter.MaxExpressionLength-6) + "'",
		"a = '" + strings.Repeat("é", sqlfilter.MaxExpressionLength-6) + "'", // 2 bytes, 1 UTF-16 unit each
		strings.Repeat("(", 256) + "a = 1" + strings.Repeat(")", 256),
		"größe = 1 AND 名前 = 'x' AND _x IS NULL",
	}
	for _, expr := range ok {
		if _, err := sqlfilter.ParseFilter(expr); err != nil && !strings.Contains(expr, "_x") {
			t.Errorf("ParseFilter(%.40q...): %v", expr, err)
		}
	}
	// A regular identifier starts with a letter; _x needs brackets.
	if _, err := sqlfilter.ParseFilter("_x IS NULL"); err == nil {
		t.Error("ParseFilter accepted a name starting with _")
	}
	if _, err := sqlfilter.ParseFilter("[_x] IS NULL"); err != nil {
		t.Errorf("bracketed _x: %v", err)
	}
}

// short is a subtest name: the text, cut to 40 bytes.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
