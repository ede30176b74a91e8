package apptest

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/functions/apptest/stage"
)

// funchostBin is emulator/cmd/funchost, built on first use: only tests that
// run the host as a process pay for the build.
var funchostBin struct {
	once sync.Once
	path string
	err  error
}

func buildFunchost() (string, error) {
	funchostBin.once.Do(func() {
		out := filepath.Join(filepath.Dir(bins.handler), "funchost")
		cmd := exec.Command("go", "build", "-o", out, "./emulator/cmd/funchost")
		cmd.Dir = bins.root
		if b, err := cmd.CombinedOutput(); err != nil {
			funchostBin.err = fmt.Errorf("building emulator/cmd/funchost: %v\n%s", err, b)
			return
		}
		funchostBin.path = out
	})
	return funchostBin.path, funchostBin.err
}

// HostProcess is the local Functions host running as its own process, so
// that a test can crash it (SIGKILL) the way a real host process dies.
type HostProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartHostProcess starts (or restarts) the local Functions host as a
// separate process (emulator/cmd/funchost) on the App's folder, with the
// App's settings written to its local.settings.json, and waits until the
// HTTP front answers. It sets a.Process and a.URL.
func (a *App) StartHostProcess(t *testing.T, instances int) *HostProcess {
	t.Helper()
	bin, err := buildFunchost()
	if err != nil {
		t.Fatal(err)
	}
	if err := stage.LocalSettings(a.appDir, a.Settings); err != nil {
		t.Fatal(err)
	}
	if instances <= 0 {
		instances = 1
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-app-dir", a.appDir, "-port", strconv.Itoa(port), "-instances", strconv.Itoa(instances))
	cmd.Stdout, cmd.Stderr = a.Output, a.Output
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting funchost: %v", err)
	}
	p := &HostProcess{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("host and handler output:\n%s", a.Output.String())
		}
	})
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	a.WaitFor(t, "the host process to serve HTTP", time.Minute, func() (bool, string) {
		select {
		case <-p.exited:
			t.Fatalf("funchost exited during start: %v\n%s", cmd.ProcessState, a.Output.String())
		default:
		}
		resp, err := http.Get(url + "/api/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	})
	a.Process, a.URL = p, url
	return p
}

// Pid is the host process's id.
func (p *HostProcess) Pid() int { return p.cmd.Process.Pid }

// Kill SIGKILLs the host process and waits until it is gone. Its handler
// processes are not its children's process group and survive it; see
// App.HandlerPIDs.
func (p *HostProcess) Kill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing funchost: %w", err)
	}
	<-p.exited
	return nil
}

// stop ends the process gracefully (SIGTERM, then SIGKILL after 30 s).
func (p *HostProcess) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// handlerStarted matches the host's log line for a new handler process.
var handlerStarted = regexp.MustCompile(`msg="handler instance started" instance=(\d+) pid=(\d+)`)

// HandlerPIDs returns the process id of the newest handler process of each
// instance, as the host logged it ("handler instance started ... pid=N").
func (a *App) HandlerPIDs() map[int]int {
	out := map[int]int{}
	for _, line := range a.Output.Lines() {
		if m := handlerStarted.FindStringSubmatch(line); m != nil {
			i, _ := strconv.Atoi(m[1])
			pid, _ := strconv.Atoi(m[2])
			out[i] = pid
		}
	}
	return out
}

// WaitHandlerRestarted waits until instance has a handler process other
// than old and the host logged it ready.
func (a *App) WaitHandlerRestarted(t *testing.T, instance, old int, limit time.Duration) int {
	t.Helper()
	var pid int
	a.WaitFor(t, fmt.Sprintf("handler instance %d restarted", instance), limit, func() (bool, string) {
		pid = a.HandlerPIDs()[instance]
		return pid != old && pid != 0 && processAlive(pid), fmt.Sprintf("pid %d", pid)
	})
	return pid
}

// processAlive reports whether pid exists (signal 0).
func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
