// Package infra holds the Bicep templates that deploy the order app to Azure
// Functions and the offline checks that keep them consistent with the app:
// no Bicep compiler is reachable where the tests run, so the Go tests read the
// templates with a light reader (File, Expr) and check the rules that matter
// for a password-less, least-privilege deployment. Syntax is checked
// separately by lint/parse.js (tree-sitter-bicep).
package infra

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Checker runs the consistency checks on one copy of the infra directory.
// Each check returns nil or the findings joined with errors.Join; the same
// checks run on the real tree and on mutated copies in tests.
type Checker struct {
	// Dir is the infra directory holding main.bicep, modules/ and
	// api-versions.txt. Default: ".".
	Dir string
	// Topology is the path of topology.json, the single source of truth for
	// the topic and subscriptions. Default: Dir/../shared/topology/topology.json.
	Topology string
	// Settings lists the app settings the handler reads in Azure; each must
	// be set by the function app. HostSettings are always required on top.
	// Default: none beyond HostSettings.
	Settings []string
	// LocalOnly maps settings the handler reads only outside Azure to the
	// reason; the templates must not set them. Default: none.
	LocalOnly map[string]string
	// FunctionsDir holds one folder per function with its function.json.
	// Default: Dir/../functions.
	FunctionsDir string
}

// HostSettings are the identity-based settings the Functions host and the
// SDKs need in Azure, whatever the handler reads itself.
var HostSettings = []string{
	"AzureWebJobsStorage__accountName",
	"AzureWebJobsStorage__credential",
	"AzureWebJobsStorage__clientId",
	"APPLICATIONINSIGHTS_CONNECTION_STRING",
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
	"AZURE_CLIENT_ID",
	"ServiceBusConnection__fullyQualifiedNamespace",
	"ServiceBusConnection__credential",
	"ServiceBusConnection__clientId",
}

// All runs every check on the templates and joins their findings. Triggers
// (which also needs the function folders) is separate.
func (c Checker) All() error {
	return errors.Join(c.APIVersions(), c.Secrets(), c.LocalAuthDisabled(), c.Roles(), c.TopologyDerived(), c.AppSettings())
}

func (c Checker) dir() string {
	if c.Dir == "" {
		return "."
	}
	return c.Dir
}

func (c Checker) topologyPath() string {
	if c.Topology == "" {
		return filepath.Join(c.dir(), "..", "shared", "topology", "topology.json")
	}
	return c.Topology
}

// tree is the parsed infra directory.
type tree struct {
	files []*File
}

func (c Checker) read() (tree, error) {
	files, err := ReadDir(c.dir())
	if err != nil {
		return tree{}, err
	}
	if len(files) == 0 {
		return tree{}, &Finding{File: c.dir(), Msg: "no .bicep files"}
	}
	return tree{files: files}, nil
}

// resources returns every resource declaration of the given type (without
// API version; "" for all) with its file.
func (t tree) resources(typ string) []located {
	var out []located
	for _, f := range t.files {
		for _, d := range f.Find("resource") {
			if rt, _ := d.ResourceType(); typ == "" || strings.EqualFold(rt, typ) {
				out = append(out, located{f, d})
			}
		}
	}
	return out
}

// modulesOf returns the module declarations (in any file) whose path points
// at target.
func (t tree) modulesOf(target *File) []located {
	var out []located
	for _, f := range t.files {
		for _, d := range f.Find("module") {
			if filepath.Clean(filepath.Join(filepath.Dir(f.Path), d.Type)) == filepath.Clean(target.Path) {
				out = append(out, located{f, d})
			}
		}
	}
	return out
}

// located is a declaration and the file it is in.
type located struct {
	f *File
	d Decl
}

func (l located) finding(format string, args ...any) *Finding {
	return &Finding{File: l.f.Path, Line: l.d.Line, Msg: fmt.Sprintf(format, args...)}
}

// identToken matches identifiers in expression text.
var identToken = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// loadJSON matches loadJsonContent('path') and captures the path.
var loadJSON = regexp.MustCompile(`^loadJsonContent\(\s*'([^']+)'\s*\)$`)

// topologyVar returns the name of a variable in f bound to
// loadJsonContent(<path>) where the path, relative to f, is the topology
// file; "" if there is none.
func (c Checker) topologyVar(f *File) string {
	want, _ := filepath.Abs(c.topologyPath())
	for _, d := range f.Find("var") {
		m := loadJSON.FindStringSubmatch(d.Value.String())
		if m == nil {
			continue
		}
		got, _ := filepath.Abs(filepath.Join(filepath.Dir(f.Path), m[1]))
		if got == want {
			return d.Name
		}
	}
	return ""
}
