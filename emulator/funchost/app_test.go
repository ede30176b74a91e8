package funchost

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// setupAppDir writes an app folder with the given files (path → content).
func setupAppDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSettingsPrecedence(t *testing.T) {
	t.Parallel()
	dir := setupAppDir(t, map[string]string{"local.settings.json": `{"Values":{"A":"local","B":"local","C":"local","D":"local"}}`})
	st, warnings, err := loadSettings(dir, map[string]string{"D": "override"}, []string{"A=env", "B=", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "env", "B": "local", "C": "local", "D": "override", "PATH": "/bin"}
	for k, v := range want {
		if got, _ := st.get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(warnings) != 1 || warnings[0] != "Skipping 'A' from local settings as it's already defined in current environment variables." {
		t.Errorf("warnings = %q", warnings)
	}
	if got, _ := st.get("c"); got != "local" {
		t.Errorf("lookup should be case-insensitive like .NET configuration, got %q", got)
	}
	if r, err := st.resolve("%C%-%D%"); err != nil || r != "local-override" {
		t.Errorf("resolve = %q, %v", r, err)
	}
	if _, err := st.resolve("%MISSING%"); err == nil {
		t.Errorf("unresolved setting: err = %v", err)
	}
}

func TestLoadApp(t *testing.T) {
	t.Parallel()
	dir := setupAppDir(t, map[string]string{
		"host.json": `{"version":"2.0","functionTimeout":"00:02:00","customHandler":{"description":{"defaultExecutablePath":"handler","arguments":["a b","%ARG%"]},"enableForwardingHttpRequest":true},
			"extensions":{"http":{"routePrefix":"/v1/"},"rabbitMQ":{"prefetchCount":5}}}`,
		"handler":                   "#!/bin/sh\n",
		"local.settings.json":       `{"Values":{"ARG":"c","QUEUE":"orders","AzureWebJobs.Off.Disabled":"true"}}`,
		"Consume/function.json":     `{"bindings":[{"type":"rabbitMQTrigger","direction":"in","name":"msg","queueName":"%QUEUE%","connectionStringSetting":"Rabbit"}]}`,
		"Off/function.json":         `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"00:00:10"}]}`,
		"Legacy/function.json":      `{"disabled":true,"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"00:00:10"}]}`,
		"Broken/function.json":      `{"bindings":[{"type":"queueTrigger","direction":"in","name":"m","queueName":"%NOPE%"}]}`,
		"TwoTriggers/function.json": `{"bindings":[{"type":"timerTrigger","name":"a"},{"type":"httpTrigger","name":"b"}]}`,
		"NotAFunction/readme.txt":   "x",
	})
	app, err := LoadApp(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if app.Handler.Executable != filepath.Join(dir, "handler") || len(app.Handler.Arguments) != 3 || app.Handler.Arguments[2] != "c" {
		t.Errorf("handler = %+v", app.Handler)
	}
	if app.RoutePrefix != "v1" || app.FunctionTimeout != 2*time.Minute || !app.Handler.EnableForwardingHTTPRequest {
		t.Errorf("prefix %q timeout %v", app.RoutePrefix, app.FunctionTimeout)
	}
	if _, ok := app.Extensions["rabbitmq"]; !ok {
		t.Error("extensions.rabbitMQ not kept")
	}
	byName := map[string]*Function{}
	for _, fn := range app.Functions {
		byName[fn.Name] = fn
	}
	if len(app.Functions) != 5 {
		t.Fatalf("functions = %d, want 5", len(app.Functions))
	}
	if q := byName["Consume"].Trigger().Str("queueName"); q != "orders" {
		t.Errorf("queueName = %q, want %%QUEUE%% resolved", q)
	}
	if !byName["Off"].Disabled || !byName["Legacy"].Disabled || byName["Consume"].Disabled {
		t.Error("Disabled flags wrong")
	}
	if !errors.Is(byName["Broken"].LoadError, ErrConfig) || !errors.Is(byName["TwoTriggers"].LoadError, ErrConfig) {
		t.Errorf("load errors = %v / %v", byName["Broken"].LoadError, byName["TwoTriggers"].LoadError)
	}
}

func TestLoadAppErrors(t *testing.T) {
	t.Parallel()
	for name, host := range map[string]string{
		"no customHandler": `{"version":"2.0"}`,
		"empty executable": `{"customHandler":{"description":{"defaultExecutablePath":""}}}`,
		"bad timeout":      `{"functionTimeout":"soon","customHandler":{"description":{"defaultExecutablePath":"x"}}}`,
		"not json":         `{`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := setupAppDir(t, map[string]string{"host.json": host})
			if _, err := LoadApp(dir, nil); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

// TestJSONBool: host.json and function.json booleans are read alike, as the
// real host's binders read them: "1" is not true in either.
func TestJSONBool(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{
		`true`: true, `"true"`: true, `"TRUE"`: true, `" True "`: true,
		`false`: false, `"false"`: false, `"1"`: false, `1`: false, `"yes"`: false, `null`: false, `{}`: false, ``: false,
	} {
		host := jobj{"enableForwardingHttpRequest": json.RawMessage(raw)}
		if got := host.boolean("EnableForwardingHttpRequest"); got != want {
			t.Errorf("host.json %s = %v, want %v", raw, got, want)
		}
		fn := Binding{Props: map[string]json.RawMessage{"runonstartup": json.RawMessage(raw)}}
		if got := fn.Bool("runOnStartup"); got != want {
			t.Errorf("function.json %s = %v, want %v", raw, got, want)
		}
	}
}
