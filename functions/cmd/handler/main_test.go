package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
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

type bundle struct {
	base           string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
}

// setup starts the handler like the Functions host does: port in portVar,
// settings in the environment. The database is a fresh one that the handler
// must create itself; the broker is unreachable on purpose so the shared
// RabbitMQ is left alone.
func setup(t *testing.T, portVar string) bundle {
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
	b := bundle{base: "http://127.0.0.1:" + port, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	b.cmd = exec.Command(os.Args[0], "-test.run=^$")
	b.cmd.Env = append(os.Environ(),
		"ORDERS_HANDLER_MAIN=1",
		portVar+"="+port,
		"DATABASE_URL=postgres://postgres@127.0.0.1:5432/"+db+"?sslmode=disable",
		"BROKER=rabbitmq",
		"RabbitMQConnection=amqp://guest:guest@127.0.0.1:1/",
	)
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b.cmd.ProcessState == nil {
			_ = b.cmd.Process.Kill()
			_ = b.cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(b.base + "/")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler never answered GET /: %v\nstdout:\n%s\nstderr:\n%s", err, b.stdout, b.stderr)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return b
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
			if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- b.cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", err, b.stderr)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("handler did not stop after SIGTERM")
			}
			// Warnings and errors go to stderr (the host logs them as such),
			// routine lines to stdout.
			if !strings.Contains(b.stderr.String(), "broker not reachable at start") || strings.Contains(b.stdout.String(), "level=WARN") ||
				!strings.Contains(b.stdout.String(), "applied migration") {
				t.Fatalf("log routing wrong\nstdout:\n%s\nstderr:\n%s", b.stdout, b.stderr)
			}
		})
	}
}
