package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/functions/apptest"
	"github.com/orderflow/orderflow/functions/apptest/stage"
)

// lambdaRunFlags are the Makefile's LAMBDA_RUN_FLAGS (checked below), the
// settings make run TARGET=lambda replaces in the template.
var lambdaRunFlags = []string{"-set", "BROKER=rabbitmq", "-set", "RABBITMQ_QUEUE_TYPE=quorum", "-set", "POSTGRES_AUTH=password",
	"-set", "POSTGRES_HOST=", "-set", "POSTGRES_DATABASE=", "-set", "POSTGRES_USER=", "-set", "RABBITMQ_SECRET_ARN="}

// TestRunTargetLambdaPlacesTheREADMEOrder runs the local Lambda host
// command as make run TARGET=lambda does (same flags, the repository's
// template, a local.settings.json), then the README's curl: the order is
// created, reaches confirmed and its e-mail is sent.
func TestRunTargetLambdaPlacesTheREADMEOrder(t *testing.T) {
	t.Parallel()
	root, err := stage.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LAMBDA_RUN_FLAGS = ((?:.*\\\n)*.*)$`).FindSubmatch(mk)
	if m == nil || strings.Join(strings.Fields(strings.ReplaceAll(string(m[1]), "\\\n", " ")), " ") != strings.Join(lambdaRunFlags, " ") {
		t.Fatalf("the Makefile's LAMBDA_RUN_FLAGS changed; update lambdaRunFlags: %q", m)
	}
	// A private database, vhost and SMTP server; the in-process host is
	// replaced by the command.
	a := apptest.Start(t, apptest.RabbitMQ, apptest.Options{Target: apptest.Lambda})
	a.StopHost(t)

	bin := filepath.Join(t.TempDir(), "lambdahost")
	build := exec.Command("go", "build", "-o", bin, "./emulator/cmd/lambdahost")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the Lambda host: %v\n%s", err, out)
	}
	dir := t.TempDir()
	if err := stage.LocalSettings(dir, a.Settings); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	args := append([]string{"-template", filepath.Join(root, "infra/aws/template.yaml"), "-bootstrap", apptest.Bootstrap(t),
		"-settings", filepath.Join(dir, "local.settings.json"), "-port", fmt.Sprint(port), "-schedule-every", "10s", "-concurrency", "1"},
		lambdaRunFlags...)
	cmd := exec.Command(bin, args...)
	out := &apptest.Output{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("lambdahost output:\n%s", out)
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	a.WaitFor(t, "the function lines", 30*time.Second, func() (bool, string) {
		return strings.Contains(out.String(), "  Api: [POST] "+base+"/api/orders"), out.String()
	})

	// The README's curl.
	body := `{"customerName":"Ada Lovelace","customerEmail":"ada@example.com",
       "items":[{"productId":"a0000000-0000-4000-8000-000000000001","quantity":2}]}`
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/api/orders", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "demo-1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusCreated || !strings.HasPrefix(loc, "/api/orders/") {
		t.Fatalf("POST /api/orders: %d %s", res.StatusCode, raw)
	}
	a.WaitFor(t, "the order to be confirmed", time.Minute, func() (bool, string) {
		res, err := http.Get(base + loc)
		if err != nil {
			return false, err.Error()
		}
		defer res.Body.Close()
		var o struct{ Status string }
		_ = json.NewDecoder(res.Body).Decode(&o)
		return o.Status == "confirmed", o.Status
	})
	a.WaitFor(t, "the confirmation e-mail", time.Minute, func() (bool, string) {
		msgs := a.SMTP.Messages()
		return len(msgs) == 1, fmt.Sprintf("%d e-mails", len(msgs))
	})
}
