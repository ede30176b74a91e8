package servicebus

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files of a generated certificate in Config.CertDir.
const (
	// CACertFile is the certificate authority clients trust (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS,
	// the Python SDK's connection_verify, or the system store).
	CACertFile = "ca.crt"
	// ServerCertFile is the server certificate followed by the CA certificate.
	ServerCertFile = "server.crt"
	// ServerKeyFile is the server's private key (mode 0600).
	ServerKeyFile = "server.key"
	// certLockFile is held while a certificate is generated, so emulators starting together on one
	// CertDir do not interleave their files.
	certLockFile = ".lock"
)

// Lifetimes of a generated certificate: it is replaced (with a new CA) when less than
// certRenewBefore of it is left.
const (
	certLifetime    = 2 * 365 * 24 * time.Hour
	certRenewBefore = 30 * 24 * time.Hour
)

// DefaultCertDir is the CertDir of the standalone emulator and the local host:
// $XDG_CONFIG_HOME/orderflow/sbemulator (or the platform's equivalent), where a generated
// certificate survives restarts; "" (a new certificate per start) without a config directory.
func DefaultCertDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "orderflow", "sbemulator")
}

// tlsCert is the certificate the TLS listeners serve.
type tlsCert struct {
	cert tls.Certificate
	// caPEM is the CA of a generated certificate; nil for a certificate the user provides.
	caPEM []byte
}

// loadOrGenerateCert returns the user's certificate (CertFile/KeyFile), the one generated earlier
// in CertDir while it is valid, or a new one (written to CertDir when set).
func loadOrGenerateCert(cfg Config, now time.Time) (*tlsCert, error) {
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, fmt.Errorf("%w: CertFile and KeyFile go together", ErrTLSConfig)
		}
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: loading %s and %s: %w", ErrTLSConfig, cfg.CertFile, cfg.KeyFile, err)
		}
		return &tlsCert{cert: cert}, nil
	}
	if cfg.CertDir == "" {
		caPEM, certPEM, keyPEM, err := generateCert(now)
		if err != nil {
			return nil, err
		}
		return newTLSCert(caPEM, certPEM, keyPEM)
	}
	if c, err := loadGenerated(cfg.CertDir, now); err == nil {
		return c, nil
	}
	unlock, err := lockCertDir(cfg.CertDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another emulator may have written a certificate while this one waited for the lock.
	if c, err := loadGenerated(cfg.CertDir, now); err == nil {
		return c, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		cfg.Logger.Info("replacing the generated TLS certificate", "dir", cfg.CertDir, "reason", err)
	}
	caPEM, certPEM, keyPEM, err := generateCert(now)
	if err != nil {
		return nil, err
	}
	if err := writeGenerated(cfg.CertDir, caPEM, certPEM, keyPEM); err != nil {
		return nil, err
	}
	cfg.Logger.Info("generated a TLS certificate for localhost; trust its CA", "ca", filepath.Join(cfg.CertDir, CACertFile))
	return newTLSCert(caPEM, certPEM, keyPEM)
}

// newTLSCert pairs a generated certificate with its CA.
func newTLSCert(caPEM, certPEM, keyPEM []byte) (*tlsCert, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: using the generated certificate: %w", ErrTLSConfig, err)
	}
	return &tlsCert{cert: cert, caPEM: caPEM}, nil
}

// Bounds of the CertDir lock: a lock older than certLockStale was left by a crashed start and is
// taken over; a start waits at most certLockWait for a live one.
const (
	certLockStale = 30 * time.Second
	certLockWait  = 10 * time.Second
)

