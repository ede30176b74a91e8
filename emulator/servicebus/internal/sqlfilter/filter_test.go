package sqlfilter_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
)

// symbol and wireUUID stand in for codec-defined types (AMQP symbol, uuid).
type (
	symbol   string
	wireUUID [16]byte
)

var (
	enqueued = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	guid     = uuid.MustParse("bb3159cd-fdfe-cd4d-a226-ac4c2deb5be1")
)

// setup returns a fresh message with a known set of properties.
func setup(t testing.TB) *sqlfilter.MapProperties {
	t.Helper()
	return &sqlfilter.MapProperties{
		Sys: map[string]any{
			sqlfilter.SysMessageID:       "123456",
			sqlfilter.SysCorrelationID:   "corr-1",
			sqlfilter.SysTo:              "Store5",
			sqlfilter.SysLabel:           "Sales bus event",
			sqlfilter.SysContentType:     "application/json",
			sqlfilter.SysSequenceNumber:  int64(42),
			sqlfilter.SysDeliveryCount:   uint32(0),
			sqlfilter.SysEnqueuedTimeUtc: enqueued,
			sqlfilter.SysTimeToLive:      time.Hour,
		},
		User: map[string]any{
			"userProp1":           "value1",
			"color":               "red",
			"quantity":            int32(10),
			"price":               5.5,
			"ratio":               float32(0.5),
			"big":                 int64(1) << 40,
			"u8":                  uint8(7),
			"huge":                uint64(1) << 63,
			"flag":                true,
			"nullProp":            nil,
			"Store Id":            "Store1",
			"Contoso & Northwind": "x",
			"sym":                 symbol("abc"),
			"guid":                wireUUID(guid),
			"bin":                 []byte("ab"),
			"list":                []any{1, 2},
			"when":                enqueued.Add(time.Minute),
			"pct":                 "50%",
			"under":               "a_b",
			"Upper":               "U",
			"upper":               "u",
			"empty":               "",
			"zero":                int64(0),
			"http://schemas.microsoft.com/xrm/2011/Claims/EntityLogicalName": "account",
		},
	}
}

func TestFilterMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr string
		want bool
	}{
		// The official emulator sample (Config.json, subscription.4).
		{"sys.MessageId = '123456' AND userProp1 = 'value1'", true},
		{"sys.MessageId = '123457' AND userProp1 = 'value1'", false},
		// Boolean filters.
		{"1=1", true},
		{"1=0", false},
		// Comparison operators on long.
		{"quantity = 10", true},
		{"quantity <> 10", false},
		{"quantity != 10", false},
		{"quantity > 9", true},
		{"quantity >= 10", true},
		{"quantity < 10", false},
		{"quantity <= 10", true},
		// int/long/double coercion: compare by value.
		{"quantity = 10.0", true},
		{"quantity < 10.5", true},
		{"price > 5", true},
		{"price = 5.5", true},
		{"ratio = 0.5", true},
		{"ratio = 5E-1", true},
		{"u8 = 7", true},
		{"big = 1099511627776", true},
		{"huge = 9223372036854775808.0", true}, // uint64 above MaxInt64 is a double
		{"sys.SequenceNumber = 42", true},
		{"sys.DeliveryCount = 0", true},
		// Arithmetic and precedence.
		{"quantity + 1 = 11", true},
		{"quantity - 1 * 2 = 8", true},
		{"(quantity - 1) * 2 = 18", true},
		{"quantity / 3 = 3", true},     // long division truncates
		{"quantity / 4.0 = 2.5", true}, // double when mixed
		{"quantity % 3 = 1", true},
		{"price % 2 = 1.5", true},
		{"-quantity = -10", true},
		{"+quantity = 10", true},
		{"- -quantity = 10", true},
		{"2 + 3 * 4 = 14", true},
		{"-9223372036854775808 < 0", true},
		{"9223372036854775807 + 1 < 0", true}, // unchecked long wraps
		{"1.0 / 0 > 1e308", true},
		{"'a' + 'b' = 'ab'", true},
		// Strings: ordinal, case-sensitive.
		{"color = 'red'", true},
		{"color = 'RED'", false},
		{"color <> 'blue'", true},
		{"[Store Id] = 'Store1'", true},
		{`"Contoso & Northwind" = 'x'`, true},
		{`"http://schemas.microsoft.com/xrm/2011/Claims/EntityLogicalName" = 'account'`, true},
		{"'it''s' = 'it''s'", true},
		{"empty = ''", true},
		{"sym = 'abc'", true},
		// Booleans.
		{"flag = TRUE", true},
		{"flag = false", false},
		{"flag <> FALSE", true},
		// Case-insensitive names, keywords, scopes.
		{"COLOR = 'red'", true},
		{"user.color = 'red'", true},
		{"USER.Color = 'red'", true},
		{"sys.label = 'Sales bus event'", true},
		{"SYS.LABEL = 'Sales bus event'", true},
		{"sys.Subject = 'Sales bus event'", true},
		{"color = 'red' and quantity = 10", true},
		{"upper = 'u'", true}, // the exact spelling wins
		{"Upper = 'U'", true},
		{"uPPer = 'U'", true}, // else the first spelling in byte order
		// Logical operators.
		{"color = 'red' OR color = 'blue'", true},
		{"color = 'blue' OR color = 'green'", false},
		{"NOT color = 'blue'", true},
		{"NOT (color = 'red' AND quantity = 10)", false},
		{"color = 'blue' OR color = 'red' AND quantity = 10", true}, // AND binds tighter
		{"(color = 'blue' OR color = 'red') AND quantity = 11", false},
		{"NOT NOT color = 'red'", true},
		// NULL and missing properties: unknown never matches, not even negated.
		{"missing = 1", false},
		{"NOT missing = 1", false},
		{"missing <> 1", false},
		{"nullProp = 'x'", false},
		{"missing = missing", false},
		{"NULL = NULL", false},
		{"missing + 1 = 1", false},
		{"-missing = 1", false},
		{"missing = 1 OR color = 'red'", true},         // U OR T = T
		{"missing = 1 OR color = 'blue'", false},       // U OR F = U
		{"missing = 1 AND color = 'red'", false},       // U AND T = U
		{"NOT (missing = 1 AND color = 'blue')", true}, // NOT (U AND F) = NOT F
		{"sys.SessionId = 'x'", false},
		// IS [NOT] NULL and EXISTS.
		{"missing IS NULL", true},
		{"nullProp IS NULL", true},
		{"color IS NULL", false},
		{"color IS NOT NULL", true},
		{"missing IS NOT NULL", false},
		{"sys.SessionId IS NULL", true},
		{"sys.MessageId IS NOT NULL", true},
		{"EXISTS(color)", true},
		{"EXISTS(nullProp)", true}, // present with a null value
		{"EXISTS(missing)", false},
		{"NOT EXISTS(missing)", true},
		{"exists (user.[Store Id])", true},
		{"EXISTS(sys.MessageId)", true},
		{"EXISTS(sys.SessionId)", false},
		// IN / NOT IN.
		{"StoreId IN ('Store1', 'Store2')", false}, // missing: unknown
		{"[Store Id] IN('Store1', 'Store2', 'Store3')", true},
		{"[Store Id] NOT IN ('Store1', 'Store2')", false},
		{"sys.To IN ('Store5','Store6','Store7') OR StoreId = 'Store8'", true},
		{"sys.To NOT IN ('Store1','Store2') OR StoreId NOT IN ('Store1')", true},
		{"quantity IN (1, 10.0, 11)", true},
		{"quantity IN (NULL, 10)", true},
		{"quantity IN (NULL, 11)", false},
		{"quantity NOT IN (NULL, 11)", true},
		{"missing NOT IN (1, 2)", false},
		{"quantity IN (quantity)", true},
		// LIKE / NOT LIKE with wildcards and escape.
		{"sys.Label LIKE '%bus%'", true},
		{"sys.Label LIKE '%BUS%'", false},
		{"sys.Label LIKE 'Sales%'", true},
		{"sys.Label LIKE '%event'", true},
		{"sys.Label LIKE 'Sales'", false},
		{"sys.Label LIKE 'S_les bus event'", true},
		{"sys.Label LIKE 'S_les'", false},
		{"sys.Label NOT LIKE '%bus%'", false},
		{"sys.Label LIKE '%'", true},
		{"empty LIKE '%'", true},
		{"empty LIKE '_'", false},
		{"pct LIKE '50\\%' ESCAPE '\\'", true},
		{"pct LIKE '5\\%' ESCAPE '\\'", false},
		{"pct LIKE '%!%' ESCAPE '!'", true},
		{"under LIKE 'a!_b' ESCAPE '!'", true},
		{"color LIKE 'a!_b' ESCAPE '!'", false},
		{"color LIKE 'r' + '%'", true},
		{"missing LIKE '%'", false},
		{"missing NOT LIKE '%'", false},
		{"color LIKE missing", false},
		{"color LIKE '%' ESCAPE missing", false},
		{"sys.CorrelationId LIKE 'corr-%'", true},
		{"sys.correlationid like 'abc-%'", false},
		// Other types.
		{"sys.EnqueuedTimeUtc < when", true},
		{"guid = guid", true},
		{"guid = newid()", false},
		{"bin = bin", true},
		// property() / p().
		{"property('color') = 'red'", true},
		{"p('user.color') = 'red'", true},
		{"p('sys.MessageId') = '123456'", true},
		{"p('col' + 'or') = 'red'", true},
		{"p('missing') = 1", false},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			t.Parallel()
			m := setup(t)
			f, err := sqlfilter.ParseFilter(c.expr)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", c.expr, err)
			}
			got, err := f.Match(m)
			if err != nil {
				t.Fatalf("Match(%q): %v", c.expr, err)
			}
			if got != c.want {
				t.Errorf("Match(%q) = %v, want %v", c.expr, got, c.want)
			}
		})
	}
}

func TestFilterEvalErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr      string
		want      error
		line, col int
	}{
		{"color = 1", sqlfilter.ErrTypeMismatch, 1, 7},
		{"quantity = 'ten'", sqlfilter.ErrTypeMismatch, 1, 10},
		{"flag = 1", sqlfilter.ErrTypeMismatch, 1, 6},
		{"flag > FALSE", sqlfilter.ErrTypeMismatch, 1, 6},
		{"color > 'a'", sqlfilter.ErrTypeMismatch, 1, 7},
		{"color + 1 = 'red1'", sqlfilter.ErrTypeMismatch, 1, 7},
		{"-color = 'x'", sqlfilter.ErrTypeMismatch, 1, 1},
		{"quantity LIKE '1%'", sqlfilter.ErrTypeMismatch, 1, 10},
		{"color LIKE 1", sqlfilter.ErrTypeMismatch, 1, 7},
		{"color LIKE '%' ESCAPE 1", sqlfilter.ErrTypeMismatch, 1, 7},
		{"color LIKE '%' ESCAPE p('color')", sqlfilter.ErrInvalidEscape, 1, 7},
		{"color LIKE p('pct') ESCAPE '%'", sqlfilter.ErrInvalidEscape, 1, 7},
		{"quantity / 0 = 1", sqlfilter.ErrDivideByZero, 1, 10},
		{"quantity % zero = 1", sqlfilter.ErrDivideByZero, 1, 10},
		{"-9223372036854775808 / -1 = 1", sqlfilter.ErrOverflow, 1, 22},
		{"quantity IN ('a', 10)", sqlfilter.ErrTypeMismatch, 1, 14},
		{"list = list", sqlfilter.ErrTypeMismatch, 1, 6},
		{"guid = 'bb3159cd-fdfe-cd4d-a226-ac4c2deb5be1'", sqlfilter.ErrTypeMismatch, 1, 6},
		{"p('sys.Nope') = 1", sqlfilter.ErrUnknownSystemProperty, 1, 1},
		{"p(1) = 1", sqlfilter.ErrTypeMismatch, 1, 1},
		{"when - sys.EnqueuedTimeUtc = sys.TimeToLive / 60", sqlfilter.ErrTypeMismatch, 1, 45},
		{"color = 'blue' OR\n  quantity = 'x'", sqlfilter.ErrTypeMismatch, 2, 12},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			t.Parallel()
			m := setup(t)
			f, err := sqlfilter.ParseFilter(c.expr)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", c.expr, err)
			}
			got, err := f.Match(m)
			if got || !errors.Is(err, c.want) {
				t.Fatalf("Match(%q) = %v, %v; want false, %v", c.expr, got, err, c.want)
			}
			var ee *sqlfilter.EvalError
			if !errors.As(err, &ee) {
				t.Fatalf("error %T is not *EvalError", err)
			}
			if ee.Line != c.line || ee.Column != c.col {
				t.Errorf("error at %d:%d, want %d:%d (%v)", ee.Line, ee.Column, c.line, c.col, err)
			}
		})
	}
}

