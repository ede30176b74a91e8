package servicebus

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestGeneratedCertificateLifecycle: a generated certificate is reused while valid, replaced (with
// a new CA) when it nears expiry or its files are damaged, and never reused when incomplete.
func TestGeneratedCertificateLifecycle(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "certs")
	cfg := Config{CertDir: dir, Logger: slog.New(slog.DiscardHandler)}
	now := time.Now()
	load := func(at time.Time) []byte {
		t.Helper()
		c, err := loadOrGenerateCert(cfg, at)
		if err != nil {
			t.Fatalf("loadOrGenerateCert: %v", err)
		}
		onDisk, err := os.ReadFile(filepath.Join(dir, CACertFile))
		if err != nil || !bytes.Equal(onDisk, c.caPEM) {
			t.Fatalf("ca.crt on disk differs from the CA in use (%v)", err)
		}
		return c.caPEM
	}
	first := load(now)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("certificate directory: %v, mode %v, want 0700", err, fi.Mode())
	}
	if again := load(now.Add(24 * time.Hour)); !bytes.Equal(again, first) {
		t.Fatal("a valid certificate was replaced")
	}
	renewed := load(now.Add(certLifetime - certRenewBefore/2))
	if bytes.Equal(renewed, first) {
		t.Fatal("a certificate near its expiry was kept")
	}
	if err := os.WriteFile(filepath.Join(dir, ServerKeyFile), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if repaired := load(now); bytes.Equal(repaired, renewed) {
		t.Fatal("a certificate with a damaged key was kept")
	}
	if err := os.Remove(filepath.Join(dir, CACertFile)); err != nil {
		t.Fatal(err)
	}
	load(now)
	if _, err := loadGenerated(dir, now); err != nil {
		t.Fatalf("after regeneration: %v", err)
	}
	if _, err := loadGenerated(t.TempDir(), now); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty directory: %v, want ErrNotExist", err)
	}
}
