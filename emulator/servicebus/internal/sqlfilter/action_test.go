package sqlfilter_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
)

// setupAction parses an action and returns it with a fresh order message
// shaped like the filter-examples page's (color, quantity, priority).
func setupAction(t *testing.T, expr string, params map[string]any) (*sqlfilter.Action, *sqlfilter.MapProperties) {
	t.Helper()
	a, err := sqlfilter.ParseActionWithParameters(expr, params)
	if err != nil {
		t.Fatalf("ParseAction(%q): %v", expr, err)
	}
	return a, &sqlfilter.MapProperties{
		Sys: map[string]any{
			sqlfilter.SysMessageID:       "123456",
			sqlfilter.SysCorrelationID:   "high",
			sqlfilter.SysLabel:           "red",
			sqlfilter.SysEnqueuedTimeUtc: enqueued,
		},
		User: map[string]any{
			"color":    "red",
			"quantity": int32(10),
			"priority": "high",
			"price":    5.5,
			"ratio":    float32(0.5),
			"zero":     int64(0),
		},
	}
}

func TestActionApply(t *testing.T) {
	t.Parallel()
	params := map[string]any{"@span": time.Hour, "@label": "from-param"}
	cases := []struct {
		expr     string
		wantSys  map[string]any // nil value: must be absent
		wantUser map[string]any // nil value: must be present with nil; see gone
		gone     []string       // user keys that must be absent
	}{
		// The official emulator sample (Config.json, sql-filter-1).
		{expr: "SET sys.To = 'Entity'", wantSys: map[string]any{sqlfilter.SysTo: "Entity"}},
		// The filter-examples page's action.
		{
			expr:     "SET quantity = quantity / 2; REMOVE priority;SET sys.CorrelationId = 'low';",
			wantSys:  map[string]any{sqlfilter.SysCorrelationID: "low"},
			wantUser: map[string]any{"quantity": int64(5)}, // int / long is long in C#
			gone:     []string{"priority"},
		},
		{expr: "SET source='routedOrders'", wantUser: map[string]any{"source": "routedOrders"}},
		// Semicolons are optional; later statements see earlier ones.
		{expr: "SET a = 1 SET b = a + 1", wantUser: map[string]any{"a": int64(1), "b": int64(2)}},
		{expr: "set a = 'x'; set a = a + 'y'", wantUser: map[string]any{"a": "xy"}},
		// Names are case-insensitive: the message's spelling is kept.
		{expr: "SET COLOR = 'blue'", wantUser: map[string]any{"color": "blue"}, gone: []string{"COLOR"}},
		{expr: "REMOVE Priority", gone: []string{"priority"}},
		{expr: "SET user.[my prop] = 1", wantUser: map[string]any{"my prop": int64(1)}},
		// Implicit conversion to an existing floating-point property.
		{expr: "SET price = 7", wantUser: map[string]any{"price": float64(7)}},
		{expr: "SET ratio = 2", wantUser: map[string]any{"ratio": float32(2)}},
		{expr: "SET price = 'cheap'", wantUser: map[string]any{"price": "cheap"}},
		// A plain copy keeps the exact type; an expression yields long.
		{expr: "SET q2 = quantity", wantUser: map[string]any{"q2": int32(10)}},
		{expr: "SET q2 = p('quantity')", wantUser: map[string]any{"q2": int32(10)}},
		{expr: "SET q3 = quantity + 0", wantUser: map[string]any{"q3": int64(10)}},
		{expr: "SET d = 2.5 * 2", wantUser: map[string]any{"d": 5.0}},
		// NULL / missing: the property exists with a null value.
		{expr: "SET x = missing", wantUser: map[string]any{"x": nil}},
		{expr: "SET x = NULL", wantUser: map[string]any{"x": nil}},
		{expr: "REMOVE color; SET c2 = color", wantUser: map[string]any{"c2": nil}, gone: []string{"color"}},
		{expr: "REMOVE color; SET color = 'green'", wantUser: map[string]any{"color": "green"}},
		{expr: "REMOVE missing", gone: []string{"missing"}},
		// System properties.
		{expr: "SET sys.Label = 'SalesEvent'", wantSys: map[string]any{sqlfilter.SysLabel: "SalesEvent"}},
		{expr: "SET sys.subject = sys.Label + '!'", wantSys: map[string]any{sqlfilter.SysLabel: "red!"}},
		{expr: "SET sys.Label = NULL", wantSys: map[string]any{sqlfilter.SysLabel: nil}},
		{expr: "SET sys.Label = @label", wantSys: map[string]any{sqlfilter.SysLabel: "from-param"}},
		{expr: "SET sys.TimeToLive = @span", wantSys: map[string]any{sqlfilter.SysTimeToLive: time.Hour}},
		{
			expr:    "SET sys.ScheduledEnqueueTimeUtc = sys.EnqueuedTimeUtc + @span",
			wantSys: map[string]any{sqlfilter.SysScheduledEnqueueTimeUtc: enqueued.Add(time.Hour)},
		},
		{expr: "SET sys.ForcePersistence = TRUE", wantSys: map[string]any{sqlfilter.SysForcePersistence: true}},
		{expr: "SET mid = sys.MessageId", wantUser: map[string]any{"mid": "123456"}},
		{
			expr:     "SET sys.MessageId = 'new'; SET old = sys.MessageId",
			wantSys:  map[string]any{sqlfilter.SysMessageID: "new"},
			wantUser: map[string]any{"old": "new"},
		},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			t.Parallel()
			a, m := setupAction(t, c.expr, params)
			if err := a.Apply(m); err != nil {
				t.Fatalf("Apply(%q): %v", c.expr, err)
			}
			for k, want := range c.wantSys {
				got, ok := m.Sys[k]
				if want == nil {
					if ok {
						t.Errorf("sys.%s = %v, want absent", k, got)
					}
					continue
				}
				if !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("sys.%s = %#v, want %#v", k, got, want)
				}
			}
			for k, want := range c.wantUser {
				got, ok := m.User[k]
				if !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v (present %v), want %#v", k, got, ok, want)
				}
			}
			for _, k := range c.gone {
				if got, ok := m.User[k]; ok {
					t.Errorf("%s = %#v, want absent", k, got)
				}
			}
		})
	}
}

