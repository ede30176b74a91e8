package funchost

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenConfigStopsStartup is issue 13 point 8: a broken function.json or
// host.json stops start-up (New fails) with one line naming the file and the
// field, as the real host's start-up checks do, instead of a log line and a
// silently missing function.
func TestBrokenConfigStopsStartup(t *testing.T) {
	t.Parallel()
	httpFn := func(route string) string {
		return `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"` + route + `","methods":["get"]},{"type":"http","direction":"out","name":"res"}]}`
	}
	cases := []struct {
		name      string
		host      map[string]any
		functions map[string]string
		want      string // prefix of the one-line error: file and field
	}{
		{"unknown trigger type", nil,
			map[string]string{"Q": `{"bindings":[{"type":"kafkaTrigger","direction":"in","name":"msg"}]}`},
			"Q/function.json: bindings[0].type: "},
		{"unknown output type", nil,
			map[string]string{"Q": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"00:00:10"},{"type":"blob","direction":"out","name":"o"}]}`},
			"Q/function.json: bindings[1].type: "},
		{"missing service bus connection", nil,
			map[string]string{"Q": `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"q","connection":"NoSuchSetting"}]}`},
			"Q/function.json: bindings[0].connection: "},
		{"missing rabbitmq connection", nil,
			map[string]string{"Q": `{"bindings":[{"type":"rabbitMQTrigger","direction":"in","name":"msg","queueName":"q","connectionStringSetting":"NoSuchSetting"}]}`},
			"Q/function.json: bindings[0].connectionStringSetting: "},
		{"invalid cron", nil,
			map[string]string{"T": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 */5 * * *"}]}`},
			"T/function.json: bindings[0].schedule: "},
		{"invalid route", nil, map[string]string{"A": httpFn("orders/{id")}, "A/function.json: bindings[0].route: "},
		{"route conflict", nil,
			map[string]string{"A": httpFn("orders/{id}"), "B": httpFn("Orders/{orderId}/")},
			"B/function.json: bindings[0].route: "},
		{"unresolved setting", nil,
			map[string]string{"T": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"%NOPE%"}]}`},
			"T/function.json: bindings[0].schedule: "},
		{"two triggers", nil,
			map[string]string{"T": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"a","schedule":"00:00:10"},{"type":"httpTrigger","direction":"in","name":"b"}]}`},
			"T/function.json: bindings: "},
		{"not json", nil, map[string]string{"T": `{"bindings":[`}, "T/function.json: (document): "},
		{"bad service bus option", map[string]any{"extensions": map[string]any{"serviceBus": map[string]any{"maxAutoLockRenewalDuration": "soon"}}},
			map[string]string{"Q": `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"q","connection":"SB"}]}`},
			"host.json: extensions.serviceBus.maxAutoLockRenewalDuration: "},
		{"rabbitmq batch", nil,
			map[string]string{"Q": `{"bindings":[{"type":"rabbitMQTrigger","direction":"in","name":"msg","queueName":"q","connectionStringSetting":"RMQ","cardinality":"many"}]}`},
			"Q/function.json: bindings[0].cardinality: "},
		{"bad customHandler.port", map[string]any{"customHandler": map[string]any{"description": map[string]any{"defaultExecutablePath": handlerBin}, "port": 70000}},
			map[string]string{"T": fnTick}, "host.json: customHandler.port: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			host := map[string]any{"version": "2.0", "customHandler": map[string]any{"description": map[string]any{"defaultExecutablePath": handlerBin}}}
			for k, v := range c.host {
				host[k] = v
			}
			writeJSON(t, filepath.Join(dir, "host.json"), host)
			writeJSON(t, filepath.Join(dir, "local.settings.json"), map[string]any{"Values": map[string]string{
				"SB": "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true", "RMQ": "amqp://127.0.0.1:1/"}})
			for name, fj := range c.functions {
				if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name, "function.json"), []byte(fj), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := New(Config{AppDir: dir, Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				t.Fatal("New accepted the broken app")
			}
			var ce *ConfigError
			if !errors.Is(err, ErrConfig) || !errors.As(err, &ce) {
				t.Fatalf("err %v is not a *ConfigError wrapping ErrConfig", err)
			}
			line := ce.Error()
			if !strings.HasPrefix(line, c.want) || strings.Contains(line, "\n") || len(line) <= len(c.want) {
				t.Fatalf("error %q, want one line starting %q", line, c.want)
			}
		})
	}
	// A disabled function is not checked: the app disables the other
	// broker's variants, whose connection settings may be missing.
	dir := t.TempDir()
	writeJSON(t, filepath.Join(dir, "host.json"), map[string]any{"customHandler": map[string]any{"description": map[string]any{"defaultExecutablePath": handlerBin}}})
	writeJSON(t, filepath.Join(dir, "local.settings.json"), map[string]any{"Values": map[string]string{"AzureWebJobs.Q.Disabled": "true"}})
	_ = os.MkdirAll(filepath.Join(dir, "Q"), 0o755)
	raw, _ := json.Marshal(map[string]any{"bindings": []any{map[string]any{"type": "rabbitMQTrigger", "direction": "in", "name": "m", "queueName": "q", "connectionStringSetting": "Nope"}}})
	_ = os.WriteFile(filepath.Join(dir, "Q", "function.json"), raw, 0o644)
	if _, err := New(Config{AppDir: dir, Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("disabled function checked: %v", err)
	}
}
