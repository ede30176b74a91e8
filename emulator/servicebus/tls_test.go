package servicebus

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
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

// TestGeneratedCertificateSharedDir: emulators starting together on one CertDir (the standalone
// emulator and the local host share the default) end up serving one CA, the one on disk.
func TestGeneratedCertificateSharedDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := Config{CertDir: dir, Logger: slog.New(slog.DiscardHandler)}
	const n = 8
	cas := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := loadOrGenerateCert(cfg, time.Now())
			if err == nil {
				cas[i] = c.caPEM
			}
			errs[i] = err
		})
	}
	wg.Wait()
	onDisk, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		if !bytes.Equal(cas[i], onDisk) {
			t.Fatalf("start %d serves a CA other than ca.crt", i)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, certLockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock file left behind: %v", err)
	}
}

// TestStaleCertLockIsTakenOver: a lock left by a start that crashed does not block later starts.
func TestStaleCertLockIsTakenOver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lock := filepath.Join(dir, certLockFile)
	if err := os.WriteFile(lock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * certLockStale)
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrGenerateCert(Config{CertDir: dir, Logger: slog.New(slog.DiscardHandler)}, time.Now()); err != nil {
		t.Fatalf("with a stale lock: %v", err)
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale lock still there: %v", err)
	}
}