func TestActionNewID(t *testing.T) {
	t.Parallel()
	a, m := setupAction(t, "SET id = newid(); SET id2 = newid()", nil)
	if err := a.Apply(m); err != nil {
		t.Fatal(err)
	}
	id, ok := m.User["id"].(uuid.UUID)
	id2, ok2 := m.User["id2"].(uuid.UUID)
	if !ok || !ok2 || id == uuid.Nil || id == id2 {
		t.Errorf("newid() gave %#v and %#v, want two distinct uuids", m.User["id"], m.User["id2"])
	}
}

// TestActionErrors: a failing statement is an *EvalError and nothing is
// written, not even the statements before it.
func TestActionErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr string
		want error
		pos  string
	}{
		{"SET color = 'blue'; SET sys.Label = 5", sqlfilter.ErrTypeMismatch, "1:21"},
		{"SET sys.MessageId = newid()", sqlfilter.ErrTypeMismatch, "1:1"},
		{"SET sys.TimeToLive = 60", sqlfilter.ErrTypeMismatch, "1:1"},
		{"SET color = 'blue'\nSET q = quantity / zero", sqlfilter.ErrDivideByZero, "2:18"},
		{"REMOVE color; SET q = 'a' - 'b'", sqlfilter.ErrTypeMismatch, "1:27"},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			t.Parallel()
			a, m := setupAction(t, c.expr, nil)
			before := fmt.Sprint(m.Sys, m.User)
			err := a.Apply(m)
			var ee *sqlfilter.EvalError
			if !errors.Is(err, c.want) || !errors.As(err, &ee) {
				t.Fatalf("Apply(%q) = %v, want *EvalError wrapping %v", c.expr, err, c.want)
			}
			if got := fmt.Sprintf("%d:%d", ee.Line, ee.Column); got != c.pos {
				t.Errorf("error at %s, want %s: %v", got, c.pos, err)
			}
			if after := fmt.Sprint(m.Sys, m.User); after != before {
				t.Errorf("message changed by a failed action:\n before %s\n after  %s", before, after)
			}
		})
	}
}

