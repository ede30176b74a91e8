// Package stage lays out and configures the function app the way a deployment
// does: the app folder make package builds, local.settings.json, the
// settings that switch consumers on per broker, RabbitMQ virtual hosts. It
// does not link the testing package, so programs (bench) stage the app
// exactly like the tests (functions/apptest) do.
package stage

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Broker selects the broker the app runs on.
type Broker string

// The brokers of the app; Brokers lists both for suites that run every case
// on each.
const (
	ServiceBus Broker = "servicebus"
	RabbitMQ   Broker = "rabbitmq"
)

// Brokers lists every broker.
var Brokers = []Broker{ServiceBus, RabbitMQ}

// RabbitURL is the local RabbitMQ's AMQP URL without a virtual host.
const RabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

// App lays out a function app folder in dir as make package does, from
// the repository at root: host.json, one folder per functions/*/function.json
// and "handler" linking to the handler binary. A non-empty executable
// replaces host.json's customHandler executable (a wrapper such as
// testdata/flaky, or a profiling build).
func App(root, dir, handler, executable string) error {
	hostJSON, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		return fmt.Errorf("staging app: %w", err)
	}
	if executable != "" {
		var doc map[string]any
		if err := json.Unmarshal(hostJSON, &doc); err != nil {
			return fmt.Errorf("staging app: host.json: %w", err)
		}
		ch, _ := doc["customHandler"].(map[string]any)
		desc, _ := ch["description"].(map[string]any)
		if desc == nil {
			return fmt.Errorf("staging app: host.json has no customHandler.description")
		}
		desc["defaultExecutablePath"] = executable
		if hostJSON, err = json.Marshal(doc); err != nil {
			return fmt.Errorf("staging app: host.json: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "host.json"), hostJSON, 0o644); err != nil {
		return fmt.Errorf("staging app: %w", err)
	}
	fns, err := filepath.Glob(filepath.Join(root, "functions/*/function.json"))
	if err != nil || len(fns) == 0 {
		return fmt.Errorf("staging app: no function.json files under %s: %v", root, err)
	}
	for _, f := range fns {
		name := filepath.Base(filepath.Dir(f))
		raw, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("staging app: %w", err)
		}
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return fmt.Errorf("staging app: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "function.json"), raw, 0o644); err != nil {
			return fmt.Errorf("staging app: %w", err)
		}
	}
	if err := os.Symlink(handler, filepath.Join(dir, "handler")); err != nil {
		return fmt.Errorf("staging app: %w", err)
	}
	return nil
}

// LocalSettings writes dir/local.settings.json with settings as its
// Values, which is how a host started as a separate process
// (emulator/cmd/funchost, func start) gets the app settings.
func LocalSettings(dir string, settings map[string]string) error {
	b, err := json.MarshalIndent(map[string]any{"IsEncrypted": false, "Values": settings}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding local.settings.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "local.settings.json"), b, 0o600); err != nil {
		return fmt.Errorf("writing local.settings.json: %w", err)
	}
	return nil
}

// RepoRoot returns the directory of the main module's go.mod.
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(mod), nil
}

// ConsumerSettings are the AzureWebJobs.<Function>.Disabled settings that
// switch broker's queue-triggered functions on or off and the other
// broker's variants off, as the broker choice does.
func ConsumerSettings(broker Broker, on bool) map[string]string {
	out := map[string]string{}
	for _, fn := range []string{"ProcessOrder", "SendEmail"} {
		out["AzureWebJobs."+fn+".Disabled"] = fmt.Sprint(broker != ServiceBus || !on)
		out["AzureWebJobs."+fn+"RabbitMQ.Disabled"] = fmt.Sprint(broker != RabbitMQ || !on)
	}
	return out
}

// CreateVhost adds a RabbitMQ virtual host that guest may use and returns
// its AMQP URL; DeleteVhost removes it.
func CreateVhost(ctx context.Context, vhost string) (string, error) {
	for _, args := range [][]string{
		{"add_vhost", vhost},
		{"set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"},
	} {
		if out, err := exec.CommandContext(ctx, "rabbitmqctl", args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("rabbitmqctl %v: %w\n%s", args, err, out)
		}
	}
	return RabbitURL + vhost, nil
}

// DeleteVhost removes a virtual host made by CreateVhost.
func DeleteVhost(vhost string) error {
	if out, err := exec.Command("rabbitmqctl", "delete_vhost", vhost).CombinedOutput(); err != nil {
		return fmt.Errorf("rabbitmqctl delete_vhost %s: %w\n%s", vhost, err, out)
	}
	return nil
}

// OTLPSettings are the handler's OTEL_* settings for an OTLP/HTTP endpoint,
// with intervals short enough for a test to see the data within a second.
func OTLPSettings(endpoint string) map[string]string {
	return map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY":     "100",
		"OTEL_BLRP_SCHEDULE_DELAY":    "100",
		"OTEL_METRIC_EXPORT_INTERVAL": "300",
	}
}
