package funchost

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/testkit"
)

func hostAddr(a *testApp) string { return strings.TrimPrefix(a.host.URL(), "http://") }

// TestSlowBodyDoesNotRestartHandler is issue 13 point 1: a client that
// trickles its body must get 408 from the host without ever taking a handler
// slot, and the handler must not be restarted for it (proxying mode streamed
// the body to the handler under functionTimeout before).
func TestSlowBodyDoesNotRestartHandler(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{
		functions:     map[string]string{"Echo": fnEcho},
		customHandler: map[string]any{"enableProxyingHttpRequest": true},
		host:          map[string]any{"functionTimeout": "00:00:01"},
		cfg:           Config{BodyReadTimeout: 1500 * time.Millisecond},
	})
	c, err := net.Dial("tcp", hostAddr(a))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/echo/slow HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", hostAddr(a))
	// One byte every 200 ms: 100 bytes would take 20 s, far past both the
	// body deadline and functionTimeout.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response to the slow client: %v", err)
	}
	resp.Body.Close()
	c.Close()
	<-done
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("slow body: status %d, want 408", resp.StatusCode)
	}
	if strings.Contains(a.logs.String(), "restarting the handler") || strings.Count(a.logs.String(), "handler instance started") != 1 {
		t.Fatalf("the handler was restarted for a slow client:\n%s", a.logs)
	}
	if recs := a.records(t); len(recs) != 0 {
		t.Fatalf("the slow request reached the handler: %+v", recs[0])
	}
	// The handler still serves.
	resp2, body := a.do(t, http.MethodPost, "/api/echo/ok", strings.NewReader(`{}`), map[string]string{"Content-Type": "application/json"})
	if resp2.StatusCode != http.StatusCreated { // the test handler echoes with 201
		t.Fatalf("after the slow client: %d %s", resp2.StatusCode, body)
	}
}

// TestHostInitiatedRestartsCountTowardGivingUp is issue 13 point 1: a
// handler restarted for functionTimeout over and over is as broken as one
// that crashes, so those restarts count toward the 3 failures.
func TestHostInitiatedRestartsCountTowardGivingUp(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}, host: map[string]any{"functionTimeout": "00:00:01"}})
	for i := range 3 {
		resp, _ := a.do(t, http.MethodGet, "/api/ret?action=hang", nil, nil)
		if resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("hang %d: status %d", i, resp.StatusCode)
		}
		if i < 2 {
			a.waitLog(t, "handler instance ready", i+2)
		}
	}
	select {
	case <-a.host.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the host did not give up after 3 timeouts")
	}
}

// TestServersHaveTimeouts is issue 13 point 1: every server we run bounds
// header and body reads and idle connections.
func TestServersHaveTimeouts(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}})
	s := a.host.server
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("front server: ReadHeaderTimeout %s ReadTimeout %s IdleTimeout %s MaxHeaderBytes %d",
			s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout, s.MaxHeaderBytes)
	}
}

// TestForeignHostRefused is issue 13 point 2 (DNS rebinding): only loopback
// Host values are served unless Config.AllowedHosts lists more.
func TestForeignHostRefused(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn, "Tick": fnTick}})
	for host, want := range map[string]int{"evil.example": 403, "evil.example:7071": 403, "10.0.0.1": 403,
		"localhost:7071": 200, "127.0.0.1": 200, "[::1]:7071": 200, "app.localhost": 200} {
		code, body := testkit.RawHTTP(t, hostAddr(a), "GET /api/ret HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
		if code != want {
			t.Errorf("Host %s: status %d, want %d: %s", host, code, want, body)
		}
	}
	b := setup(t, appSpec{functions: map[string]string{"Ret": fnReturn}, cfg: Config{AllowedHosts: []string{"devbox.lan"}}})
	if code, body := testkit.RawHTTP(t, hostAddr(b), "GET /api/ret HTTP/1.1\r\nHost: DevBox.lan:7071\r\nConnection: close\r\n\r\n"); code != 200 {
		t.Errorf("configured host refused: %d %s", code, body)
	}
}

// TestAdminRefusesBrowserRequests is issue 13 point 2: a page the developer
// visits can send a "simple" cross-origin POST (text/plain, with Origin);
// the admin API must refuse it.
func TestAdminRefusesBrowserRequests(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{functions: map[string]string{"Tick": fnTick}})
	cases := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"text/plain with Origin", map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example"}, 403},
		{"json with Origin", map[string]string{"Content-Type": "application/json", "Origin": "http://localhost:7071"}, 403},
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, 415},
		{"form", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"no content type", map[string]string{}, 415},
		{"json", map[string]string{"Content-Type": "application/json; charset=utf-8"}, 202},
	}
	for _, c := range cases {
		resp, body := a.do(t, http.MethodPost, "/admin/functions/Tick", strings.NewReader(`{"input":"x"}`), c.hdr)
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d: %s", c.name, resp.StatusCode, c.want, body)
		}
	}
}

