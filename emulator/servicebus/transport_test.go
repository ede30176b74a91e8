package servicebus_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"
	"github.com/Azure/go-amqp"
	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/orderflow/orderflow/emulator/servicebus"
)

// plainConnString is a Service Bus connection string as the portal gives it: no port, no
// UseDevelopmentEmulator, so the SDK speaks TLS.
const plainConnString = "Endpoint=sb://localhost/;SharedAccessKeyName=" + servicebus.DefaultKeyName + ";SharedAccessKey=" + servicebus.DefaultKey

// startTLSServer starts an emulator with AMQPS and HTTPS on free ports and a certificate
// generated into a temporary CertDir.
func startTLSServer(t *testing.T, cfg servicebus.Config) (*servicebus.Server, context.Context) {
	t.Helper()
	cfg.AMQPSAddr, cfg.HTTPSAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "-"
	if cfg.CertDir == "" && cfg.CertFile == "" {
		cfg.CertDir = t.TempDir()
	}
	srv, ctx := startServer(t, cfg)
	stopAtCleanup(t, srv)
	return srv, ctx
}

// trustCA is a client TLS configuration that trusts the CA file, as a user would with SSL_CERT_FILE.
func trustCA(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("reading the CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// newQueueSender creates a queue and a sender for it, closed when the test ends.
func newQueueSender(t *testing.T, srv *servicebus.Server, client *azservicebus.Client) (string, *azservicebus.Sender) {
	t.Helper()
	q := uniqueName(t)
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: q}); err != nil {
		t.Fatal(err)
	}
	sender, err := client.NewSender(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sender.Close(context.Background()) })
	return q, sender
}

// roundTrip sends one message to a new queue and receives and completes it.
func roundTrip(t *testing.T, ctx context.Context, srv *servicebus.Server, client *azservicebus.Client) {
	t.Helper()
	q, sender := newQueueSender(t, srv, client)
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("over " + t.Name())}, nil); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	receiver, err := client.NewReceiverForQueue(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = receiver.Close(context.Background()) }()
	msgs := receiveN(t, ctx, receiver, 1)
	if got := string(msgs[0].Body); got != "over "+t.Name() {
		t.Fatalf("body %q", got)
	}
	if err := receiver.CompleteMessage(ctx, msgs[0], nil); err != nil {
		t.Fatalf("CompleteMessage: %v", err)
	}
}

func TestSDKOverTLSWithSASKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, ctx := startTLSServer(t, servicebus.Config{CertDir: dir})
	// The connection string names localhost without a port, as for Service Bus on 5671; the
	// test's free port goes in CustomEndpoint (a TCP proxy address, the audience stays localhost).
	client, err := azservicebus.NewClientFromConnectionString(plainConnString, &azservicebus.ClientOptions{
		TLSConfig:      trustCA(t, filepath.Join(dir, servicebus.CACertFile)),
		CustomEndpoint: "localhost:" + portOf(t, srv.AMQPSAddr()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	roundTrip(t, ctx, srv, client)
}

func TestSDKOverTLSRejectsUntrustedCertificate(t *testing.T) {
	t.Parallel()
	srv, ctx := startTLSServer(t, servicebus.Config{})
	client, err := azservicebus.NewClientFromConnectionString(plainConnString, &azservicebus.ClientOptions{
		CustomEndpoint: "localhost:" + portOf(t, srv.AMQPSAddr()),
		RetryOptions:   azservicebus.RetryOptions{MaxRetries: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	sender, err := client.NewSender("any", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("x")}, nil)
	// The SDK's connection-lost error does not unwrap to the x509 one; its text carries it.
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("SendMessage with the system roots: %v, want an unknown-authority error", err)
	}
}

// unsignedJWT is an azcore.TokenCredential handing out unsigned Entra-style tokens, standing in
// for azidentity (which cannot reach Entra from a test).
type unsignedJWT struct{}

func (unsignedJWT) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	exp := time.Now().Add(time.Hour)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"aud": "https://servicebus.azure.net", "exp": exp.Unix(), "scp": strings.Join(opts.Scopes, " "),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	return azcore.AccessToken{Token: tok, ExpiresOn: exp}, err
}

func TestSDKOverTLSWithTokenCredential(t *testing.T) {
	t.Parallel()
	for _, accept := range []bool{true, false} {
		srv, ctx := startTLSServer(t, servicebus.Config{AcceptUnverifiedJWT: accept})
		client, err := azservicebus.NewClient("localhost", unsignedJWT{}, &azservicebus.ClientOptions{
			TLSConfig:      srv.ClientTLSConfig(),
			CustomEndpoint: "localhost:" + portOf(t, srv.AMQPSAddr()),
			RetryOptions:   azservicebus.RetryOptions{MaxRetries: -1},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Close(context.Background()) })
		if accept {
			roundTrip(t, ctx, srv, client)
			continue
		}
		_, sender := newQueueSender(t, srv, client)
		err = sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("x")}, nil)
		if code := sbCode(err); err == nil || (code != azservicebus.CodeUnauthorizedAccess && !strings.Contains(err.Error(), "401")) {
			t.Fatalf("unsigned JWT without AcceptUnverifiedJWT: %v (code %q), want unauthorized", err, code)
		}
	}
}

