package funchost

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// App is a loaded function app folder.
type App struct {
	// Dir is the absolute app root (the real host's script root).
	Dir string
	// Handler is host.json customHandler.
	Handler HandlerConfig
	// RoutePrefix is extensions.http.routePrefix, default "api".
	RoutePrefix string
	// FunctionTimeout is host.json functionTimeout; 0 means unlimited. Default 30m
	// (the real host's default everywhere but classic Consumption, functions-protocol 5.3).
	FunctionTimeout time.Duration
	// Extensions holds host.json extensions.<name> sections (serviceBus,
	// rabbitMQ, …) keyed by lower-case name, for the triggers to read.
	Extensions map[string]json.RawMessage
	// Functions are every function folder found, sorted by name.
	Functions []*Function

	settings *settings
	warnings []string
}

// HandlerConfig is host.json customHandler (functions-protocol 1.3).
type HandlerConfig struct {
	// Executable is description.defaultExecutablePath, made absolute when it
	// names a file under the app root, otherwise a command looked up on PATH.
	Executable string
	// WorkingDirectory is the handler's cwd; default the app root.
	WorkingDirectory string
	// Arguments are description.arguments, %VAR%-expanded, joined with spaces
	// and split again on spaces exactly as the real host does (no quoting).
	Arguments []string
	// EnableForwardingHTTPRequest selects the legacy raw-forwarding mode (functions-protocol 3.3).
	EnableForwardingHTTPRequest bool
	// EnableProxyingHTTPRequest selects the streaming proxy mode (functions-protocol 3.4).
	EnableProxyingHTTPRequest bool
	// Port is customHandler.port: a fixed port for the handler instead of a
	// free one (newer hosts; 0 = pick a free port).
	Port int
}

// Function is one <Name>/function.json.
type Function struct {
	Name     string
	Bindings []Binding
	// Disabled is set by AzureWebJobs.<Name>.Disabled (true/1) or function.json "disabled".
	Disabled bool
	// LoadError is set when the function cannot run (bad binding, unresolved
	// %Setting%); the real host reports it and runs the other functions.
	LoadError error
}

// Binding is one entry of function.json "bindings".
type Binding struct {
	Type        string
	Direction   string
	Name        string
	DataType    string
	Cardinality string
	// Props holds every property as written, string values with %Setting%
	// resolved, keyed by lower-case property name (the host binds them to
	// attribute properties case-insensitively, functions-protocol 7).
	Props map[string]json.RawMessage
}

// Str returns a string property (case-insensitive), "" if absent or not a string.
func (b Binding) Str(key string) string {
	var s string
	if raw, ok := b.Props[strings.ToLower(key)]; ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

// Bool returns a boolean property, read as jsonBool reads it.
func (b Binding) Bool(key string) bool {
	raw, ok := b.Props[strings.ToLower(key)]
	return ok && jsonBool(raw)
}

// jsonBool reads a boolean of host.json or function.json as the real host's
// binders do (functions-protocol 1.3): JSON true, or the string "true" in any
// case. Anything else, including "1", is false.
func jsonBool(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(strings.TrimSpace(v), "true")
	}
	return false
}

// Strs returns a string-array property.
func (b Binding) Strs(key string) []string {
	var s []string
	if raw, ok := b.Props[strings.ToLower(key)]; ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

// triggerIndex is the index of the trigger binding in Bindings, -1 if none.
func (f *Function) triggerIndex() int {
	for i := range f.Bindings {
		if strings.HasSuffix(strings.ToLower(f.Bindings[i].Type), "trigger") {
			return i
		}
	}
	return -1
}

// Trigger returns the function's trigger binding, nil if it has none.
func (f *Function) Trigger() *Binding {
	for i := range f.Bindings {
		if strings.HasSuffix(strings.ToLower(f.Bindings[i].Type), "trigger") {
			return &f.Bindings[i]
		}
	}
	return nil
}

// httpInAndOut reports whether the function has exactly one input (an
// httpTrigger) and one output (http), the condition for forwarding and
// proxying modes (functions-protocol 3.3).
func (f *Function) httpInAndOut() bool {
	var in, out int
	var httpIn, httpOut bool
	for _, b := range f.Bindings {
		if strings.EqualFold(b.Direction, "out") {
			out++
			httpOut = strings.EqualFold(b.Type, "http")
		} else {
			in++
			httpIn = strings.EqualFold(b.Type, "httpTrigger")
		}
	}
	return in == 1 && out == 1 && httpIn && httpOut
}

// httpOutput returns the name of the function's http output binding ("res",
// "$return", …), "" if none.
func (f *Function) httpOutput() string {
	for _, b := range f.Bindings {
		if strings.EqualFold(b.Type, "http") && strings.EqualFold(b.Direction, "out") {
			return b.Name
		}
	}
	return ""
}

// LoadApp reads host.json, every <Function>/function.json and
// local.settings.json from dir. overrides are applied over local settings and
// the environment (see settings for precedence).
func LoadApp(dir string, overrides map[string]string) (*App, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving app dir: %w", err)
	}
	st, warnings, err := loadSettings(abs, overrides, os.Environ())
	if err != nil {
		return nil, err
	}
	app := &App{Dir: abs, settings: st, warnings: warnings, RoutePrefix: "api", FunctionTimeout: 30 * time.Minute}
	if err := app.readHostJSON(); err != nil {
		return nil, err
	}
	if err := app.readFunctions(); err != nil {
		return nil, err
	}
	return app, nil
}

