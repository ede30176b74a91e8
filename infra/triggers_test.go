package infra_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/infra"
)

// setupTriggers copies the templates, topology.json and the fixture function
// folders in testdata/functions (the four message consumers as decided for
// the app, plus an HTTP function) into a temporary tree, and returns a
// Checker on it.
func setupTriggers(t *testing.T) infra.Checker {
	t.Helper()
	c := setup(t)
	c.Dir = copyTree(t)
	c.FunctionsDir = filepath.Join(c.Dir, "..", "functions")
	fixtures, err := filepath.Glob(filepath.Join("testdata", "functions", "*", "function.json"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixture functions: %v", err)
	}
	for _, f := range fixtures {
		copyFile(t, f, filepath.Join(c.FunctionsDir, filepath.Base(filepath.Dir(f)), "function.json"))
	}
	return c
}

// TestTriggersOfApp checks the real functions/ folder, whose message
// consumers must be there.
func TestTriggersOfApp(t *testing.T) {
	t.Parallel()
	c := setup(t)
	fns, err := c.TriggerFunctions()
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) == 0 {
		t.Fatal("functions/ has no serviceBusTrigger or rabbitMQTrigger function.json: the consumers are missing")
	}
	if err := c.Triggers(); err != nil {
		t.Fatal(err)
	}
}

func TestTriggersFixture(t *testing.T) {
	t.Parallel()
	c := setupTriggers(t)
	fns, err := c.TriggerFunctions()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(fns, ",") != "ProcessOrder,ProcessOrderRabbitMQ,SendEmail,SendEmailRabbitMQ" {
		t.Fatalf("TriggerFunctions = %v", fns)
	}
	if err := c.Triggers(); err != nil {
		t.Fatal(err)
	}
}

// TestTriggerMutationsFail breaks the fixture app or the topology and expects
// Triggers to report it.
func TestTriggerMutationsFail(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(t *testing.T, c infra.Checker)
		want   string
	}{
		{"rabbitmq consumer removed", func(t *testing.T, c infra.Checker) {
			if err := os.RemoveAll(filepath.Join(c.FunctionsDir, "SendEmailRabbitMQ")); err != nil {
				t.Fatal(err)
			}
		}, "needs a rabbitMQTrigger function SendEmailRabbitMQ"},
		{"wrong subscription", func(t *testing.T, c infra.Checker) {
			edit(t, filepath.Join(c.FunctionsDir, "ProcessOrder", "function.json"), replace(`"subscriptionName": "process-order"`, `"subscriptionName": "send-email"`))
		}, "topology.json says orders/process-order"},
		{"wrong queue", func(t *testing.T, c infra.Checker) {
			edit(t, filepath.Join(c.FunctionsDir, "SendEmailRabbitMQ", "function.json"), replace(`"queueName": "send-email"`, `"queueName": "emails"`))
		}, `topology.json says "send-email"`},
		{"connection not identity-based", func(t *testing.T, c infra.Checker) {
			edit(t, filepath.Join(c.FunctionsDir, "SendEmail", "function.json"), replace(`"connection": "ServiceBusConnection"`, `"connection": "OtherBus"`))
		}, "app setting OtherBus__fullyQualifiedNamespace is not set"},
		{"subscription removed from topology", func(t *testing.T, c infra.Checker) {
			edit(t, filepath.Join(c.Dir, "..", "shared", "topology", "topology.json"), func(t *testing.T, src string) string {
				start := strings.Index(src, ",\n    {\n      \"name\": \"send-email\"")
				end := strings.LastIndex(src, "}\n  ]")
				if start < 0 || end < start {
					t.Fatal("send-email entry not found in topology.json")
				}
				return src[:start] + "\n  ]" + src[end+len("}\n  ]"):]
			})
		}, "serviceBusTrigger is not a consumer in topology.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := setupTriggers(t)
			tc.mutate(t, c)
			err := c.Triggers()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Triggers() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
