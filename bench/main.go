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
	"strings"
	"time"
)

// runConfig holds the knobs shared by the benchmarks.
type runConfig struct {
	rabbitURL string
	messages  int // messages per throughput pass
	footprint int // messages passed through the emulator binary before the RSS reading
}

type benchmark struct {
	name string
	run  func(context.Context, runConfig) ([]Result, error)
}

func main() {
	out := flag.String("out", "bench/results.json", "results file (JSON)")
	md := flag.String("md", "BENCHMARKS.md", "human-readable table")
	only := flag.String("only", "", "comma-separated benchmark names to run (default all)")
	var cfg runConfig
	flag.StringVar(&cfg.rabbitURL, "rabbitmq", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ for the baselines")
	flag.IntVar(&cfg.messages, "messages", 20000, "messages per broker throughput pass")
	flag.IntVar(&cfg.footprint, "footprint-messages", 100000, "messages passed through the emulator before measuring RSS")
	flag.Parse()

	benchmarks := []benchmark{
		{"broker", brokerThroughput},
		{"footprint", footprint},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var results []Result
	for _, b := range benchmarks {
		if *only != "" && !strings.Contains(","+*only+",", ","+b.name+",") {
			continue
		}
		start := time.Now()
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
	if err := writeJSON(*out, results); err != nil {
		log.Fatal(err)
	}
	if err := writeMarkdown(*md, results); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", *out, *md)
}
