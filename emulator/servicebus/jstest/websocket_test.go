package jstest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus"
)

// TestJSOverWebSocket runs websocket.mjs: the JavaScript SDK with webSocketOptions (the ws
// package) sends, receives and completes through wss://localhost:PORT/$servicebus/websocket,
// trusting the emulator's generated CA, with a connection string without UseDevelopmentEmulator.
func TestJSOverWebSocket(t *testing.T) {
	t.Parallel()
	node, srv, certDir := startWebSocketEmulator(t)
	queue := "js-websocket-" + randomSuffix(t)
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: queue}); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(srv.HTTPSAddr(), "127.0.0.1:")
	runCtx, runCancel := context.WithTimeout(t.Context(), scriptTimeout)
	defer runCancel()
	cmd := exec.CommandContext(runCtx, node, "websocket.mjs")
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "SB_") }),
		"SB_CONNECTION_STRING=Endpoint=sb://localhost/;SharedAccessKeyName="+servicebus.DefaultKeyName+";SharedAccessKey="+servicebus.DefaultKey,
		"SB_WSS_ENDPOINT=https://localhost:"+port,
		"SB_CA_FILE="+filepath.Join(certDir, servicebus.CACertFile),
		"SB_QUEUE="+queue,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "ok websocket") {
		t.Fatalf("websocket.mjs: %v\n%s", err, out.String())
	}
}
