package infra

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// File is one Bicep (.bicep or .bicepparam) source file as seen by the light
// reader: its top-level declarations with their decorators and value text.
//
// The reader is deliberately small and is not a Bicep parser: it lexes
// strings (quoted with ${…} interpolation, or triple-quoted) and comments
// exactly, counts brackets, and splits the file into top-level statements at
// newlines outside brackets. Consequences the checks live with:
//   - a statement must not continue on the next line outside brackets (a
//     multi-line ternary without parentheses would be cut; the templates keep
//     ternaries on one line);
//   - values are text: expressions are not evaluated, symbols are resolved only
//     where a check does it explicitly (Expr, File.Var);
//   - nested child resources declared inside a parent body are not listed
//     (the templates use parent: instead, and APIVersions rejects a
//     resource type without @version).
//
// Syntax is checked by tree-sitter (lint/parse.js); this reader only needs
// the file to be lexically sound.
type File struct {
	// Path is the file path as passed to ReadFile.
	Path string
	// Src is the file content.
	Src string
	// Decls lists the top-level declarations in source order.
	Decls []Decl

	// code is Src with comments blanked (same length and newlines), used for
	// every search so commented-out text never counts.
	code string
}

// Decl is one top-level statement: param, var, resource, module, output,
// type, func, metadata, targetScope, using or import.
type Decl struct {
	// Kind is the leading keyword.
	Kind string
	// Name is the declared symbol ("" for targetScope, using, import).
	Name string
	// Type is the quoted type or path for resource ('Microsoft.X/y@v') and
	// module (path) without quotes; the declared type for param and output.
	Type string
	// Existing is true for `resource x '…' existing = …`.
	Existing bool
	// Decorators holds each decorator's text, e.g. "@secure()".
	Decorators []string
	// Value is the expression after '=', as written (comments blanked).
	Value Expr
	// Line is the 1-based line of the keyword.
	Line int
}

// declHead matches the part of a declaration before its value.
var declHead = regexp.MustCompile(`^(param|var|resource|module|output|type|func|metadata)\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:'([^']*)'|([A-Za-z_][A-Za-z0-9_.]*(?:\[\])?\??))?\s*(existing)?\s*(=\s*)?`)

// statementKeywords start the top-level statements that declHead does not
// match.
var statementKeywords = map[string]bool{
	"targetScope": true, "using": true, "import": true, "provider": true, "extension": true,
	"assert": true, "test": true, "param": true, "var": true, "resource": true, "module": true,
	"output": true, "type": true, "func": true, "metadata": true,
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// ReadFile reads and lexes one Bicep file.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading bicep file: %w", err)
	}
	return Parse(path, string(b))
}

// ReadDir reads every .bicep and .bicepparam file under dir (recursively,
// skipping node_modules and dot-directories), sorted by path.
func ReadDir(dir string) ([]*File, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".bicep") || strings.HasSuffix(p, ".bicepparam")) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing bicep files: %w", err)
	}
	sort.Strings(paths)
	files := make([]*File, 0, len(paths))
	for _, p := range paths {
		f, err := ReadFile(p)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// Parse lexes src (named path in errors) into top-level declarations.
func Parse(path, src string) (*File, error) {
	code, err := blankComments(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &File{Path: path, Src: src, code: code}
	stmts, err := statements(code)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var decorators []string
	for _, st := range stmts {
		text := strings.TrimSpace(code[st.start:st.end])
		if strings.HasPrefix(text, "@") {
			decorators = append(decorators, text)
			continue
		}
		d := Decl{Line: 1 + strings.Count(code[:st.start], "\n"), Decorators: decorators}
		decorators = nil
		if m := declHead.FindStringSubmatchIndex(text); m != nil {
			d.Kind = text[m[2]:m[3]]
			d.Name = text[m[4]:m[5]]
			if m[6] >= 0 {
				d.Type = text[m[6]:m[7]]
			} else if m[8] >= 0 {
				d.Type = text[m[8]:m[9]]
			}
			d.Existing = m[10] >= 0
			if m[12] >= 0 {
				d.Value = Expr(strings.TrimSpace(text[m[1]:]))
			}
		} else {
			word, rest, _ := strings.Cut(text, " ")
			if !statementKeywords[word] {
				return nil, fmt.Errorf("%s:%d: %q: %w", path, d.Line, firstLine(text), ErrStatement)
			}
			d.Kind = word
			d.Value = Expr(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), "=")))
		}
		f.Decls = append(f.Decls, d)
	}
	return f, nil
}

// Code returns the file content with comments blanked.
func (f *File) Code() string { return f.code }

// LineOf returns the 1-based line of byte offset off in the file.
func (f *File) LineOf(off int) int { return 1 + strings.Count(f.code[:min(off, len(f.code))], "\n") }

// Find returns the declarations of the given kind, in source order.
func (f *File) Find(kind string) []Decl {
	var out []Decl
	for _, d := range f.Decls {
		if d.Kind == kind {
			out = append(out, d)
		}
	}
	return out
}

