package pytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus"
)

// installCmd installs the SDK on Debian.
const installCmd = "apt-get install -y python3-azure"

// scriptTimeout bounds one run of the script.
const scriptTimeout = 90 * time.Second

// cases are the script's cases; sessions needs a session-enabled queue, token-credential an
// emulator accepting unverified JWTs.
var cases = []string{"send-receive-complete", "abandon", "dead-letter", "receive-and-delete", "sessions", "token-credential"}

var (
	caseLine    = regexp.MustCompile(`^(ok|FAIL) ([a-z0-9-]+)(?:: (.*))?$`)
	summaryLine = regexp.MustCompile(`^(\d+) passed, (\d+) failed$`)
	seq         atomic.Int64
)

// python finds an interpreter with azure.servicebus: skips outside CI, fails under CI=true.
func python(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("SBEMULATOR_PYTHON")}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/python3")
	for _, p := range candidates {
		if p == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		err := exec.CommandContext(ctx, p, "-c", "import azure.servicebus, uamqp").Run()
		cancel()
		if err == nil {
			return p
		}
	}
	msg := "no python3 with azure.servicebus (Debian's python3-azure); install it with: " + installCmd
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestPythonConformance runs conformance.py over AMQPS and over WebSockets; each case of each
// transport is a subtest.
func TestPythonConformance(t *testing.T) {
	t.Parallel()
	py := python(t)
	certDir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	srv, err := servicebus.Start(ctx, servicebus.Config{
		AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", AMQPSAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", CertDir: certDir,
		AcceptUnverifiedJWT: true,
	})
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
	for transport, addr := range map[string]string{"amqps": srv.AMQPSAddr(), "websocket": srv.HTTPSAddr()} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatal(err)
			}
			entities := map[string]string{}
			for _, c := range cases {
				q := fmt.Sprintf("py-%s-%s-%d", transport, c, seq.Add(1))
				if err := srv.CreateQueue(servicebus.QueueConfig{Name: q, RequiresSession: c == "sessions"}); err != nil {
					t.Fatal(err)
				}
				entities[c] = q
			}
			out, runErr := run(t, py, transport, port, filepath.Join(certDir, servicebus.CACertFile), entities)
			report(t, out, runErr)
		})
	}
}

// run executes the script and returns its output and exit error.
func run(t *testing.T, py, transport, port, caFile string, entities map[string]string) (string, error) {
	t.Helper()
	ents, err := json.Marshal(entities)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "conformance.py")
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "SB_") }),
		// The plain form of a Service Bus connection string: no port, no UseDevelopmentEmulator.
		"SB_CONNECTION_STRING=Endpoint=sb://localhost/;SharedAccessKeyName="+servicebus.DefaultKeyName+";SharedAccessKey="+servicebus.DefaultKey,
		"SB_CA_FILE="+caFile, "SB_TRANSPORT="+transport, "SB_PORT="+port, "SB_ENTITIES="+string(ents),
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("script killed after %v: %w", scriptTimeout, ctx.Err())
	}
	return out.String(), err
}

// report turns the script's case lines into subtests and checks the summary and exit status.
func report(t *testing.T, out string, runErr error) {
	t.Helper()
	res := map[string]string{} // case -> "" (ok) or the failure reason
	passed, failed, summary := 0, 0, false
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		if m := caseLine.FindStringSubmatch(line); m != nil {
			if m[1] == "ok" {
				res[m[2]], passed = "", passed+1
			} else {
				res[m[2]], failed = "FAIL: "+m[3], failed+1
			}
		} else if m := summaryLine.FindStringSubmatch(line); m != nil {
			p, _ := strconv.Atoi(m[1])
			f, _ := strconv.Atoi(m[2])
			summary = p == passed && f == failed
		}
	}
	if !summary || (failed > 0) != (runErr != nil) {
		t.Errorf("summary and exit status (%v) do not match the case lines", runErr)
	}
	if failed > 0 || runErr != nil {
		t.Logf("conformance.py output:\n%s", out)
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			reason, ok := res[c]
			switch {
			case !ok:
				t.Error("the script did not report this case")
			case reason != "":
				t.Errorf("Python SDK: %s", reason)
			}
		})
	}
}
