package jstest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus"
)

// TestJSCloseSettles runs closeloop.mjs: clients that send, receive, settle, schedule and get a
// refused attach, over plain AMQP and WebSockets, must each close within the script's limit.
// JSTEST_ITERATIONS (default 6) sets how many clients and JSTEST_WORKERS (default 1) how many
// at once; raise them to hunt for rare hangs.
func TestJSCloseSettles(t *testing.T) {
	t.Parallel()
	node, srv, certDir := startWebSocketEmulator(t)
	suffix := randomSuffix(t)
	iterations, workers := envCount(t, "JSTEST_ITERATIONS", 6), envCount(t, "JSTEST_WORKERS", 1)
	queue := "js-close-" + suffix // each worker has its own: <queue>-<worker>
	for w := range workers {
		if err := srv.CreateQueue(servicebus.QueueConfig{Name: queue + "-" + strconv.Itoa(w)}); err != nil {
			t.Fatal(err)
		}
	}
	_, port, _ := strings.Cut(srv.HTTPSAddr(), "127.0.0.1:")
	// An iteration takes well under a second; a hang is cut at 5 s by the script itself.
	out, err := runScriptFor(t, node, "closeloop.mjs", map[string]string{
		"SB_CONNECTION_STRING":    srv.ConnectionString(),
		"SB_WS_CONNECTION_STRING": "Endpoint=sb://localhost/;SharedAccessKeyName=" + servicebus.DefaultKeyName + ";SharedAccessKey=" + servicebus.DefaultKey,
		"SB_WSS_ENDPOINT":         "https://localhost:" + port,
		"SB_CA_FILE":              filepath.Join(certDir, servicebus.CACertFile),
		"SB_QUEUE":                queue,
		"SB_MISSING_QUEUE":        "js-close-missing-" + suffix,
		"JSTEST_ITERATIONS":       strconv.Itoa(iterations),
		"JSTEST_WORKERS":          strconv.Itoa(workers),
	}, scriptTimeout+time.Duration(iterations)*2*time.Second)
	if err != nil || !strings.Contains(out, "ok closeloop") {
		t.Fatalf("closeloop.mjs: %v\n%s", err, out)
	}
}

// envCount reads a positive count from the environment, or returns def when it is unset.
func envCount(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}