// TestFilterShortCircuit: the side AND/OR skip is not evaluated, so its
// type error does not surface.
func TestFilterShortCircuit(t *testing.T) {
	t.Parallel()
	m := setup(t)
	for expr, want := range map[string]bool{
		"color = 'blue' AND color = 1": false,
		"color = 'red' OR color = 1":   true,
	} {
		f, err := sqlfilter.ParseFilter(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := f.Match(m); err != nil || got != want {
			t.Errorf("Match(%q) = %v, %v; want %v", expr, got, err, want)
		}
	}
}

func TestFilterParameters(t *testing.T) {
	t.Parallel()
	m := setup(t)
	params := map[string]any{
		"@stringParam": "red",
		"@n":           int32(9),
		"@when":        enqueued,
		"@span":        time.Hour,
	}
	for expr, want := range map[string]bool{
		"color = @stringParam":                  true,
		"color = @STRINGPARAM":                  true,
		"quantity > @n":                         true,
		"sys.EnqueuedTimeUtc = @when":           true,
		"(when - sys.EnqueuedTimeUtc) <= @span": true,
		"sys.EnqueuedTimeUtc + @span > when":    true,
		"sys.TimeToLive = @span":                true,
	} {
		f, err := sqlfilter.ParseFilterWithParameters(expr, params)
		if err != nil {
			t.Fatalf("ParseFilterWithParameters(%q): %v", expr, err)
		}
		if got, err := f.Match(m); err != nil || got != want {
			t.Errorf("Match(%q) = %v, %v; want %v", expr, got, err, want)
		}
	}
	if _, err := sqlfilter.ParseFilterWithParameters("color = @nope", params); !errors.Is(err, sqlfilter.ErrUndefinedParameter) {
		t.Errorf("undefined parameter: error %v", err)
	}
	if _, err := sqlfilter.ParseFilterWithParameters("color = @x", map[string]any{"@x": []int{1}}); !errors.Is(err, sqlfilter.ErrUndefinedParameter) {
		t.Errorf("unsupported parameter type: error %v", err)
	}
}

func TestFilterString(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"sys.messageid = '123456' and userProp1 = 'value1'": "((sys.MessageId = '123456') AND (userProp1 = 'value1'))",
		"a = 1 OR b = 2 AND NOT c = 3":                      "((a = 1) OR ((b = 2) AND (NOT (c = 3))))",
		"[my prop] LIKE 'x!%' ESCAPE '!'":                   "([my prop] LIKE 'x!%' ESCAPE '!')",
		"x NOT IN (1, -2.5, 'it''s', TRUE, NULL)":           "(x NOT IN (1, -2.5, 'it''s', TRUE, NULL))",
		"-(a + 1) * 2 = - 3":                                "(((-(a + 1)) * 2) = -3)",
		"sys.Subject IS NOT NULL AND EXISTS(user.[x]]])":    "((sys.Label IS NOT NULL) AND EXISTS([x]]]))",
		"p('a') = newid()":                                  "(property('a') = newid())",
		"2.0 = 2E0":                                         "(2.0 = 2.0)",
		"[select] = 1":                                      "(select = 1)",
		"[in] = 1":                                          "([in] = 1)",
	}
	for in, want := range cases {
		f, err := sqlfilter.ParseFilter(in)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", in, err)
		}
		if got := f.String(); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
		if f.Expression() != in {
			t.Errorf("Expression() = %q, want %q", f.Expression(), in)
		}
		again, err := sqlfilter.ParseFilter(f.String())
		if err != nil {
			t.Fatalf("ParseFilter(String(%q)): %v", in, err)
		}
		if again.String() != want {
			t.Errorf("round trip of %q = %q", in, again.String())
		}
	}
}

func BenchmarkFilterMatch(b *testing.B) {
	m := setup(b)
	f, err := sqlfilter.ParseFilter("sys.MessageId = '123456' AND userProp1 = 'value1' AND (quantity * 2 > 5 OR sys.Label LIKE '%bus%')")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := f.Match(m); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkParseFilter(b *testing.B) {
	const expr = "sys.MessageId = '123456' AND userProp1 = 'value1' AND (quantity * 2 > 5 OR sys.Label LIKE '%bus%')"
	for b.Loop() {
		if _, err := sqlfilter.ParseFilter(expr); err != nil {
			b.Fatal(err)
		}
	}
}
