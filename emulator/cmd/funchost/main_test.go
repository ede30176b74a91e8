package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/orderflow/orderflow/internal/testkit"
)

// Binaries built once per test binary by TestMain.
var funchostBin, handlerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "funchost-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	funchostBin, handlerBin = filepath.Join(dir, "funchost"), filepath.Join(dir, "testhandler")
	for out, pkg := range map[string]string{funchostBin: ".", handlerBin: "../../funchost/testdata/testhandler"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, b)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// setup writes a one-function app (an HTTP function "Ping" unless fn gives
// another function.json) with the extra local settings.
func setup(t *testing.T, fn map[string]any, values map[string]string) (bin, appDir string) {
	t.Helper()
	dir := t.TempDir()
	bin, handler := funchostBin, handlerBin
	appDir = filepath.Join(dir, "app")
	if fn == nil {
		fn = map[string]any{"bindings": []map[string]any{{"type": "httpTrigger", "direction": "in", "name": "req", "route": "ping", "methods": []string{"get"}}, {"type": "http", "direction": "out", "name": "res"}}}
	}
	vals := map[string]string{"FUNCTIONS_WORKER_RUNTIME": "custom", "TESTHANDLER_RECORD": filepath.Join(dir, "requests.jsonl")}
	for k, v := range values {
		vals[k] = v
	}
	files := map[string]any{
		"host.json":           map[string]any{"version": "2.0", "customHandler": map[string]any{"description": map[string]any{"defaultExecutablePath": handler}}},
		"Ping/function.json":  fn,
		"local.settings.json": map[string]any{"Values": vals},
	}
	for name, v := range files {
		p := filepath.Join(appDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return bin, appDir
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestServesAndStopsOnSIGINT(t *testing.T) {
	t.Parallel()
	bin, appDir := setup(t, nil, nil)
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-app-dir", appDir, "-port", strconv.Itoa(port), "-log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/api/ping"
	listed := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ping: [GET] http://127.0.0.1:"+strconv.Itoa(port)+"/api/ping") && !found {
				found = true
				listed <- true
			}
		}
		if !found {
			listed <- false
		}
	}()
	if !<-listed {
		t.Fatal("function list line not printed")
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/ping: %d", resp.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
}

func TestEmbeddedServiceBusEmulator(t *testing.T) {
	t.Parallel()
	fn := map[string]any{"bindings": []map[string]any{{"type": "serviceBusTrigger", "direction": "in", "name": "msg", "queueName": "jobs", "connection": "SB"}}}
	// Port 5672 is RabbitMQ's: the setting only works once funchost rewrites it.
	bin, appDir := setup(t, fn, map[string]string{"SB": "Endpoint=sb://127.0.0.1;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"})
	cfg := filepath.Join(appDir, "..", "Config.json")
	if err := os.WriteFile(cfg, []byte(`{"UserConfig":{"Namespaces":[{"Name":"sbemulatorns","Queues":[{"Name":"jobs","Properties":{"MaxDeliveryCount":3}}],"Topics":[]}],"Logging":{"Type":"File"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	sbPort := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-app-dir", appDir, "-port", strconv.Itoa(freePort(t)), "-servicebus-emulator", cfg, "-servicebus-emulator-port", strconv.Itoa(sbPort))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() }()
	conn := "Endpoint=sb://127.0.0.1:" + strconv.Itoa(sbPort) + ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
	client, err := azservicebus.NewClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	// The emulator starts with the host: sending works once it listens.
	testkit.Eventually(t, 20*time.Second, func() error {
		s, err := client.NewSender("jobs", nil)
		if err == nil {
			sendCtx, sc := context.WithTimeout(ctx, 2*time.Second)
			err = s.SendMessage(sendCtx, &azservicebus.Message{Body: []byte(`{"job":1}`)}, nil)
			sc()
			_ = s.Close(ctx)
		}
		if err != nil {
			return fmt.Errorf("embedded emulator not reachable on port %d: %w", sbPort, err)
		}
		return nil
	})
	record := filepath.Join(appDir, "..", "requests.jsonl")
	testkit.Eventually(t, 20*time.Second, func() error {
		b, err := os.ReadFile(record)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"path":"/Ping"`) {
			return errors.New("the serviceBusTrigger function was not invoked through the embedded emulator")
		}
		return nil
	})
}

// TestBrokenFunctionStopsWithOneLine is issue 13 point 8 at the command: a
// broken function.json ends the run at once with exit status 1 and one
// stderr line naming the file and the field.
func TestBrokenFunctionStopsWithOneLine(t *testing.T) {
	t.Parallel()
	bin, appDir := setup(t, map[string]any{"bindings": []map[string]any{{"type": "timerTrigger", "direction": "in", "name": "t", "schedule": "0 */5 * * *"}}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, bin, "-app-dir", appDir, "-port", strconv.Itoa(freePort(t)), "-log-level", "error")
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("run: %v, want exit status 1", err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "funchost: Ping/function.json: bindings[0].schedule: ") {
		t.Fatalf("stderr = %q, want one line naming Ping/function.json and bindings[0].schedule", stderr.String())
	}
}
