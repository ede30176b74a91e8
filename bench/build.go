package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// buildBinaries builds the real handler and the no-op handler into dir.
// With profiling, the handler gets bench/testdata/handlerprof added through
// `go build -overlay`, so it writes CPU profiles on SIGUSR1/SIGUSR2 without
// a profiling flag in the app itself.
func buildBinaries(ctx context.Context, cfg *runConfig, dir string) error {
	cfg.handlerBin = filepath.Join(dir, "handler")
	cfg.noopBin = filepath.Join(dir, "noop")
	handlerArgs := []string{"build", "-o", cfg.handlerBin}
	if cfg.profileDir != "" {
		overlay := filepath.Join(dir, "overlay.json")
		b, _ := json.Marshal(map[string]any{"Replace": map[string]string{
			filepath.Join(cfg.root, "functions/cmd/handler/zz_benchprofile.go"): filepath.Join(cfg.root, "bench/testdata/handlerprof/profile.go"),
		}})
		if err := os.WriteFile(overlay, b, 0o644); err != nil {
			return err
		}
		handlerArgs = append(handlerArgs, "-overlay", overlay)
	}
	for _, args := range [][]string{
		append(handlerArgs, "./functions/cmd/handler"),
		{"build", "-o", cfg.noopBin, "./bench/testdata/noop"},
	} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = cfg.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %v: %w\n%s", args, err, out)
		}
	}
	return nil
}