// dialWebSocket is a NewWebSocketConn that connects to addr instead of the host the SDK names
// (localhost on 443), trusting tlsCfg.
func dialWebSocket(addr string, tlsCfg *tls.Config) func(context.Context, azservicebus.NewWebSocketConnArgs) (net.Conn, error) {
	return func(ctx context.Context, args azservicebus.NewWebSocketConnArgs) (net.Conn, error) {
		u := strings.Replace(args.Host, "wss://localhost/", "wss://"+addr+"/", 1)
		ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{
			Subprotocols: []string{"amqp"},
			HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}},
		})
		if err != nil {
			return nil, err
		}
		// The connection outlives ctx, which bounds only the dial.
		return websocket.NetConn(context.Background(), ws, websocket.MessageBinary), nil
	}
}

func TestSDKOverWebSocket(t *testing.T) {
	t.Parallel()
	srv, ctx := startTLSServer(t, servicebus.Config{})
	client, err := azservicebus.NewClientFromConnectionString(plainConnString, &azservicebus.ClientOptions{
		NewWebSocketConn: dialWebSocket("localhost:"+portOf(t, srv.HTTPSAddr()), srv.ClientTLSConfig()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	roundTrip(t, ctx, srv, client)
	if n := srv.ConnectionCount(); n != 1 {
		t.Fatalf("ConnectionCount %d over WebSockets, want 1", n)
	}
}

func TestWebSocketRefusals(t *testing.T) {
	t.Parallel()
	srv, ctx := startTLSServer(t, servicebus.Config{MaxFrameSize: 4096})
	base := "https://localhost:" + portOf(t, srv.HTTPSAddr())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: srv.ClientTLSConfig()}}
	t.Cleanup(hc.CloseIdleConnections)

	// Not an upgrade: a 4xx, never a 5xx.
	resp, err := hc.Get(base + servicebus.WebSocketPath)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("plain GET on the WebSocket path: %d, want 4xx", resp.StatusCode)
	}
	// The HTTP API is served on HTTPS too.
	resp, err = hc.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /health over HTTPS: %d", resp.StatusCode)
	}

	// Another subprotocol is closed with policy violation.
	wss := "wss://localhost:" + portOf(t, srv.HTTPSAddr()) + servicebus.WebSocketPath
	ws, _, err := websocket.Dial(ctx, wss, &websocket.DialOptions{Subprotocols: []string{"mqtt"}, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("subprotocol mqtt: %v, want close %d", err, websocket.StatusPolicyViolation)
	}

	// A frame above MaxFrameSize is refused by the frame reader before its body is read: the
	// WebSocket stream is not buffered whole.
	ws, _, err = websocket.Dial(ctx, wss, &websocket.DialOptions{Subprotocols: []string{"amqp"}, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	nc := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	defer func() { _ = nc.Close() }()
	if _, err := nc.Write([]byte("AMQP\x03\x01\x00\x00\x00\x10\x00\x00\x02\x01\x00\x00")); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(nc)
	if err != nil && !errors.Is(err, io.EOF) && websocket.CloseStatus(err) == -1 {
		t.Fatalf("oversized frame: %v", err)
	}
	if !bytes.HasPrefix(got, []byte("AMQP\x03\x01\x00\x00")) {
		t.Fatalf("oversized frame: read %q, want the SASL header then the end of the connection", got)
	}
	waitFor(t, ctx, func() bool { return srv.ConnectionCount() == 0 })
}

func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not met before the deadline")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestGeneratedCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startTLSServer(t, servicebus.Config{CertDir: dir})
	caPEM, err := os.ReadFile(filepath.Join(dir, servicebus.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(caPEM, srv.CACertPEM()) {
		t.Fatal("CACertPEM differs from ca.crt")
	}
	if fi, err := os.Stat(filepath.Join(dir, servicebus.ServerKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("server.key: %v, mode %v, want 0600", err, fi.Mode())
	}
	// The served certificate verifies for every loopback name, and the CA is constrained to them.
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		conn, err := tls.Dial("tcp", srv.AMQPSAddr(), &tls.Config{RootCAs: srv.ClientTLSConfig().RootCAs, ServerName: host, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatalf("TLS for %s: %v", host, err)
		}
		_ = conn.Close()
	}
	ca := conn509(t, caPEM)
	if !ca.PermittedDNSDomainsCritical || len(ca.PermittedDNSDomains) != 1 || ca.PermittedDNSDomains[0] != "localhost" || len(ca.PermittedIPRanges) != 2 {
		t.Fatalf("CA name constraints %v %v", ca.PermittedDNSDomains, ca.PermittedIPRanges)
	}

	// A restart with the same CertDir keeps the CA, so clients keep trusting it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	again, _ := startTLSServer(t, servicebus.Config{CertDir: dir})
	if !bytes.Equal(again.CACertPEM(), caPEM) {
		t.Fatal("restart generated a new CA")
	}
}

func conn509(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUserCertificate(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "users-own"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}

	_, err = servicebus.Start(t.Context(), servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", AMQPSAddr: "127.0.0.1:0", CertFile: certFile})
	if !errors.Is(err, servicebus.ErrTLSConfig) {
		t.Fatalf("Start with CertFile alone: %v, want ErrTLSConfig", err)
	}

	srv, ctx := startTLSServer(t, servicebus.Config{CertFile: certFile, KeyFile: keyFile})
	if srv.CACertPEM() != nil || srv.ClientTLSConfig() != nil {
		t.Fatal("a user certificate has no generated CA")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	conn, err := amqp.Dial(ctx, "amqps://"+srv.AMQPSAddr(), &amqp.ConnOptions{
		SASLType: amqp.SASLTypeAnonymous(), TLSConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12},
	})
	if err != nil {
		t.Fatalf("AMQPS with the user's certificate: %v", err)
	}
	_ = conn.Close()
}

// TestStopEndsTLSAndWebSocketConnections: Stop closes connections on both TLS listeners with
// amqp:connection:forced (a hijacked WebSocket is not closed by http.Server.Close) and returns in
// time.
func TestStopEndsTLSAndWebSocketConnections(t *testing.T) {
	t.Parallel()
	srv, ctx := startTLSServer(t, servicebus.Config{AllowAnonymous: true})
	conns := make([]*amqp.Conn, 0, 2)
	amqps, err := amqp.Dial(ctx, "amqps://localhost:"+portOf(t, srv.AMQPSAddr()), &amqp.ConnOptions{
		SASLType: amqp.SASLTypeAnonymous(), TLSConfig: srv.ClientTLSConfig(),
	})
	if err != nil {
		t.Fatalf("AMQPS: %v", err)
	}
	conns = append(conns, amqps)
	nc, err := dialWebSocket("localhost:"+portOf(t, srv.HTTPSAddr()), srv.ClientTLSConfig())(ctx, azservicebus.NewWebSocketConnArgs{Host: "wss://localhost/" + strings.TrimPrefix(servicebus.WebSocketPath, "/")})
	if err != nil {
		t.Fatalf("WebSocket: %v", err)
	}
	ws, err := amqp.NewConn(ctx, nc, &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatalf("AMQP over WebSocket: %v", err)
	}
	conns = append(conns, ws)
	waitFor(t, ctx, func() bool { return srv.ConnectionCount() == 2 })

	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := srv.Stop(stopCtx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for i, c := range conns {
		_, err := c.NewSession(ctx, nil)
		var connErr *amqp.ConnError
		if !errors.As(err, &connErr) || connErr.RemoteErr == nil || connErr.RemoteErr.Condition != amqp.ErrCondConnectionForced {
			t.Errorf("connection %d after Stop: %v, want closed with %s", i, err, amqp.ErrCondConnectionForced)
		}
	}
}

// TestPlainAMQPOnTLSPortIsRefused: a client without TLS on the AMQPS port gets no AMQP answer.
func TestPlainAMQPOnTLSPortIsRefused(t *testing.T) {
	t.Parallel()
	srv, _ := startTLSServer(t, servicebus.Config{})
	nc, err := net.Dial("tcp", srv.AMQPSAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = nc.Close() }()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write([]byte("AMQP\x03\x01\x00\x00")); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(nc)
	if bytes.Contains(got, []byte("AMQP")) {
		t.Fatalf("plain AMQP on the TLS port answered %q", got)
	}
}

// TestAdminClientOverHTTPS: the HTTPS listener serves the administration API too, so the Go admin
// client reaches it as it reaches Service Bus (https, no plain-HTTP transport), trusting the CA.
func TestAdminClientOverHTTPS(t *testing.T) {
	t.Parallel()
	srv, ctx := startTLSServer(t, servicebus.Config{})
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: srv.ClientTLSConfig()}}
	t.Cleanup(hc.CloseIdleConnections)
	conn := "Endpoint=sb://localhost:" + portOf(t, srv.HTTPSAddr()) + "/;SharedAccessKeyName=" + servicebus.DefaultKeyName + ";SharedAccessKey=" + servicebus.DefaultKey
	ac, err := admin.NewClientFromConnectionString(conn, &admin.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	q := uniqueName(t)
	if _, err := ac.CreateQueue(ctx, q, nil); err != nil {
		t.Fatalf("CreateQueue over HTTPS: %v", err)
	}
	got, err := ac.GetQueue(ctx, q, nil)
	if err != nil || got == nil || got.QueueName != q {
		t.Fatalf("GetQueue over HTTPS: %+v, %v", got, err)
	}
}

// TestWebSocketMessageLimit: a WebSocket message longer than 64 maximum-size frames ends the
// connection (with status 1009; go-amqp reports only its failed write), even when every frame in it is valid (here: empty keep-alive
// frames after a completed open).
func TestWebSocketMessageLimit(t *testing.T) {
	t.Parallel()
	srv, ctx := startTLSServer(t, servicebus.Config{AllowAnonymous: true, MaxFrameSize: 512})
	wss := "wss://localhost:" + portOf(t, srv.HTTPSAddr()) + servicebus.WebSocketPath
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: srv.ClientTLSConfig()}}
	t.Cleanup(hc.CloseIdleConnections)
	ws, _, err := websocket.Dial(ctx, wss, &websocket.DialOptions{Subprotocols: []string{"amqp"}, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := amqp.NewConn(ctx, websocket.NetConn(context.Background(), ws, websocket.MessageBinary), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatalf("AMQP over WebSocket: %v", err)
	}
	defer func() { _ = conn.Close() }()
	emptyFrame := []byte{0, 0, 0, 8, 2, 0, 0, 0}
	// Within the limit the keep-alives are harmless.
	if err := ws.Write(ctx, websocket.MessageBinary, bytes.Repeat(emptyFrame, 64*512/8)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.NewSession(ctx, nil); err != nil {
		t.Fatalf("session after a message at the limit: %v", err)
	}
	if err := ws.Write(ctx, websocket.MessageBinary, bytes.Repeat(emptyFrame, 64*512/8+1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Done():
	case <-ctx.Done():
		t.Fatal("the connection survived a message over the limit")
	}
	waitFor(t, ctx, func() bool { return srv.ConnectionCount() == 0 })
}
