// Command bench runs the project's benchmarks against baselines measured on
// the same machine in the same run, and writes bench/results.json and
// BENCHMARKS.md. Run it from the repository root: `make bench`.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/functions/apptest/stage"
)

// runConfig holds the knobs shared by the benchmarks.
type runConfig struct {
	rabbitURL string
	messages  int // messages per throughput pass
	footprint int // messages passed through the emulator binary before the RSS reading
	stored    int // 1 KiB messages left queued in the emulator binary for the RSS-per-message reading
	startup   int // 1 KiB messages stored with -data-dir before the durable start-up reading

	root       string // repository root
	handlerBin string // the real custom handler
	noopBin    string // bench/testdata/noop
	profileDir string // where CPU profiles go; "" = no profiling

	clients     int           // concurrent HTTP clients (and pgbench clients)
	intakeTime  time.Duration // measured time of each intake side
	e2eOrders   int           // orders placed for the end-to-end saturation pass
	e2eLoadTime time.Duration // duration of the half-load latency pass
	dispatchN   int           // messages per dispatch throughput pass
}

type benchmark struct {
	name string
	run  func(context.Context, runConfig) ([]Result, error)
}

func main() {
	if url := os.Getenv(loadWorkerEnv); url != "" {
		conns, _ := strconv.Atoi(os.Getenv("BENCH_LOAD_WORKER_CONNS"))
		if err := loadWorker(url, max(conns, 1), os.Getenv("BENCH_LOAD_WORKER_PROFILE")); err != nil {
			log.Fatal(err)
		}
		return
	}
	out := flag.String("out", "bench/results.json", "results file (JSON)")
	md := flag.String("md", "BENCHMARKS.md", "human-readable table")
	only := flag.String("only", "", "comma-separated benchmark names to run (default all)")
	merge := flag.Bool("merge", false, "keep the results in -out that this run did not produce (with -only: update part of the file)")
	var cfg runConfig
	flag.StringVar(&cfg.rabbitURL, "rabbitmq", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ for the baselines")
	flag.IntVar(&cfg.messages, "messages", 20000, "messages per broker throughput pass")
	flag.IntVar(&cfg.footprint, "footprint-messages", 100000, "messages passed through the emulator before measuring RSS")
	flag.IntVar(&cfg.stored, "stored-messages", 300000, "1 KiB messages left queued in the emulator for the RSS-per-stored-message reading")
	flag.IntVar(&cfg.startup, "startup-messages", 1000000, "1 KiB messages stored with -data-dir before measuring the emulator's start-up")
	flag.IntVar(&cfg.clients, "clients", 10, "concurrent clients for intake and end-to-end (pgbench -c too)")
	flag.DurationVar(&cfg.intakeTime, "intake-time", 15*time.Second, "measured time of each intake side")
	flag.IntVar(&cfg.e2eOrders, "e2e-orders", 2000, "orders placed for the end-to-end saturation pass")
	flag.DurationVar(&cfg.e2eLoadTime, "e2e-load-time", 10*time.Second, "duration of the end-to-end half-load latency pass")
	flag.IntVar(&cfg.dispatchN, "dispatch-messages", 5000, "messages per host dispatch throughput pass")
	flag.StringVar(&cfg.profileDir, "cpuprofile", "", "write CPU profiles of the handler, of this process (host, emulator) and of the load client into this directory")
	flag.Parse()

	root, err := stage.RepoRoot()
	if err != nil {
		log.Fatal(err)
	}
	cfg.root = root
	if cfg.profileDir != "" {
		if cfg.profileDir, err = filepath.Abs(cfg.profileDir); err != nil {
			log.Fatal(err)
		}
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			log.Fatal(err)
		}
	}
	binDir, err := os.MkdirTemp("", "bench-bin")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(binDir)

	benchmarks := []benchmark{
		{"intake", intake},
		{"telemetry", telemetryCost},
		{"e2e", endToEnd},
		{"e2escale", endToEndScale},
		{"broker", brokerThroughput},
		{"footprint", footprint},
		{"startup", durableStartup},
		{"dispatch", dispatch},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log.Printf("building the handler and the no-op handler")
	if err := buildBinaries(ctx, &cfg, binDir); err != nil {
		log.Fatal(err)
	}
	var results []Result
	for _, b := range benchmarks {
		if *only != "" && !strings.Contains(","+*only+",", ","+b.name+",") {
			continue
		}
		start := time.Now()
		log.Printf("benchmark %s", b.name)
		rs, err := b.run(ctx, cfg)
		if err != nil {
			log.Fatalf("benchmark %s: %v", b.name, err)
		}
		for _, r := range rs {
			fmt.Printf("%-34s %12.4g %-6s baseline %10.4g  ratio %5.2f  (%s)\n", r.Name, r.Project, r.Unit, r.Baseline, r.Ratio, r.Target)
		}
		log.Printf("benchmark %s took %s", b.name, time.Since(start).Round(time.Millisecond))
		results = append(results, rs...)
	}
	if *merge {
		if results, err = mergeResults(*out, results); err != nil {
			log.Fatal(err)
		}
	}
	if err := writeJSON(*out, results); err != nil {
		log.Fatal(err)
	}
	if err := writeMarkdown(*md, results); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", *out, *md)
}
