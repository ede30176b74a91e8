package funchost

import (
	"errors"
	"maps"
	"sort"
	"testing"
)

func TestRouteMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		template, path string
		want           map[string]string // nil = no match
	}{
		{"api/orders", "/api/orders", map[string]string{}},
		{"api/orders", "/API/Orders/", map[string]string{}},
		{"api/orders", "/api/orders/1", nil},
		{"api/orders/{id}", "/api/orders/abc", map[string]string{"id": "abc"}},
		{"api/orders/{id}", "/api/orders/a%20b", map[string]string{"id": "a b"}},
		{"api/orders/{id}", "/api/orders", nil},
		{"api/orders/{id}", "/api/orders/", nil},
		{"api/orders/{id:int}", "/api/orders/42", map[string]string{"id": "42"}},
		{"api/orders/{id:int}", "/api/orders/-7", map[string]string{"id": "-7"}},
		{"api/orders/{id:int}", "/api/orders/4.2", nil},
		{"api/orders/{id:int}", "/api/orders/99999999999", nil},
		{"api/orders/{id:long}", "/api/orders/99999999999", map[string]string{"id": "99999999999"}},
		{"api/o/{id:guid}", "/api/o/3f2504e0-4f89-11d3-9a0c-0305e82c3301", map[string]string{"id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}},
		{"api/o/{id:guid}", "/api/o/3f2504e04f8911d39a0c0305e82c3301", map[string]string{"id": "3f2504e04f8911d39a0c0305e82c3301"}},
		{"api/o/{id:guid}", "/api/o/not-a-guid", nil},
		{"api/o/{x:alpha}", "/api/o/Hello", map[string]string{"x": "Hello"}},
		{"api/o/{x:alpha}", "/api/o/h3llo", nil},
		{"api/o/{b:bool}", "/api/o/TRUE", map[string]string{"b": "TRUE"}},
		{"api/o/{b:bool}", "/api/o/yes", nil},
		{"api/o/{n:decimal}", "/api/o/1.25", map[string]string{"n": "1.25"}},
		{"api/o/{n:int:min(1)}", "/api/o/0", nil},
		{"api/o/{n:int:min(1)}", "/api/o/1", map[string]string{"n": "1"}},
		{"api/o/{n:range(1,3)}", "/api/o/4", nil},
		{"api/o/{s:length(2)}", "/api/o/ab", map[string]string{"s": "ab"}},
		{"api/o/{s:maxlength(2)}", "/api/o/abc", nil},
		{"api/o/{s:regex(^[a-z]{{2}}$)}", "/api/o/ab", map[string]string{"s": "ab"}},
		{"api/o/{s:regex(^[a-z]{{2}}$)}", "/api/o/abc", nil},
		{"api/o/{id?}", "/api/o", map[string]string{}},
		{"api/o/{id?}", "/api/o/5", map[string]string{"id": "5"}},
		{"api/o/{id:int?}", "/api/o/x", nil},
		{"api/o/{page=1}", "/api/o", map[string]string{"page": "1"}},
		{"api/files/{*rest}", "/api/files/a/b/c.txt", map[string]string{"rest": "a/b/c.txt"}},
		{"api/files/{*rest}", "/api/files", map[string]string{}},
		{"api/files/{**rest}", "/api/files/a%2Fb", map[string]string{"rest": "a/b"}},
		{"{*route}", "/anything/at/all", map[string]string{"route": "anything/at/all"}},
		{"", "/", map[string]string{}},
	}
	for _, c := range cases {
		t.Run(c.template+" "+c.path, func(t *testing.T) {
			t.Parallel()
			r, err := ParseRoute(c.template)
			if err != nil {
				t.Fatalf("ParseRoute: %v", err)
			}
			got, ok := r.Match(c.path)
			if c.want == nil {
				if ok {
					t.Fatalf("matched %v, want no match", got)
				}
				return
			}
			if !ok || !maps.Equal(got, c.want) {
				t.Fatalf("Match = %v, %v; want %v", got, ok, c.want)
			}
		})
	}
}

func TestRouteParseErrors(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []string{
		"api//x", "api/{id", "api/{}", "api/{a}/{a}", "api/{*rest}/x", "api/{a}.{b}", "api/x{a}",
		"api/{id:nope}", "api/{id:min(x)}", "api/{id?}/x", "api/{*rest?}", "api/a?b", "api/{id:regex([)}",
	} {
		t.Run(tmpl, func(t *testing.T) {
			t.Parallel()
			if _, err := ParseRoute(tmpl); !errors.Is(err, ErrRoute) {
				t.Fatalf("ParseRoute(%q) = %v, want ErrRoute", tmpl, err)
			}
		})
	}
}

func TestRoutePrecedence(t *testing.T) {
	t.Parallel()
	var routes []*Route
	for _, tmpl := range []string{"api/{*rest}", "api/orders/{id}", "api/orders/{id:int}", "api/orders/new"} {
		r, err := ParseRoute(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, r)
	}
	sort.SliceStable(routes, func(i, j int) bool { return before(routes[i], routes[j]) })
	want := []string{"api/orders/new", "api/orders/{id:int}", "api/orders/{id}", "api/{*rest}"}
	for i, r := range routes {
		if r.Template != want[i] {
			t.Fatalf("order[%d] = %s, want %s", i, r.Template, want[i])
		}
	}
}

// FuzzRoute checks that parsing and matching never panic and that a route
// matches its own literal expansion.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"api/orders/{id:int}", "api/{*rest}", "{a?}", "api/{x:regex(^a{{2}}$)}", "api/{p=1}", "a/{b:min(1):max(5)}"} {
		f.Add(s, "/api/orders/5")
	}
	f.Fuzz(func(t *testing.T, template, path string) {
		r, err := ParseRoute(template)
		if err != nil {
			if !errors.Is(err, ErrRoute) {
				t.Fatalf("error %v does not wrap ErrRoute", err)
			}
			return
		}
		_, _ = r.Match(path)
		_ = r.precedence()
	})
}
