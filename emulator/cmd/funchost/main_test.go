package main

import (
	"bufio"
	"context"
	"encoding/json"
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
)

// setup builds funchost and the test handler and writes a one-function app.
func setup(t *testing.T) (bin, appDir string) {
	t.Helper()
	dir := t.TempDir()
	bin = filepath.Join(dir, "funchost")
	handler := filepath.Join(dir, "testhandler")
	for out, pkg := range map[string]string{bin: ".", handler: "../../funchost/testdata/testhandler"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	appDir = filepath.Join(dir, "app")
	files := map[string]any{
		"host.json":           map[string]any{"version": "2.0", "customHandler": map[string]any{"description": map[string]any{"defaultExecutablePath": handler}}},
		"Ping/function.json":  map[string]any{"bindings": []map[string]any{{"type": "httpTrigger", "direction": "in", "name": "req", "route": "ping", "methods": []string{"get"}}, {"type": "http", "direction": "out", "name": "res"}}},
		"local.settings.json": map[string]any{"Values": map[string]string{"FUNCTIONS_WORKER_RUNTIME": "custom"}},
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
	bin, appDir := setup(t)
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
