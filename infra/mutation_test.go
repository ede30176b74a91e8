package infra_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/infra"
)

// copyTree copies the templates, the allowlist and topology.json into a
// temporary tree with the repository's layout (<root>/infra,
// <root>/shared/topology), so relative loadJsonContent paths still resolve.
// It returns the copied infra directory.
func copyTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dst := filepath.Join(root, "infra")
	files, err := infra.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{infra.AllowlistFile}
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	for _, p := range paths {
		copyFile(t, p, filepath.Join(dst, p))
	}
	copyFile(t, filepath.Join("..", "shared", "topology", "topology.json"), filepath.Join(root, "shared", "topology", "topology.json"))
	return dst
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// edit rewrites one file of the copy; the edit must change it.
func edit(t *testing.T, path string, fn func(t *testing.T, src string) string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := fn(t, string(b))
	if out == string(b) {
		t.Fatalf("mutation left %s unchanged", path)
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replace returns an edit replacing the single occurrence of old.
func replace(old, new string) func(*testing.T, string) string {
	return func(t *testing.T, src string) string {
		t.Helper()
		if n := strings.Count(src, old); n != 1 {
			t.Fatalf("mutation target %q occurs %d times, want 1", old, n)
		}
		return strings.Replace(src, old, new, 1)
	}
}

// cutBlock returns an edit deleting the top-level block that starts with
// head and ends at the next line holding only "}" or "]".
func cutBlock(head string) func(*testing.T, string) string {
	return func(t *testing.T, src string) string {
		t.Helper()
		start := strings.Index(src, head)
		if start < 0 {
			t.Fatalf("block %q not found", head)
		}
		rest := src[start:]
		end := len(rest)
		for _, closer := range []string{"\n}\n", "\n]\n"} {
			if i := strings.Index(rest, closer); i >= 0 && i+len(closer) < end {
				end = i + len(closer)
			}
		}
		return src[:start] + rest[end:]
	}
}

// appendText returns an edit that appends text.
func appendText(text string) func(*testing.T, string) string {
	return func(t *testing.T, src string) string { return src + "\n" + text + "\n" }
}

// TestMutationsFail mutates a copy of infra/ in one way each and expects the
// named check to report it: removing a setting, a role or a subscription,
// hand-copying a topology value, widening a role, leaking a secret.
func TestMutationsFail(t *testing.T) {
	t.Parallel()
	type check func(infra.Checker) error
	var (
		settings    check = infra.Checker.AppSettings
		roles       check = infra.Checker.Roles
		topo        check = infra.Checker.TopologyDerived
		secrets     check = infra.Checker.Secrets
		apiVersions check = infra.Checker.APIVersions
		localAuth   check = infra.Checker.LocalAuthDisabled
	)
	const (
		fa   = "modules/functionapp.bicep"
		sb   = "modules/servicebus.bicep"
		st   = "modules/storage.bicep"
		mon  = "modules/monitoring.bicep"
		main = "main.bicep"
	)
	cases := []struct {
		name  string
		file  string // relative to the copied infra dir; "topology" = topology.json
		edit  func(*testing.T, string) string
		check check
		want  string
	}{
		{"handler setting removed", fa, replace("  {\n    name: 'POSTGRES_HOST'\n    value: postgresHost\n  }\n", ""), settings, "app setting POSTGRES_HOST is not set"},
		{"smtp setting removed", fa, replace("  {\n    name: 'SMTP_FROM'\n    value: smtpFrom\n  }\n", ""), settings, "app setting SMTP_FROM is not set"},
		{"host storage by connection string", fa, replace("'AzureWebJobsStorage__accountName'", "'AzureWebJobsStorage'"), settings, "AzureWebJobsStorage is forbidden"},
		{"credential not managed identity", fa, replace("name: 'ServiceBusConnection__credential'\n    value: 'managedidentity'", "name: 'ServiceBusConnection__credential'\n    value: 'azurecli'"), settings, "must be 'managedidentity'"},
		{"client id differs", fa, replace("name: 'AZURE_CLIENT_ID'\n    value: identityClientId", "name: 'AZURE_CLIENT_ID'\n    value: identityId"), settings, "same identity client ID"},
		{"postgres password auth", fa, replace("value: 'entra'", "value: 'password'"), settings, "must be 'entra'"},
		{"local-only setting deployed", fa, replace("  {\n    name: 'BROKER'", "  {\n    name: 'DATABASE_URL'\n    value: postgresHost\n  }\n  {\n    name: 'BROKER'"), settings, "DATABASE_URL is local-only"},
		{"worker runtime on flex", fa, replace("isFlex ? [] : premiumOnlySettings", "premiumOnlySettings"), settings, "FUNCTIONS_WORKER_RUNTIME must be added only off Flex"},
		{"flex runtime not custom", fa, replace("    name: 'custom'\n    version: '1.0'", "    name: 'go'\n    version: '1.0'"), settings, "runtime name 'custom'"},
		{"inactive triggers not disabled", fa, replace("baseSettings, disabledTriggerSettings,", "baseSettings,"), settings, "disabling the inactive broker's triggers"},
		{"rabbitmq uri written in", fa, replace("value: rabbitMQConnection\n", "value: 'amqps://app:pw@rabbit.example.com/'\n"), settings, "RabbitMQConnection: must come from a @secure() param"},
		{"rabbitmq uri is a secret literal", fa, replace("value: rabbitMQConnection\n", "value: 'amqps://app:pw@rabbit.example.com/'\n"), secrets, "secret material"},

		{"receiver role removed", sb, cutBlock("resource dataReceiver "), roles, "Azure Service Bus Data Receiver"},
		{"blob owner role removed", st, cutBlock("resource blobDataOwner "), roles, "Storage Blob Data Owner"},
		{"metrics publisher removed", mon, cutBlock("resource metricsPublisher "), roles, "Monitoring Metrics Publisher"},
		{"receiver widened to data owner", sb, replace("4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0", "090c5cfd-751d-490a-894a-3ce6f1109419"), roles, "is not one the app needs"},
		{"role at resource group scope", st, replace("  scope: account\n", ""), roles, "on resource group is not one the app needs"},
		{"role for another principal", main, replace("name: take(toLower('st${replace(namePrefix, '-', '')}${suffix}'), 24)\n    location: location\n    tags: tags\n    principalId: identity.outputs.principalId", "name: take(toLower('st${replace(namePrefix, '-', '')}${suffix}'), 24)\n    location: location\n    tags: tags\n    principalId: postgresAdminObjectId"), roles, "must be the identity module's outputs.principalId"},
		{"role for a user", sb, replace("principalId: principalId\n    principalType: 'ServicePrincipal'\n  }\n}\n\nresource dataReceiver", "principalId: principalId\n    principalType: 'User'\n  }\n}\n\nresource dataReceiver"), roles, "principalType must be 'ServicePrincipal'"},

		{"subscriptions removed", sb, cutBlock("resource subscriptions "), topo, "found 0"},
		{"max delivery count hand-copied", sb, replace("maxDeliveryCount: sub.maxDeliveryCount", "maxDeliveryCount: 3"), topo, "properties.maxDeliveryCount must be sub.maxDeliveryCount"},
		{"lock duration dropped", sb, replace("      lockDuration: sub.lockDuration\n", ""), topo, "properties.lockDuration must be sub.lockDuration"},
		{"dead-lettering dropped", sb, replace("      deadLetteringOnMessageExpiration: sub.deadLetteringOnMessageExpiration\n", ""), topo, "deadLetteringOnMessageExpiration"},
		{"topic hand-named", sb, replace("name: topology.topic", "name: 'orders'"), topo, "topic name must be topology.topic"},
		{"topology not loaded", sb, replace("loadJsonContent('../../shared/topology/topology.json')", "loadJsonContent('topology.json')"), topo, "no variable loads"},
		{"subscriptions hand-listed", sb, replace("for sub in topology.subscriptions:", "for sub in ['process-order']:"), topo, "must be declared as [for s in topology.subscriptions"},
		{"topology gains a field", "topology", replace(`"maxDeliveryCount": 3,`+"\n      \"lockDuration\": \"PT1M\",\n      \"defaultMessageTimeToLive\": \"P14D\",\n      \"deadLetteringOnMessageExpiration\": true\n    },\n    {\n      \"name\": \"send-email\"", `"maxDeliveryCount": 3, "requiresSession": false,`+"\n      \"lockDuration\": \"PT1M\",\n      \"defaultMessageTimeToLive\": \"P14D\",\n      \"deadLetteringOnMessageExpiration\": true\n    },\n    {\n      \"name\": \"send-email\""), topo, "properties.requiresSession must be sub.requiresSession"},
		{"sas enabled", sb, replace("disableLocalAuth: true", "disableLocalAuth: false"), topo, "disableLocalAuth must be true"},
		{"basic tier", sb, replace("    name: 'Standard'\n    tier: 'Standard'", "    name: 'Basic'\n    tier: 'Basic'"), topo, "sku.name must be 'Standard' or 'Premium'"},

		{"listKeys output", st, appendText("output key string = account.listKeys().keys[0].value"), secrets, "list*() reads keys"},
		{"connection string output", mon, appendText("output aiConnection string = appInsights.properties.ConnectionString"), secrets, "looks like a secret"},
		{"secure output", main, appendText("@secure()\noutput mail string = smtpHost"), secrets, "is @secure()"},
		{"secure param output", main, appendText("output mailLogin string = smtpPassword"), secrets, "returns @secure() param smtpPassword"},
		{"secure param default", main, replace("param smtpPassword string = ''", "param smtpPassword string = 'hunter2'"), secrets, "has a default value"},
		{"secret in bicepparam", "main.bicepparam", replace("param smtpPassword = readEnvironmentVariable('ORDERFLOW_SMTP_PASSWORD', '')", "param smtpPassword = 'hunter2'"), secrets, "must come from readEnvironmentVariable()"},
		{"account key literal", st, appendText("var conn = 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc123'"), secrets, "secret material"},

		{"storage shared keys on", st, replace("allowSharedKeyAccess: false", "allowSharedKeyAccess: true"), localAuth, "allowSharedKeyAccess must be false"},
		{"app insights keys on", mon, replace("DisableLocalAuth: true", "DisableLocalAuth: false"), localAuth, "DisableLocalAuth must be true"},
		{"postgres passwords on", "modules/postgres.bicep", replace("passwordAuth: 'Disabled'", "passwordAuth: 'Enabled'"), localAuth, "passwordAuth must be 'Disabled'"},
		{"storage account removed", st, cutBlock("resource account "), localAuth, "no Microsoft.Storage/storageAccounts resource declared"},

		{"unknown api version", sb, replace("'Microsoft.ServiceBus/namespaces@2024-01-01'", "'Microsoft.ServiceBus/namespaces@2099-01-01'"), apiVersions, "namespaces@2099-01-01 is not in api-versions.txt"},
		{"api version missing", st, replace("'Microsoft.Storage/storageAccounts@2025-01-01'", "'Microsoft.Storage/storageAccounts'"), apiVersions, "has no @apiVersion"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := setup(t)
			c.Dir = copyTree(t)
			target := filepath.Join(c.Dir, tc.file)
			if tc.file == "topology" {
				target = filepath.Join(c.Dir, "..", "shared", "topology", "topology.json")
			}
			if err := tc.check(c); err != nil {
				t.Fatalf("unmutated copy already fails: %v", err)
			}
			edit(t, target, tc.edit)
			err := tc.check(c)
			if err == nil {
				t.Fatalf("check passed on the mutated copy, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestTopologyChangeFlowsThrough adds a subscription to topology.json only:
// since the templates derive every subscription from it, all checks still
// pass without touching a .bicep file.
func TestTopologyChangeFlowsThrough(t *testing.T) {
	t.Parallel()
	c := setup(t)
	c.Dir = copyTree(t)
	edit(t, filepath.Join(c.Dir, "..", "shared", "topology", "topology.json"), replace(`  "subscriptions": [`,
		`  "subscriptions": [
    {"name": "audit", "function": "Audit", "maxDeliveryCount": 5, "lockDuration": "PT30S",
     "defaultMessageTimeToLive": "P1D", "deadLetteringOnMessageExpiration": true},`))
	if err := c.All(); err != nil {
		t.Fatalf("templates should follow topology.json: %v", err)
	}
}
