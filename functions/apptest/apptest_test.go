package apptest_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/orderflow/orderflow/functions/apptest"
	"github.com/orderflow/orderflow/functions/apptest/stage"
)

func TestMain(m *testing.M) { apptest.Main(m) }

// setup returns the repository root.
func setup(t *testing.T) string {
	t.Helper()
	root, err := stage.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestStageLaysOutThePackage(t *testing.T) {
	t.Parallel()
	root := setup(t)
	dir := t.TempDir()
	if err := stage.App(root, dir, "/bin/true", "/bin/wrapper"); err != nil {
		t.Fatal(err)
	}
	hostJSON, err := os.ReadFile(filepath.Join(dir, "host.json"))
	if err != nil || !strings.Contains(string(hostJSON), `"defaultExecutablePath":"/bin/wrapper"`) {
		t.Errorf("host.json %s (%v), want the wrapper as executable", hostJSON, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "handler")); err != nil || target != "/bin/true" {
		t.Errorf("handler link %q (%v), want /bin/true", target, err)
	}
	for _, fn := range []string{"CreateOrder", "ProcessOrder", "SendEmailRabbitMQ", "OutboxRelay"} {
		if _, err := os.Stat(filepath.Join(dir, fn, "function.json")); err != nil {
			t.Errorf("%s/function.json: %v", fn, err)
		}
	}
}

func TestHostProcessServesAndCanBeKilled(t *testing.T) {
	t.Parallel()
	setup(t)
	a := apptest.Start(t, apptest.ServiceBus, apptest.Options{HostProcess: true, ConsumersOff: true})
	if a.Process == nil || a.Host != nil {
		t.Fatalf("Process %v, Host %v; want the host as a process only", a.Process, a.Host)
	}
	if id := a.PlaceOrder(t, "a0000000-0000-4000-8000-000000000005", 1); id == "" {
		t.Fatal("no order placed through the host process")
	}
	pid := a.HandlerPIDs()[0]
	if pid == 0 {
		t.Fatalf("no handler pid in the host's log:\n%s", a.Output.String())
	}
	if err := a.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(a.URL + "/api/health"); err == nil {
		t.Error("the killed host still answers")
	}
	// The orphaned handler is ours to end, as a crashed machine would.
	_ = syscall.Kill(pid, syscall.SIGKILL)

	a.StartHostProcess(t, 1)
	if id := a.PlaceOrder(t, "a0000000-0000-4000-8000-000000000005", 1); id == "" {
		t.Fatal("no order placed through the restarted host")
	}
	if n := a.Count(t, "SELECT count(*) FROM orders"); n != 2 {
		t.Errorf("%d orders, want 2", n)
	}
}
