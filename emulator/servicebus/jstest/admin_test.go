package jstest

import (
	"strings"
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus"
)

// adminCases are the cases of admin.mjs; each creates its own entities under a unique prefix.
var adminCases = []string{"admin-queue", "admin-topic-subscription-rule", "admin-runtime-counts", "admin-unauthorized"}

// TestJSAdmin runs admin.mjs: the JavaScript SDK's ServiceBusAdministrationClient against the
// emulator's HTTP port (over plain HTTP through a pipeline policy) creates, lists, updates and
// deletes every entity kind and reads runtime counts after ServiceBusClient sent and settled.
func TestJSAdmin(t *testing.T) {
	t.Parallel()
	node := requireNode(t)
	srv := startEmulator(t, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	out, runErr := runScript(t, node, "admin.mjs", map[string]string{
		"SB_ADMIN_CONNECTION_STRING": srv.AdminConnectionString(),
		"SB_CONNECTION_STRING":       srv.ConnectionString(),
		"JSTEST_PREFIX":              "js-admin-" + randomSuffix(t),
		"JSTEST_CASES":               strings.Join(adminCases, ","),
	})
	reportCases(t, "admin.mjs", adminCases, out, runErr)
}
