package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// setup builds the binary into a temporary directory.
func setup(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sbemulator")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	bin := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-amqp-port", "0", "-http-port", "0", "-amqps-port", "-1", "-https-port", "-1", "-log-level", "debug")
	cmd.Env = append(cmd.Environ(), "EMULATOR_CONFIG=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the connection string: %v", err)
	}
	endpoint, ok := strings.CutPrefix(strings.SplitN(line, ";", 2)[0], "Endpoint=sb://")
	if !ok || !strings.Contains(line, "UseDevelopmentEmulator=true;") {
		t.Fatalf("unexpected first line %q", line)
	}
	nc, err := net.Dial("tcp", endpoint)
	if err != nil {
		t.Fatalf("dialing %s: %v", endpoint, err)
	}
	_ = nc.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// startBinary runs bin with args (ports 0, no environment defaults) until the test ends and
// returns the AMQP connection string it prints first.
func startBinary(t *testing.T, ctx context.Context, bin string, args ...string) string {
	t.Helper()
	cmd, connStr := launch(t, ctx, nil, bin, args...)
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	return connStr
}

// launch starts bin with args (ports 0, no environment defaults, its log to stderr if not nil)
// and returns the process and the AMQP connection string it prints first; stopping it is the
// caller's.
func launch(t *testing.T, ctx context.Context, stderr io.Writer, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	// TLS off unless args turn it on (later flags win): no fixed ports, no certificate in $HOME.
	cmd := exec.CommandContext(ctx, bin, append([]string{"-amqp-port", "0", "-http-port", "0", "-amqps-port", "-1", "-https-port", "-1"}, args...)...)
	cmd.Stderr = stderr
	cmd.Env = append(cmd.Environ(), "EMULATOR_CONFIG=", "EMULATOR_AUTH_CONFIG=", "EMULATOR_CERT_DIR="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("reading the connection string: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

// buildClient builds testdata/client, a separate program that knows only azservicebus.
func buildClient(t *testing.T, dir string) string {
	t.Helper()
	client := filepath.Join(dir, "client")
	if out, err := exec.Command("go", "build", "-o", client, "./testdata/client").CombinedOutput(); err != nil {
		t.Fatalf("go build client: %v\n%s", err, out)
	}
	return client
}

func TestEnvInt(t *testing.T) {
	t.Parallel()
	env := map[string]string{"EMULATOR_AMQP_PORT": "6001", "EMULATOR_HTTP_PORT": "x"}
	getenv := func(k string) string { return env[k] }
	if got := envInt(getenv, "EMULATOR_AMQP_PORT", 5673); got != 6001 {
		t.Fatalf("envInt = %d", got)
	}
	if got := envInt(getenv, "EMULATOR_HTTP_PORT", 5300); got != 5300 {
		t.Fatalf("envInt with a bad value = %d", got)
	}
}

// TestSeparateSDKProgramSendsAndReceives runs the standalone binary with a
// Config.json and drives it from a separate program (testdata/client) that
// knows nothing but azservicebus and the printed connection string.
func TestSeparateSDKProgramSendsAndReceives(t *testing.T) {
	t.Parallel()
	bin := setup(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "Config.json")
	err := os.WriteFile(config, []byte(`{
  // a queue for the client program
  "UserConfig": {"Namespaces": [{"Name": "sbemulatorns", "Queues": [{"Name": "demo", "Properties": {"MaxDeliveryCount": 3}}], "Topics": []}],
                 "Logging": {"Type": "Console"}}
}`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	client := buildClient(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := startBinary(t, ctx, bin, "-config", config)
	out, err := exec.CommandContext(ctx, client, "-conn", conn, "-queue", "demo", "-body", "order #7").CombinedOutput()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	if want := `received "order #7" (delivery count 1, sequence number 1)`; strings.TrimSpace(string(out)) != want {
		t.Fatalf("client printed %q, want %q", out, want)
	}
}

// TestAuthFileNextToConfig starts the binary with an Auth.json next to the Config.json: a bad file
// stops the start with its problem, a good one adds a policy the client program can use.
func TestAuthFileNextToConfig(t *testing.T) {
	t.Parallel()
	bin := setup(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "Config.json")
	authFile := filepath.Join(dir, "Auth.json")
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(config, `{"UserConfig": {"Namespaces": [{"Name": "sbemulatorns", "Queues": [{"Name": "demo", "Properties": {}}], "Topics": []}],
		"Logging": {"Type": "Console"}}}`)
	write(authFile, `{"SharedAccessPolicies": [{"Name": "app", "PrimaryKey": "k", "Rights": ["Manage"]}]}`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-config", config, "-amqp-port", "0", "-http-port", "0", "-amqps-port", "-1", "-https-port", "-1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Auth.json") || !strings.Contains(string(out), "Manage requires Send and Listen") {
		t.Fatalf("bad Auth.json: exit %v, output %q", err, out)
	}

	write(authFile, `{"SharedAccessPolicies": [{"Name": "app", "PrimaryKey": "app-key", "Rights": ["Send", "Listen"], "Entity": "demo"}]}`)
	client := buildClient(t, dir)
	line := startBinary(t, ctx, bin, "-config", config)
	conn := strings.NewReplacer("SharedAccessKeyName=RootManageSharedAccessKey", "SharedAccessKeyName=app",
		"SharedAccessKey=SAS_KEY_VALUE", "SharedAccessKey=app-key").Replace(line)
	out, err = exec.CommandContext(ctx, client, "-conn", conn, "-queue", "demo", "-body", "with app").CombinedOutput()
	if err != nil {
		t.Fatalf("client with the entity policy: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `received "with app"`) {
		t.Fatalf("client printed %q", out)
	}
}

// TestAllowAnonymousFlag: by default a client without SASL gets the SASL header back (and the
// socket closes); with -allow-anonymous it gets the AMQP header, as before authorization existed.
func TestAllowAnonymousFlag(t *testing.T) {
	t.Parallel()
	bin := setup(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "AMQP\x03\x01\x00\x00"},
		{[]string{"-allow-anonymous"}, "AMQP\x00\x01\x00\x00"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		line := startBinary(t, ctx, bin, c.args...)
		endpoint, _ := strings.CutPrefix(strings.SplitN(line, ";", 2)[0], "Endpoint=sb://")
		nc, err := net.Dial("tcp", endpoint)
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write([]byte("AMQP\x00\x01\x00\x00")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 8)
		if _, err := io.ReadFull(nc, got); err != nil {
			t.Fatal(err)
		}
		_ = nc.Close()
		if string(got) != c.want {
			t.Errorf("flags %v: header % x, want % x", c.args, got, c.want)
		}
	}
}

// freePort is a port free a moment ago, for a flag that cannot say "any port" and report it.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestAMQPSFlags: -amqps-port with -cert-dir serves AMQP over TLS with a certificate generated into
// the directory, which a client trusting its ca.crt accepts for localhost.
func TestAMQPSFlags(t *testing.T) {
	t.Parallel()
	bin := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	certDir := filepath.Join(t.TempDir(), "tls")
	port := freePort(t)
	startBinary(t, ctx, bin, "-amqps-port", port, "-cert-dir", certDir)
	ca, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		t.Fatalf("the generated CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("ca.crt holds no certificate")
	}
	conn, err := tls.Dial("tcp", "localhost:"+port, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS to -amqps-port: %v", err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("AMQP\x03\x01\x00\x00")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8)
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != "AMQP\x03\x01\x00\x00" {
		t.Fatalf("SASL header over TLS: %q, %v", got, err)
	}
}

// TestSeparateProgramOverTLS: the client program connects to -amqps-port with a Service Bus
// connection string (Endpoint=sb://localhost/, no UseDevelopmentEmulator) and trusts the generated
// CA through SSL_CERT_FILE alone. The free port goes in CustomEndpoint: with a port in the
// Endpoint, the Go SDK checks the certificate for "localhost:PORT".
func TestSeparateProgramOverTLS(t *testing.T) {
	t.Parallel()
	bin := setup(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "Config.json")
	err := os.WriteFile(config, []byte(`{"UserConfig": {"Namespaces": [{"Name": "sbemulatorns",
		"Queues": [{"Name": "demo", "Properties": {}}], "Topics": []}], "Logging": {"Type": "Console"}}}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	client := buildClient(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	certDir := filepath.Join(dir, "tls")
	port := freePort(t)
	startBinary(t, ctx, bin, "-config", config, "-amqps-port", port, "-cert-dir", certDir)
	conn := "Endpoint=sb://localhost/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE"
	cmd := exec.CommandContext(ctx, client, "-conn", conn, "-custom-endpoint", "localhost:"+port, "-queue", "demo", "-body", "over TLS")
	cmd.Env = append(cmd.Environ(), "SSL_CERT_FILE="+filepath.Join(certDir, "ca.crt"), "SSL_CERT_DIR=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client over TLS: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `received "over TLS"`) {
		t.Fatalf("client printed %q", out)
	}
}