// TestKeyEqual is issue 13 point 3: keys are compared in constant time
// (crypto/subtle over fixed-length digests, so not even the length leaks).
func TestKeyEqual(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		want, got string
		ok        bool
	}{{"k", "k", true}, {"key", "kex", false}, {"key", "key2", false}, {"", "", false}, {"key", "", false}, {"", "key", false}} {
		if keyEqual(c.want, c.got) != c.ok {
			t.Errorf("keyEqual(%q, %q) != %v", c.want, c.got, c.ok)
		}
	}
}

// TestSlowReaderDoesNotRestartHandler is issue 13 point 1: in proxying mode
// a client that reads a streamed response slowly holds the invocation past
// functionTimeout; the time is the client's, so the handler is not
// restarted (before, the timeout restarted it, killing everything in flight).
func TestSlowReaderDoesNotRestartHandler(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{
		functions:     map[string]string{"Echo": fnEcho},
		customHandler: map[string]any{"enableProxyingHttpRequest": true},
		host:          map[string]any{"functionTimeout": "00:00:01"},
		cfg:           Config{BodyReadTimeout: 5 * time.Second},
	})
	c, err := net.Dial("tcp", hostAddr(a))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// 256 MB read 64 KB every 20 ms: the response takes far longer than
	// functionTimeout, nearly all of it waiting on us.
	fmt.Fprintf(c, "GET /api/echo/big?action=big&ms=256 HTTP/1.1\r\nHost: %s\r\n\r\n", hostAddr(a))
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(buf); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Close()
	a.waitLog(t, "Executed 'Functions.Echo' (Failed", 1)
	if strings.Contains(a.logs.String(), "restarting the handler") || strings.Count(a.logs.String(), "handler instance started") != 1 {
		t.Fatalf("the handler was restarted for a slow reader:\n%s", a.logs)
	}
}

// TestNoPlainKeyComparison is issue 13 point 3 as a regression guard: in
// the files that check keys (front.go, guard.go) no == or != between two
// non-literal operands names a key (the check was `v == key`); keys go
// through keyEqual. A timing measurement would be too flaky to run in CI.
func TestNoPlainKeyComparison(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	for _, name := range []string{"front.go", "guard.go"} {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			be, ok := n.(*ast.BinaryExpr)
			if !ok || (be.Op != token.EQL && be.Op != token.NEQ) {
				return true
			}
			if _, lit := be.X.(*ast.BasicLit); lit {
				return true
			}
			if _, lit := be.Y.(*ast.BasicLit); lit {
				return true
			}
			for _, side := range []ast.Expr{be.X, be.Y} {
				if id, ok := side.(*ast.Ident); ok && strings.Contains(strings.ToLower(id.Name), "key") {
					t.Errorf("%s: %s compared with %s; use keyEqual", fset.Position(be.Pos()), id.Name, be.Op)
				}
			}
			return true
		})
	}
}

// TestBufferedBodiesShareOneBudget: every body is read whole before its
// invocation (up to 100 MB each), so without a bound shared by all clients a
// few concurrent uploads could take the host's memory. A client holding most
// of the budget makes the next large body get 503; once it is gone, the same
// body goes through.
func TestBufferedBodiesShareOneBudget(t *testing.T) {
	t.Parallel()
	a := setup(t, appSpec{
		functions:     map[string]string{"Echo": fnEcho},
		customHandler: map[string]any{"enableProxyingHttpRequest": true},
		cfg:           Config{MaxBufferedBodyBytes: 1 << 20, BodyReadTimeout: 20 * time.Second},
	})
	// The holder announces 2 MB and sends 900 KB of it, then waits.
	c, err := net.Dial("tcp", hostAddr(a))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/echo/hold HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", hostAddr(a), 2<<20)
	if _, err := c.Write(bytes.Repeat([]byte("x"), 900<<10)); err != nil {
		t.Fatal(err)
	}
	// Wait until the holder's bytes are charged: then less than 128 KB is left.
	testkit.Eventually(t, 10*time.Second, func() error {
		if a.host.front.bodies.TryAcquire(128 << 10) {
			a.host.front.bodies.Release(128 << 10)
			return errors.New("the holder's 900 KB are not charged yet")
		}
		return nil
	})
	big := bytes.Repeat([]byte(" "), 300<<10)
	resp, body := a.do(t, http.MethodPost, "/api/echo/big", bytes.NewReader(append(big, "{}"...)), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d while another client holds 900 KB of a 1 MB budget, want 503", resp.StatusCode)
	}
	if resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "retry") {
		t.Fatalf("503 without Retry-After or reason: %v %s", resp.Header, body)
	}
	c.Close()
	testkit.Eventually(t, 10*time.Second, func() error {
		resp, body := a.do(t, http.MethodPost, "/api/echo/big", bytes.NewReader(append(big, "{}"...)), map[string]string{"Content-Type": "application/json"})
		if resp.StatusCode != http.StatusCreated { // the test handler echoes with 201
			return fmt.Errorf("after the holder left: %d %s", resp.StatusCode, body)
		}
		return nil
	})
}
