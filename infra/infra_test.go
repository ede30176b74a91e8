package infra_test

import (
	"slices"
	"testing"

	"github.com/orderflow/orderflow/infra"
	"github.com/orderflow/orderflow/shared/setting"
)

// localOnly lists settings the handler reads that Azure must not set, with
// the reason; AppSettings fails if the templates set one.
var localOnly = map[string]string{
	setting.EnvDatabaseURL:          "local PostgreSQL URL; in Azure the handler uses POSTGRES_HOST/DATABASE/USER with an Entra token",
	setting.EnvServiceBusConnection: "connection string for the local emulator; the namespace has SAS disabled, Azure uses ServiceBusConnection__*",
	setting.EnvPostgresPort:         "non-default port for local tests (the token-checking proxy); Azure Flexible Server uses the default 5432",
	setting.EnvPostgresSSLMode:      "sslmode=disable for local tests only; Azure uses the default require",
	setting.EnvAWSRegion:            "AWS only: the region of the RDS IAM token (POSTGRES_AUTH=rds-iam); Lambda sets it",
	setting.EnvRabbitMQSecretARN:    "AWS only: the Secrets Manager secret of the Amazon MQ broker's credentials",
	setting.EnvRabbitMQQueueType:    "AWS Lambda only (quorum queues); the Functions host counts attempts itself with the default classic queues",
}

// setup returns a Checker for the real infra directory, requiring every
// setting the handler reads (setting.Names()) except the local-only ones.
func setup(t *testing.T) infra.Checker {
	t.Helper()
	var required []string
	for _, n := range setting.Names() {
		if _, local := localOnly[n]; !local {
			required = append(required, n)
		}
	}
	return infra.Checker{Dir: ".", Settings: required, LocalOnly: localOnly}
}

func TestAPIVersions(t *testing.T) {
	t.Parallel()
	if err := setup(t).APIVersions(); err != nil {
		t.Fatal(err)
	}
}

func TestNoSecrets(t *testing.T) {
	t.Parallel()
	if err := setup(t).Secrets(); err != nil {
		t.Fatal(err)
	}
}

func TestLocalAuthDisabled(t *testing.T) {
	t.Parallel()
	if err := setup(t).LocalAuthDisabled(); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityRoles(t *testing.T) {
	t.Parallel()
	if err := setup(t).Roles(); err != nil {
		t.Fatal(err)
	}
}

func TestTopologyDerived(t *testing.T) {
	t.Parallel()
	if err := setup(t).TopologyDerived(); err != nil {
		t.Fatal(err)
	}
}

func TestAppSettings(t *testing.T) {
	t.Parallel()
	c := setup(t)
	if len(c.Settings) == 0 {
		t.Fatal("no handler settings to check")
	}
	if err := c.AppSettings(); err != nil {
		t.Fatal(err)
	}
}

// TestHandlerSettingsClassified makes sure every setting the handler reads
// is either required in Azure or explicitly local-only, never forgotten.
func TestHandlerSettingsClassified(t *testing.T) {
	t.Parallel()
	c := setup(t)
	for _, n := range setting.Names() {
		_, local := c.LocalOnly[n]
		if local == slices.Contains(c.Settings, n) {
			t.Errorf("setting %s: required=%v local-only=%v, want exactly one", n, !local, local)
		}
	}
}