// lockCertDir creates CertDir and takes its lock file (created exclusively); unlock removes it.
func lockCertDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: creating %s: %w", ErrTLSConfig, dir, err)
	}
	path := filepath.Join(dir, certLockFile)
	deadline := time.Now().Add(certLockWait)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			_ = f.Close()
			return func() { _ = os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: locking %s: %w", ErrTLSConfig, dir, err)
		}
		if fi, serr := os.Stat(path); serr == nil && time.Since(fi.ModTime()) > certLockStale {
			_ = os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s is locked by another start (remove %s if none is running)", ErrTLSConfig, dir, path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// loadGenerated reads a certificate generated earlier; it fails when one is missing, unreadable
// or due for renewal.
func loadGenerated(dir string, now time.Time) (*tlsCert, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile))
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil || now.Add(certRenewBefore).After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("certificate in %s expires soon", dir)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s", CACertFile)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: pool, CurrentTime: now}); err != nil {
		return nil, fmt.Errorf("%s does not verify with %s: %w", ServerCertFile, CACertFile, err)
	}
	return &tlsCert{cert: cert, caPEM: caPEM}, nil
}

// generateCert makes a CA and a server certificate for localhost, 127.0.0.1 and ::1. The CA is
// name-constrained to those names and its key is discarded once the server certificate is
// signed, so trusting it (even in the system store) cannot vouch for any other site.
func generateCert(now time.Time) (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generating the CA key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generating the server key: %w", err)
	}
	notBefore, notAfter := now.Add(-time.Hour), now.Add(certLifetime)
	ca := &x509.Certificate{
		SerialNumber:                serial(),
		Subject:                     pkix.Name{Organization: []string{"orderflow"}, CommonName: "Service Bus emulator local CA " + now.UTC().Format(time.DateOnly)},
		NotBefore:                   notBefore,
		NotAfter:                    notAfter,
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLenZero:              true,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         []string{"localhost"},
		PermittedIPRanges: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating the CA certificate: %w", err)
	}
	ca, err = x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parsing the CA certificate: %w", err)
	}
	leaf := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"orderflow"}, CommonName: "localhost"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating the server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encoding the server key: %w", err)
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	certPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), caPEM...)
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return caPEM, certPEM, keyPEM, nil
}

// serial is a random 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // crypto/rand does not fail on supported platforms
	}
	return n
}

// writeGenerated stores a generated certificate; the key is written last (and each file
// atomically), so a crash leaves either the old set or one that fails to load and is replaced.
func writeGenerated(dir string, caPEM, certPEM, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: creating %s: %w", ErrTLSConfig, dir, err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{CACertFile, caPEM, 0o644}, {ServerCertFile, certPEM, 0o644}, {ServerKeyFile, keyPEM, 0o600}} {
		tmp, err := os.CreateTemp(dir, f.name+".*")
		if err != nil {
			return fmt.Errorf("%w: writing %s: %w", ErrTLSConfig, f.name, err)
		}
		_, werr := tmp.Write(f.data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), f.mode)); err != nil {
			_ = os.Remove(tmp.Name())
			return fmt.Errorf("%w: writing %s: %w", ErrTLSConfig, f.name, err)
		}
		if err := os.Rename(tmp.Name(), filepath.Join(dir, f.name)); err != nil {
			_ = os.Remove(tmp.Name())
			return fmt.Errorf("%w: writing %s: %w", ErrTLSConfig, f.name, err)
		}
	}
	return nil
}

// serverTLSConfig is the configuration of both TLS listeners.
func (c *tlsCert) serverTLSConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{c.cert},
		NextProtos:   nextProtos,
	}
}

// CACertPEM is the PEM certificate of the CA that signed a generated TLS certificate (also in
// CertDir/ca.crt when CertDir is set); nil when TLS is off or the certificate is the user's.
func (s *Server) CACertPEM() []byte {
	if s.tls == nil {
		return nil
	}
	return bytes.Clone(s.tls.caPEM)
}

// ClientTLSConfig is a client configuration that trusts the generated CA, for Go clients such as
// azservicebus.ClientOptions.TLSConfig; nil when TLS is off or the certificate is the user's.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.tls == nil || s.tls.caPEM == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.tls.caPEM)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
