package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/internal/testkit"
)

// TestMain lets a test start this binary as the real handler process: the
// test binary re-executes itself with ORDERS_HANDLER_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("ORDERS_HANDLER_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// process is the handler running as a child of this test binary (see TestMain).
type process struct {
	base           string
	cmd            *exec.Cmd
	stdout, stderr *testkit.Buffer
}

// startProcess starts the handler listening on port with environment env, kills it when the test
// ends if it is still running, and waits up to wait for it to answer GET /.
func startProcess(t *testing.T, port string, env []string, wait time.Duration) process {
	t.Helper()
	p := process{base: "http://127.0.0.1:" + port, stdout: &testkit.Buffer{}, stderr: &testkit.Buffer{}}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(env, "ORDERS_HANDLER_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	testkit.Eventually(t, wait, func() error {
		if p.cmd.ProcessState != nil {
			t.Fatalf("handler exited before answering GET /\nstdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		}
		res, err := http.Get(p.base + "/")
		if err != nil {
			return fmt.Errorf("handler never answered GET /: %w\nstdout:\n%s\nstderr:\n%s", err, p.stdout, p.stderr)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("handler answered GET / with %d\nstdout:\n%s\nstderr:\n%s", res.StatusCode, p.stdout, p.stderr)
		}
		return nil
	})
	return p
}

// terminate sends SIGTERM as the Functions host does on shutdown and fails the test unless the
// handler exits cleanly within 15 s.
func (p process) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", err, p.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("handler did not stop after SIGTERM")
	}
}

// setup starts the handler like the Functions host does: port in portVar,
// settings in the environment. The database is a fresh one that the handler
// must create itself; the broker is unreachable on purpose so the shared
// RabbitMQ is left alone.
func setup(t *testing.T, portVar string) process {
	t.Helper()
	port := freePort(t)
	db := "orderflow_main_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
		if err != nil {
			t.Logf("dropping %s: %v", db, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			t.Logf("dropping %s: %v", db, err)
		}
	})
	return startProcess(t, port, append(os.Environ(),
		portVar+"="+port,
		"DATABASE_URL=postgres://postgres@127.0.0.1:5432/"+db+"?sslmode=disable",
		"BROKER=rabbitmq",
		"RabbitMQConnection=amqp://guest:guest@127.0.0.1:1/",
	), 30*time.Second)
}

func TestHandlerProcess(t *testing.T) {
	t.Parallel()
	for _, portVar := range []string{"FUNCTIONS_CUSTOMHANDLER_PORT", "FUNCTIONS_HTTPWORKER_PORT"} {
		t.Run(portVar, func(t *testing.T) {
			t.Parallel()
			b := setup(t, portVar)
			res, err := http.Get(b.base + "/api/products")
			if err != nil {
				t.Fatal(err)
			}
			var list struct {
				Products []json.RawMessage `json:"products"`
			}
			err = json.NewDecoder(res.Body).Decode(&list)
			res.Body.Close()
			if err != nil || res.StatusCode != 200 || len(list.Products) != 5 {
				t.Fatalf("products: %d %v %d", res.StatusCode, err, len(list.Products))
			}
			res, err = http.Get(b.base + "/api/health")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("health with unreachable broker: %d", res.StatusCode)
			}
			b.terminate(t)
			// Warnings and errors go to stderr (the host logs them as such),
			// routine lines to stdout.
			if !strings.Contains(b.stderr.String(), "broker not reachable at start") || strings.Contains(b.stdout.String(), "level=WARN") ||
				!strings.Contains(b.stdout.String(), "applied migration") {
				t.Fatalf("log routing wrong\nstdout:\n%s\nstderr:\n%s", b.stdout, b.stderr)
			}
		})
	}
}

// TestServerHasTimeouts is issue 13 point 1: the handler's server bounds
// header and body reads and idle connections.
func TestServerHasTimeouts(t *testing.T) {
	t.Parallel()
	s := newServer(http.NotFoundHandler(), nil)
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("ReadHeaderTimeout %s ReadTimeout %s IdleTimeout %s MaxHeaderBytes %d", s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout, s.MaxHeaderBytes)
	}
}

// TestRoutePrefixFollowsAppRoot is issue 13 point 5: the prefix comes from
// the host.json of the app root the host passes.
func TestRoutePrefixFollowsAppRoot(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "host.json"), []byte(`{"extensions":{"http":{"routePrefix":""}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FUNCTIONS_APP_ROOT_PATH", dir)
	if got := routePrefix(slog.New(slog.DiscardHandler)); got != "/" {
		t.Fatalf("empty routePrefix: got %q, want \"/\"", got)
	}
	t.Setenv("FUNCTIONS_APP_ROOT_PATH", t.TempDir())
	if got := routePrefix(slog.New(slog.DiscardHandler)); got != "api" {
		t.Fatalf("no host.json: got %q, want api", got)
	}
}