// Setting returns an app setting as the host sees it (environment, then
// local.settings.json, then overrides; see LoadApp).
func (app *App) Setting(name string) (string, bool) { return app.settings.get(name) }

// LocalSettingNames lists the settings that came from local.settings.json or
// the overrides, sorted.
func (app *App) LocalSettingNames() []string { return sortedKeys(app.settings.local) }

// function returns the function named name, nil if none.
func (app *App) function(name string) *Function {
	for _, fn := range app.Functions {
		if fn.Name == name {
			return fn
		}
	}
	return nil
}

// jobj is a JSON object read case-insensitively, as .NET configuration binds host.json.
type jobj map[string]json.RawMessage

func (o jobj) raw(key string) (json.RawMessage, bool) {
	if v, ok := o[key]; ok {
		return v, true
	}
	for k, v := range o {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func (o jobj) obj(key string) jobj {
	var out jobj
	if raw, ok := o.raw(key); ok {
		_ = json.Unmarshal(raw, &out)
	}
	return out
}

func (o jobj) str(key string) (string, bool) {
	raw, ok := o.raw(key)
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func (o jobj) boolean(key string) bool {
	raw, ok := o.raw(key)
	return ok && jsonBool(raw)
}

func (app *App) readHostJSON() error {
	raw, err := os.ReadFile(filepath.Join(app.Dir, "host.json"))
	if err != nil {
		return hostError("(document)", "reading: %v", err)
	}
	var host jobj
	if err := json.Unmarshal(raw, &host); err != nil {
		return hostError("(document)", "not valid JSON: %v", err)
	}
	ch := host.obj("customHandler")
	if ch == nil {
		return hostError("customHandler", "missing: a custom-handler app needs customHandler.description.defaultExecutablePath")
	}
	desc := ch.obj("description")
	exe, _ := desc.str("defaultExecutablePath")
	exe = app.settings.expandEnv(exe)
	if exe == "" {
		return hostError("customHandler.description.defaultExecutablePath", "empty")
	}
	if !filepath.IsAbs(exe) {
		if _, err := os.Stat(filepath.Join(app.Dir, exe)); err == nil {
			exe = filepath.Join(app.Dir, exe)
		}
	}
	app.Handler.Executable = exe
	app.Handler.WorkingDirectory = app.Dir
	if wd, ok := desc.str("workingDirectory"); ok && wd != "" {
		wd = app.settings.expandEnv(wd)
		if !filepath.IsAbs(wd) {
			wd = filepath.Join(app.Dir, wd)
		}
		app.Handler.WorkingDirectory = wd
	}
	if rawArgs, ok := desc.raw("arguments"); ok {
		var args []string
		if err := json.Unmarshal(rawArgs, &args); err != nil {
			return hostError("customHandler.description.arguments", "must be an array of strings")
		}
		for i := range args {
			args[i] = app.settings.expandEnv(args[i])
		}
		app.Handler.Arguments = strings.Fields(strings.Join(args, " "))
	}
	app.Handler.EnableForwardingHTTPRequest = ch.boolean("enableForwardingHttpRequest")
	app.Handler.EnableProxyingHTTPRequest = ch.boolean("enableProxyingHttpRequest")
	if raw, ok := ch.raw("port"); ok {
		port, err := parsePort(raw)
		if err != nil {
			return hostError("customHandler.port", "%v", err)
		}
		app.Handler.Port = port
	}

	ext := host.obj("extensions")
	if prefix, ok := ext.obj("http").str("routePrefix"); ok {
		app.RoutePrefix = strings.Trim(prefix, "/")
	}
	app.Extensions = map[string]json.RawMessage{}
	for k, v := range ext {
		app.Extensions[strings.ToLower(k)] = v
	}
	if ft, ok := host.str("functionTimeout"); ok {
		d, err := parseFunctionTimeout(ft)
		if err != nil {
			return err
		}
		app.FunctionTimeout = d
	}
	return nil
}

// parsePort reads customHandler.port, a number or a string holding one
// (.NET configuration binds both), 1 to 65535.
func parsePort(raw json.RawMessage) (int, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	var n int
	var err error
	switch v := v.(type) {
	case float64:
		n = int(v)
		if float64(n) != v {
			err = fmt.Errorf("%v is not a whole number", v)
		}
	case string:
		n, err = strconv.Atoi(strings.TrimSpace(v))
	default:
		err = fmt.Errorf("must be a port number, got %s", raw)
	}
	if err != nil {
		return 0, err
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%d is not a port (1 to 65535)", n)
	}
	return n, nil
}

// parseFunctionTimeout reads host.json functionTimeout: a TimeSpan, "-1" for
// unlimited; the real host requires at least 1 s (functions-protocol 5.3).
func parseFunctionTimeout(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "-1" {
		return 0, nil
	}
	d, err := parseTimeSpan(s)
	if err != nil {
		return 0, hostError("functionTimeout", "%q: %v", s, err)
	}
	if d < 0 {
		return 0, nil
	}
	if d < time.Second {
		return 0, hostError("functionTimeout", "%q is below the 1s minimum", s)
	}
	return d, nil
}

// functionFile is the shape of function.json.
type functionFile struct {
	Disabled json.RawMessage   `json:"disabled"`
	Bindings []json.RawMessage `json:"bindings"`
}

func (app *App) readFunctions() error {
	entries, err := os.ReadDir(app.Dir)
	if err != nil {
		return fmt.Errorf("listing app dir: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(app.Dir, e.Name(), "function.json"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s/function.json: %w", e.Name(), err)
		}
		fn := &Function{Name: e.Name()}
		if err := app.parseFunction(fn, raw); err != nil {
			err.File = fn.Name + "/function.json"
			fn.LoadError = err
		}
		fn.Disabled = fn.Disabled || app.settings.isTrue("AzureWebJobs."+fn.Name+".Disabled")
		app.Functions = append(app.Functions, fn)
	}
	sort.Slice(app.Functions, func(i, j int) bool { return app.Functions[i].Name < app.Functions[j].Name })
	return nil
}

// parseFunction reads one function.json; the error's File is set by the caller.
func (app *App) parseFunction(fn *Function, raw []byte) *ConfigError {
	var f functionFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return &ConfigError{Field: "(document)", Msg: "not valid JSON: " + err.Error()}
	}
	var disabled any
	_ = json.Unmarshal(f.Disabled, &disabled)
	switch v := disabled.(type) {
	case bool:
		fn.Disabled = v
	case string:
		fn.Disabled = app.settings.isTrue(v) || strings.EqualFold(v, "true")
	}
	seen := map[string]bool{}
	triggers := 0
	for i, rb := range f.Bindings {
		var props map[string]json.RawMessage
		if err := json.Unmarshal(rb, &props); err != nil {
			return &ConfigError{Field: fmt.Sprintf("bindings[%d]", i), Msg: "not an object"}
		}
		b := Binding{Props: map[string]json.RawMessage{}}
		for k, v := range props {
			lk := strings.ToLower(k)
			var s string
			if lk != "name" && lk != "type" && lk != "direction" && json.Unmarshal(v, &s) == nil {
				r, err := app.settings.resolve(s)
				if err != nil {
					return &ConfigError{Field: fmt.Sprintf("bindings[%d].%s", i, k), Msg: err.Error()}
				}
				v, _ = json.Marshal(r)
			}
			b.Props[lk] = v
		}
		b.Type, b.Direction, b.Name = b.Str("type"), b.Str("direction"), b.Str("name")
		b.DataType, b.Cardinality = strings.ToLower(b.Str("dataType")), strings.ToLower(b.Str("cardinality"))
		if b.Type == "" {
			return &ConfigError{Field: fmt.Sprintf("bindings[%d].type", i), Msg: "missing"}
		}
		if b.Name == "" {
			return &ConfigError{Field: fmt.Sprintf("bindings[%d].name", i), Msg: "missing"}
		}
		if seen[strings.ToLower(b.Name)] {
			return &ConfigError{Field: fmt.Sprintf("bindings[%d].name", i), Msg: fmt.Sprintf("%q is used twice (names are case-insensitive)", b.Name)}
		}
		seen[strings.ToLower(b.Name)] = true
		if strings.HasSuffix(strings.ToLower(b.Type), "trigger") {
			triggers++
		}
		fn.Bindings = append(fn.Bindings, b)
	}
	if triggers != 1 {
		return &ConfigError{Field: "bindings", Msg: fmt.Sprintf("a function needs exactly one trigger binding, found %d", triggers)}
	}
	return nil
}
