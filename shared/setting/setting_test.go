package setting_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

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

// entraEnv is the shape of the app settings the Bicep template sets for
// password-less PostgreSQL and Service Bus.
func entraEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"POSTGRES_AUTH":     "entra",
		"POSTGRES_HOST":     "srv.postgres.database.azure.com",
		"POSTGRES_DATABASE": "orders",
		"POSTGRES_USER":     "orderflow-id",
		"AZURE_CLIENT_ID":   "00000000-0000-0000-0000-000000000001",
		"ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func TestLoadPostgresEntra(t *testing.T) {
	t.Parallel()
	s, err := setting.Load(setup(t, entraEnv(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if s.PostgresAuth != setting.PostgresAuthEntra || s.PostgresPort != 5432 || s.PostgresSSLMode != "require" ||
		s.DatabaseURL != "" || s.AzureClientID != "00000000-0000-0000-0000-000000000001" {
		t.Fatalf("unexpected settings: %+v", s)
	}
	cc, err := pgconn.ParseConfig(s.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	if cc.Host != "srv.postgres.database.azure.com" || cc.Port != 5432 || cc.Database != "orders" || cc.User != "orderflow-id" ||
		cc.Password != "" || cc.TLSConfig == nil || len(cc.Fallbacks) != 0 {
		t.Fatalf("URL %s parses to host=%s port=%d db=%s user=%s tls=%v fallbacks=%d", s.PostgresURL(),
			cc.Host, cc.Port, cc.Database, cc.User, cc.TLSConfig != nil, len(cc.Fallbacks))
	}
}

func TestPostgresURLEscapesNames(t *testing.T) {
	t.Parallel()
	s, err := setting.Load(setup(t, entraEnv(map[string]string{
		"POSTGRES_USER": "app@tenant name", "POSTGRES_DATABASE": "orders db", "POSTGRES_PORT": "6432", "POSTGRES_SSLMODE": "DISABLE",
	})))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := pgconn.ParseConfig(s.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	if cc.User != "app@tenant name" || cc.Database != "orders db" || cc.Port != 6432 || cc.TLSConfig != nil {
		t.Fatalf("URL %s parses to user=%q db=%q port=%d tls=%v", s.PostgresURL(), cc.User, cc.Database, cc.Port, cc.TLSConfig != nil)
	}
}

func TestPostgresURLPasswordMode(t *testing.T) {
	t.Parallel()
	s, err := setting.Load(setup(t, map[string]string{"BROKER": "rabbitmq", "DATABASE_URL": "postgres://u:p@db:5433/x", "POSTGRES_AUTH": "PASSWORD"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.PostgresAuth != setting.PostgresAuthPassword || s.PostgresURL() != "postgres://u:p@db:5433/x" || s.PostgresPort != 0 {
		t.Fatalf("unexpected settings: %+v", s)
	}
}

func TestLoadRejectsPostgresMixups(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]map[string]string{
		"unknown auth":            entraEnv(map[string]string{"POSTGRES_AUTH": "kerberos"}),
		"entra with DATABASE_URL": entraEnv(map[string]string{"DATABASE_URL": "postgres://x@y/z"}),
		"entra without host":      entraEnv(map[string]string{"POSTGRES_HOST": ""}),
		"entra without database":  entraEnv(map[string]string{"POSTGRES_DATABASE": " "}),
		"entra without user":      entraEnv(map[string]string{"POSTGRES_USER": ""}),
		"bad sslmode":             entraEnv(map[string]string{"POSTGRES_SSLMODE": "sometimes"}),
		"bad port":                entraEnv(map[string]string{"POSTGRES_PORT": "0"}),
		"host without entra":      entraEnv(map[string]string{"POSTGRES_AUTH": ""}),
		"port without entra":      {"BROKER": "rabbitmq", "POSTGRES_PORT": "5432"},
		"sslmode without entra":   {"BROKER": "rabbitmq", "POSTGRES_AUTH": "password", "POSTGRES_SSLMODE": "require"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := setting.Load(setup(t, env))
			if err == nil || !strings.Contains(err.Error(), "POSTGRES_") && !strings.Contains(err.Error(), "DATABASE_URL") {
				t.Fatalf("want an error naming the setting, got %v", err)
			}
		})
	}
}
