package jstest

import (
	"context"
	"strings"
	"testing"
	"time"

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
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	srv, err := servicebus.Start(ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("starting emulator: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stopping emulator: %v", err)
		}
	})
	out, runErr := runScript(t, node, "admin.mjs", map[string]string{
		"SB_ADMIN_CONNECTION_STRING": srv.AdminConnectionString(),
		"SB_CONNECTION_STRING":       srv.ConnectionString(),
		"JSTEST_PREFIX":              "js-admin-" + randomSuffix(t),
		"JSTEST_CASES":               strings.Join(adminCases, ","),
	})
	reportCases(t, "admin.mjs", adminCases, out, runErr)
}
