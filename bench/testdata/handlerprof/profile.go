// This file is not part of any package in the tree: `make bench -cpuprofile`
// adds it to functions/cmd/handler with `go build -overlay`, so the real
// handler can be CPU-profiled without a profiling flag in its main. With
// BENCH_CPUPROFILE=prefix in the environment, SIGUSR1 starts a CPU profile
// written to prefix.<pid>.pprof and SIGUSR2 stops it and writes the
// allocation profile to prefix.<pid>.allocs.pprof.

package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	prefix := os.Getenv("BENCH_CPUPROFILE")
	if prefix == "" {
		return
	}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		var f *os.File
		for s := range sig {
			switch {
			case s == syscall.SIGUSR1 && f == nil:
				var err error
				if f, err = os.Create(fmt.Sprintf("%s.%d.pprof", prefix, os.Getpid())); err != nil {
					fmt.Fprintln(os.Stderr, "bench profile:", err)
					continue
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					fmt.Fprintln(os.Stderr, "bench profile:", err)
					f.Close()
					f = nil
				}
			case s == syscall.SIGUSR2 && f != nil:
				pprof.StopCPUProfile()
				f.Close()
				f = nil
				// The allocations since the process started (warm-up
				// included), for the allocation share of the run.
				if af, err := os.Create(fmt.Sprintf("%s.%d.allocs.pprof", prefix, os.Getpid())); err == nil {
					_ = pprof.Lookup("allocs").WriteTo(af, 0)
					af.Close()
				}
			}
		}
	}()
}