func TestParseActionErrors(t *testing.T) {
	t.Parallel()
	many := strings.Repeat("SET a = 1;", sqlfilter.MaxActionStatements)
	cases := []parseErrorCase{
		{expr: "", pos: "1:1", msg: "expected SET or REMOVE, found end of text"},
		{expr: "UPDATE a = 1", pos: "1:1", msg: "expected SET or REMOVE, found name UPDATE"},
		{expr: "SET a", pos: "1:6", msg: `expected "=" after the SET property, found end of text`},
		{expr: "SET a = ", pos: "1:9", msg: `expected expression after "="`},
		{expr: "SET = 1", pos: "1:5", msg: `expected property name, found "="`},
		{expr: "SET a = 1;;", pos: "1:11", msg: `expected SET or REMOVE, found ";"`},
		{expr: "SET a = 1, b = 2", pos: "1:10", msg: `expected SET or REMOVE, found ","`},
		{expr: "SET a = b = c", pos: "1:11", msg: `expected SET or REMOVE, found "="`},
		{expr: "SET a = (b = 1)", pos: "1:12", msg: "expected expression, found condition"},
		{expr: "SET sys.SequenceNumber = 1", pos: "1:5", msg: "system property sys.SequenceNumber is read-only"},
		{expr: "SET sys.EnqueuedTime = @t", pos: "1:5", msg: "sys.EnqueuedTimeUtc is read-only"},
		{expr: "REMOVE sys.To", pos: "1:8", msg: "system property sys.To cannot be removed"},
		{expr: "SET sys.Nope = 1", pos: "1:9", msg: "unknown system property sys.Nope"},
		{expr: "REMOVE 'a'", pos: "1:8", msg: "expected property name, found string 'a'"},
		{expr: many + "SET b = 2", pos: fmt.Sprintf("1:%d", len(many)+1), msg: "at most 32 statements", want: sqlfilter.ErrTooManyStatements},
		{expr: "SET a = '" + strings.Repeat("x", 1020) + "'", pos: "1:1", msg: "limit is 1024", want: sqlfilter.ErrTooLong},
	}
	for _, c := range cases {
		t.Run(short(c.expr), func(t *testing.T) {
			t.Parallel()
			setupParse(t, c, func(s string) error {
				_, err := sqlfilter.ParseAction(s)
				return err
			})
		})
	}
	if _, err := sqlfilter.ParseAction(many); err != nil {
		t.Errorf("%d statements: %v", sqlfilter.MaxActionStatements, err)
	}
}

func TestActionString(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"set quantity = quantity / 2; remove priority;SET sys.correlationid = 'low';": "SET quantity = (quantity / 2); REMOVE priority; SET sys.CorrelationId = 'low'",
		"SET [a b] = -1 REMOVE user.c": "SET [a b] = -1; REMOVE c",
	} {
		a, _ := setupAction(t, in, nil)
		if got := a.String(); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
		if a.Expression() != in {
			t.Errorf("Expression() = %q", a.Expression())
		}
		again, err := sqlfilter.ParseAction(a.String())
		if err != nil || again.String() != want {
			t.Errorf("round trip of %q: %v, %v", in, again, err)
		}
	}
}

// TestActionConcurrent: one parsed action applied to many messages at once
// (the race detector checks that Apply shares no state).
func TestActionConcurrent(t *testing.T) {
	t.Parallel()
	a, _ := setupAction(t, "SET quantity = quantity * 2; SET sys.To = 'x'", nil)
	var wg sync.WaitGroup
	results := make([]any, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, m := setupAction(t, "SET a = 1", nil)
			if err := a.Apply(m); err != nil {
				results[i] = err
				return
			}
			results[i] = m.User["quantity"]
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r != int64(20) {
			t.Errorf("goroutine %d: quantity = %#v, want 20", i, r)
		}
	}
}
