package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"
)

// profiled runs fn under CPU profiling when cfg.profileDir is set: this
// process (in-process host, emulator and SMTP sink) into
// <dir>/<name>-bench.pprof, and each handler process in pids (built with
// bench/testdata/handlerprof) into <dir>/<name>-handler.<pid>.pprof.
func profiled(cfg runConfig, name string, pids []int, fn func() error) error {
	if cfg.profileDir == "" {
		return fn()
	}
	f, err := os.Create(filepath.Join(cfg.profileDir, name+"-bench.pprof"))
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGUSR1)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("profiling: %w", err)
	}
	err = fn()
	pprof.StopCPUProfile()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGUSR2)
	}
	// Let the handlers flush their profiles before the app stops.
	time.Sleep(200 * time.Millisecond)
	if cerr := f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("writing the profile: %w", cerr)
	}
	return err
}

// profilePrefix is the BENCH_CPUPROFILE value for the handlers of app name.
func profilePrefix(cfg runConfig, name string) string {
	if cfg.profileDir == "" {
		return ""
	}
	return filepath.Join(cfg.profileDir, name+"-handler")
}

// loadProfile is where the load worker of pass name writes its CPU
// profile; "" without -cpuprofile.
func loadProfile(cfg runConfig, name string) string {
	if cfg.profileDir == "" {
		return ""
	}
	return filepath.Join(cfg.profileDir, name+"-load.pprof")
}
