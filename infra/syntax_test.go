package infra_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/orderflow/orderflow/infra"
)

// parser runs lint/parse.js (tree-sitter-bicep) on its arguments.
type parser struct {
	node   string
	script string
}

// run returns parse.js's exit code and combined output.
func (p parser) run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, p.node, append([]string{p.script}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	}
	t.Fatalf("running parse.js: %v\n%s", err, out.String())
	return 0, ""
}

// setupParser finds node and the installed lint packages, skipping the test
// with the install command when either is missing.
func setupParser(t *testing.T) parser {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the Bicep syntax check needs Node.js >= 20")
	}
	if _, err := os.Stat(filepath.Join("lint", "node_modules", "web-tree-sitter")); err != nil {
		t.Skip("infra/lint/node_modules is missing: run `npm ci --prefix infra/lint` (offline-safe after install)")
	}
	script, err := filepath.Abs(filepath.Join("lint", "parse.js"))
	if err != nil {
		t.Fatal(err)
	}
	return parser{node: node, script: script}
}

func TestBicepSyntax(t *testing.T) {
	t.Parallel()
	p := setupParser(t)
	files, err := infra.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	code, out := p.run(t, ".")
	if code != 0 {
		t.Fatalf("parse.js exit %d:\n%s", code, out)
	}
	want := regexp.MustCompile(`(\d+) file\(s\) checked, 0 with syntax errors`)
	m := want.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("unexpected parse.js output:\n%s", out)
	}
	if got := m[1]; got != strconv.Itoa(len(files)) {
		t.Fatalf("parse.js checked %s files, the reader sees %d", got, len(files))
	}
}

// TestBicepSyntaxCatchesErrors breaks copies of the templates and expects
// parse.js to fail with the file:line:col of the break.
func TestBicepSyntaxCatchesErrors(t *testing.T) {
	t.Parallel()
	p := setupParser(t)
	cases := []struct {
		name, file string
		edit       func(*testing.T, string) string
	}{
		{"missing value", "main.bicep", replace("  name: 'identity'\n", "  name: \n")},
		{"unclosed object", "modules/storage.bicep", replace("    publicAccess: 'None'\n  }\n}\n", "    publicAccess: 'None'\n  }\n")},
		{"stray token", "modules/servicebus.bicep", replace("resource topic ", "resource resource topic ")},
		{"bicepparam without value", "main.bicepparam", replace("param postgresAdminType = 'User'", "param postgresAdminType = ")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := copyTree(t)
			path := filepath.Join(dir, tc.file)
			edit(t, path, tc.edit)
			code, out := p.run(t, dir)
			if code != 1 {
				t.Fatalf("parse.js exit %d on a broken %s, want 1:\n%s", code, tc.file, out)
			}
			loc := regexp.MustCompile(regexp.QuoteMeta(path) + `:\d+:\d+: `)
			if !loc.MatchString(out) {
				t.Fatalf("no %s:line:col in output:\n%s", path, out)
			}
		})
	}
}
