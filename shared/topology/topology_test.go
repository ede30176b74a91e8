package topology_test

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/orderflow/orderflow/shared/topology"
)

// emulatorConfig is the part of the official emulator's Config.json schema
// that topology.json must agree with.
type emulatorConfig struct {
	UserConfig struct {
		Namespaces []struct {
			Topics []struct {
				Name          string
				Subscriptions []struct {
					Name       string
					Properties struct {
						DeadLetteringOnMessageExpiration bool
						DefaultMessageTimeToLive         string
						LockDuration                     string
						MaxDeliveryCount                 int
					}
				}
			}
		}
	}
}

// lineComment matches the // comments the official emulator's Config.json
// format allows; none of our values contain "//".
var lineComment = regexp.MustCompile(`(?m)^\s*//.*$`)

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	top := topology.Default()
	if top.Topic != "orders" || len(top.Subscriptions) == 0 {
		t.Fatalf("unexpected topology: %+v", top)
	}
	for _, s := range top.Subscriptions {
		got, ok := top.Subscription(s.Function)
		if !ok || got.Name != s.Name {
			t.Errorf("Subscription(%q) = %+v, %v", s.Function, got, ok)
		}
		if s.DeadLetterQueue() != s.Name+".dlq" {
			t.Errorf("DeadLetterQueue() = %q", s.DeadLetterQueue())
		}
	}
}

func TestParseRejectsInvalid(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"not json":        `{`,
		"no topic":        `{"routingKey":"k","deadLetterExchange":"d"}`,
		"no max delivery": `{"topic":"t","routingKey":"k","deadLetterExchange":"d","subscriptions":[{"name":"a","function":"F"}]}`,
		"duplicate":       `{"topic":"t","routingKey":"k","deadLetterExchange":"d","subscriptions":[{"name":"a","function":"F","maxDeliveryCount":1},{"name":"a","function":"G","maxDeliveryCount":1}]}`,
	} {
		if _, err := topology.Parse([]byte(doc)); err == nil {
			t.Errorf("%s: Parse succeeded, want error", name)
		}
	}
}

func TestEmulatorConfigMatchesTopology(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("emulator-config.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg emulatorConfig
	if err := json.Unmarshal(lineComment.ReplaceAll(raw, nil), &cfg); err != nil {
		t.Fatalf("decoding emulator-config.json: %v", err)
	}
	top := topology.Default()
	if len(cfg.UserConfig.Namespaces) != 1 || len(cfg.UserConfig.Namespaces[0].Topics) != 1 {
		t.Fatalf("want one namespace with one topic, got %+v", cfg.UserConfig.Namespaces)
	}
	topic := cfg.UserConfig.Namespaces[0].Topics[0]
	if topic.Name != top.Topic {
		t.Errorf("topic %q, topology says %q", topic.Name, top.Topic)
	}
	if len(topic.Subscriptions) != len(top.Subscriptions) {
		t.Fatalf("%d subscriptions, topology has %d", len(topic.Subscriptions), len(top.Subscriptions))
	}
	for i, want := range top.Subscriptions {
		got := topic.Subscriptions[i]
		p := got.Properties
		if got.Name != want.Name || p.MaxDeliveryCount != want.MaxDeliveryCount || p.LockDuration != want.LockDuration ||
			p.DefaultMessageTimeToLive != want.DefaultMessageTimeToLive || p.DeadLetteringOnMessageExpiration != want.DeadLetteringOnMessageExpiration {
			t.Errorf("subscription %d = %+v, topology says %+v", i, got, want)
		}
	}
}
