package infra_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/infra"
)

const sample = `// header comment with a brace {
/* block comment
   resource fake 'X/y@1' = { */
@description('A \'quoted\' } brace')
@secure()
param secret string

var url = '${a}/${b == 'x' ? '}' : c}'
var doc = '''
multi } line
'''

resource sa 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: 'x' // trailing comment }
}

resource subs 'A/b/c@2024-01-01' = [
  for (s, i) in topo.subscriptions: {
    name: s.name
    properties: { max: s.max, lock: cond ? 'a' : 'b' }
  }
]

output out string = sa.id
`

// setupSample parses sample.
func setupSample(t *testing.T) *infra.File {
	t.Helper()
	f, err := infra.Parse("sample.bicep", sample)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseDeclarations(t *testing.T) {
	t.Parallel()
	f := setupSample(t)
	var got []string
	for _, d := range f.Decls {
		got = append(got, d.Kind+" "+d.Name)
	}
	want := "param secret,var url,var doc,resource sa,resource subs,output out"
	if strings.Join(got, ",") != want {
		t.Fatalf("decls = %v, want %s", got, want)
	}
	p, _ := f.Decl("secret")
	if !p.Secure() || len(p.Decorators) != 2 || p.Line != 6 {
		t.Errorf("param secret = %+v", p)
	}
	sa, _ := f.Decl("sa")
	if typ, v := sa.ResourceType(); typ != "Microsoft.Storage/storageAccounts" || v != "2025-01-01" || !sa.Existing {
		t.Errorf("resource sa = %+v", sa)
	}
	if name, _ := sa.Value.Prop("name"); name.String() != "'x'" {
		t.Errorf("sa name = %q (comment not blanked?)", name)
	}
}

func TestExprNavigation(t *testing.T) {
	t.Parallel()
	f := setupSample(t)
	subs, _ := f.Decl("subs")
	v, src, ok := subs.Value.Loop()
	if !ok || v != "s" || src != "topo.subscriptions" {
		t.Fatalf("Loop() = %q, %q, %v", v, src, ok)
	}
	for path, want := range map[string]string{
		"name":            "s.name",
		"properties.max":  "s.max",
		"properties.lock": "cond ? 'a' : 'b'",
	} {
		if got, ok := subs.Value.Prop(path); !ok || got.String() != want {
			t.Errorf("Prop(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
	if _, ok := subs.Value.Prop("properties.missing"); ok {
		t.Error("Prop of a missing key reported ok")
	}
	if lit, ok := infra.Expr(`'it\'s'`).Lit(); !ok || lit != "it's" {
		t.Errorf("Lit = %q, %v", lit, ok)
	}
	if _, ok := infra.Expr(`'a${b}'`).Lit(); ok {
		t.Error("interpolated string reported as a literal")
	}
	if items := infra.Expr("[\n  1\n  'two, three'\n  { a: 1 }\n]").Items(); len(items) != 3 {
		t.Errorf("Items = %q, want 3 items", items)
	}
}

func TestParseRejectsBrokenLexing(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]error{
		"var a = 'open\n":           infra.ErrUnterminated,
		"var a = '''never closed":   infra.ErrUnterminated,
		"/* open comment":           infra.ErrUnterminated,
		"var a = {\n":               infra.ErrUnbalanced,
		"var a = ]\n":               infra.ErrUnbalanced,
		"var a = '${b'\n":           infra.ErrUnterminated,
		"var a = ( [ ) ]\n":         infra.ErrUnbalanced,
		"resource r 'T@1' = {\n}}":  infra.ErrUnbalanced,
		"var a = b\n  ? c\n  : d\n": infra.ErrStatement,
		"foo bar\n":                 infra.ErrStatement,
	} {
		if _, err := infra.Parse("x.bicep", src); !errors.Is(err, want) {
			t.Errorf("Parse(%q) error = %v, want %v", src, err, want)
		}
	}
}

// FuzzParse feeds arbitrary text to the reader: it must never panic, and
// what it accepts must navigate without panicking and keep lines in range.
func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("param p string = 'a'\nvar v = [for x in y: {name: x}]\n")
	f.Add("var s = '${'${'}'}'}'\n")
	f.Fuzz(func(t *testing.T, src string) {
		file, err := infra.Parse("fuzz.bicep", src)
		if err != nil {
			return
		}
		lines := strings.Count(src, "\n") + 1
		for _, d := range file.Decls {
			if d.Line < 1 || d.Line > lines {
				t.Fatalf("decl %q at line %d of %d", d.Name, d.Line, lines)
			}
			d.Value.Loop()
			d.Value.Items()
			d.Value.Lit()
			for _, e := range d.Value.Entries() {
				e.Value.Prop("a.b")
			}
		}
	})
}