// Decl returns the declaration named name (any kind but output, whose names
// live in their own namespace).
func (f *File) Decl(name string) (Decl, bool) {
	for _, d := range f.Decls {
		if d.Name == name && d.Kind != "output" {
			return d, true
		}
	}
	return Decl{}, false
}

// Var returns the value of variable name.
func (f *File) Var(name string) (Expr, bool) {
	d, ok := f.Decl(name)
	if !ok || d.Kind != "var" {
		return "", false
	}
	return d.Value, true
}

// Secure reports whether the declaration carries a @secure() decorator.
func (d Decl) Secure() bool {
	for _, dec := range d.Decorators {
		if strings.HasPrefix(strings.ReplaceAll(dec, " ", ""), "@secure(") || strings.HasPrefix(dec, "@sys.secure(") {
			return true
		}
	}
	return false
}

// ResourceType splits a resource declaration's type into type and API
// version; version is "" when the type has no @.
func (d Decl) ResourceType() (typ, version string) {
	typ, version, _ = strings.Cut(d.Type, "@")
	return typ, version
}

// span is a half-open byte range of a statement.
type span struct{ start, end int }

// statements splits code (comments already blanked) into top-level
// statements: runs of text that end at a newline outside brackets and
// strings.
func statements(code string) ([]span, error) {
	var out []span
	var stack []byte
	start := -1
	for i := 0; i < len(code); i++ {
		c := code[i]
		if start < 0 && !isSpace(c) {
			start = i
		}
		switch c {
		case '\'':
			end, err := skipString(code, i)
			if err != nil {
				return nil, err
			}
			i = end - 1
		case '{', '[', '(':
			stack = append(stack, c)
		case '}', ']', ')':
			if len(stack) == 0 || stack[len(stack)-1] != opener(c) {
				return nil, fmt.Errorf("line %d: unexpected %q: %w", 1+strings.Count(code[:i], "\n"), c, ErrUnbalanced)
			}
			stack = stack[:len(stack)-1]
		case '\n':
			if len(stack) == 0 && start >= 0 {
				out = append(out, span{start, i})
				start = -1
			}
		}
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("%d bracket(s) never closed: %w", len(stack), ErrUnbalanced)
	}
	if start >= 0 && strings.TrimSpace(code[start:]) != "" {
		out = append(out, span{start, len(code)})
	}
	return out, nil
}

func opener(c byte) byte {
	switch c {
	case '}':
		return '{'
	case ']':
		return '['
	}
	return '('
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// skipString returns the offset just past the string literal starting at
// code[i], a single quote. It handles triple-quoted multi-line strings (no
// escapes, no interpolation), \ escapes, and ${…} interpolation holding nested strings
// and braces.
func skipString(code string, i int) (int, error) {
	if strings.HasPrefix(code[i:], "'''") {
		end := strings.Index(code[i+3:], "'''")
		if end < 0 {
			return 0, fmt.Errorf("line %d: multi-line string: %w", 1+strings.Count(code[:i], "\n"), ErrUnterminated)
		}
		return i + 3 + end + 3, nil
	}
	for j := i + 1; j < len(code); j++ {
		switch code[j] {
		case '\\':
			j++
		case '\'':
			return j + 1, nil
		case '\n':
			return 0, fmt.Errorf("line %d: string: %w", 1+strings.Count(code[:i], "\n"), ErrUnterminated)
		case '$':
			if j+1 < len(code) && code[j+1] == '{' {
				end, err := skipInterpolation(code, j+2)
				if err != nil {
					return 0, err
				}
				j = end - 1
			}
		}
	}
	return 0, fmt.Errorf("line %d: string: %w", 1+strings.Count(code[:i], "\n"), ErrUnterminated)
}

// skipInterpolation returns the offset just past the '}' that closes an
// interpolation whose expression starts at code[i].
func skipInterpolation(code string, i int) (int, error) {
	depth := 0
	for j := i; j < len(code); j++ {
		switch code[j] {
		case '\'':
			end, err := skipString(code, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return j + 1, nil
			}
			depth--
		}
	}
	return 0, fmt.Errorf("interpolation: %w", ErrUnterminated)
}

// blankComments replaces // and /* */ comments outside strings with spaces,
// keeping newlines, so offsets and line numbers stay those of src.
func blankComments(src string) (string, error) {
	b := []byte(src)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\'':
			end, err := skipString(src, i)
			if err != nil {
				return "", err
			}
			i = end - 1
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '/':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return "", fmt.Errorf("line %d: block comment: %w", 1+strings.Count(src[:i], "\n"), ErrUnterminated)
			}
			stop := i + 2 + end + 2
			for ; i < stop; i++ {
				if b[i] != '\n' {
					b[i] = ' '
				}
			}
			i--
		}
	}
	return string(b), nil
}
