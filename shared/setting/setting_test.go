package setting_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/shared/setting"
)

func setup(t *testing.T, env map[string]string) func(string) (string, bool) {
	t.Helper()
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	s, err := setting.Load(setup(t, map[string]string{"BROKER": "rabbitmq"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.DatabaseURL != setting.DefaultDatabaseURL || s.RabbitMQConnection != setting.DefaultRabbitMQConnection ||
		s.SMTPPort != 587 || s.SMTPFrom != setting.DefaultSMTPFrom || s.SMTPHost != "" {
		t.Fatalf("defaults not applied: %+v", s)
	}
}

func TestLoadServiceBusIdentity(t *testing.T) {
	t.Parallel()
	s, err := setting.Load(setup(t, map[string]string{
		"ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net",
		"ServiceBusConnection__credential":              "managedidentity",
		"ServiceBusConnection__clientId":                "abc",
		"SMTP_PORT":                                     "2525",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Broker != setting.BrokerServiceBus || s.ServiceBusNamespace != "ns.servicebus.windows.net" ||
		s.ServiceBusCredential != "managedidentity" || s.ServiceBusClientID != "abc" || s.SMTPPort != 2525 {
		t.Fatalf("unexpected settings: %+v", s)
	}
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]map[string]string{
		"unknown broker":         {"BROKER": "kafka"},
		"servicebus without cfg": {"BROKER": "servicebus"},
		"default broker no cfg":  {},
		"bad smtp port":          {"BROKER": "rabbitmq", "SMTP_PORT": "x"},
		"smtp port out of range": {"BROKER": "rabbitmq", "SMTP_PORT": "70000"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := setting.Load(setup(t, env)); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

func TestNamesCoversEverySetting(t *testing.T) {
	t.Parallel()
	names := setting.Names()
	// Every name must be read by Load: setting it to garbage changes the result or fails.
	seen := map[string]bool{}
	lookup := func(k string) (string, bool) {
		seen[k] = true
		if k == "BROKER" {
			return "rabbitmq", true
		}
		return "", false
	}
	if _, err := setting.Load(lookup); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("Names lists %s but Load never reads it", n)
		}
	}
	for k := range seen {
		if !slices.Contains(names, k) {
			t.Errorf("Load reads %s but Names does not list it", k)
		}
	}
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "ServiceBusConnection__") }) {
		t.Error("identity-based Service Bus settings missing")
	}
}
