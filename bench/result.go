package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Result is one comparison: the project's figure against a baseline measured
// on the same machine in the same run.
type Result struct {
	// Name identifies the benchmark, e.g. "emulator-throughput-persistent".
	Name string `json:"name"`
	// Metric names what was measured, e.g. "messages/s".
	Metric string `json:"metric"`
	// Unit of Project and Baseline.
	Unit string `json:"unit"`
	// Project is our figure.
	Project float64 `json:"project"`
	// Baseline is the reference figure; 0 when the benchmark has none.
	Baseline float64 `json:"baseline,omitempty"`
	// BaselineName says what the baseline is.
	BaselineName string `json:"baselineName,omitempty"`
	// Ratio is Project/Baseline for throughput-like metrics; see HigherIsBetter.
	Ratio float64 `json:"ratio,omitempty"`
	// HigherIsBetter tells how to read Ratio.
	HigherIsBetter bool `json:"higherIsBetter"`
	// Target is the goal from the benchmark issue, in words.
	Target string `json:"target,omitempty"`
	// Params are the benchmark's parameters.
	Params map[string]any `json:"params,omitempty"`
	Date   time.Time      `json:"date"`
	Go     string         `json:"goVersion"`
	CPUs   int            `json:"cpus"`
}

func newResult(name, metric, unit string, project, baseline float64, higherIsBetter bool) Result {
	r := Result{
		Name: name, Metric: metric, Unit: unit, Project: project, Baseline: baseline,
		HigherIsBetter: higherIsBetter, Date: time.Now().UTC().Truncate(time.Second),
		Go: runtime.Version(), CPUs: runtime.NumCPU(),
	}
	if baseline > 0 {
		r.Ratio = project / baseline
	}
	return r
}

// mergeResults reads the results in path and returns them with those of
// the same name replaced by rs, in place, and the other rs appended.
func mergeResults(path string, rs []Result) ([]Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s to merge: %w", path, err)
	}
	var old []Result
	if err := json.Unmarshal(b, &old); err != nil {
		return nil, fmt.Errorf("reading %s to merge: %w", path, err)
	}
	fresh := map[string]Result{}
	for _, r := range rs {
		fresh[r.Name] = r
	}
	var out []Result
	for _, r := range old {
		if n, ok := fresh[r.Name]; ok {
			r = n
			delete(fresh, r.Name)
		}
		out = append(out, r)
	}
	for _, r := range rs {
		if _, ok := fresh[r.Name]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func writeJSON(path string, rs []Result) error {
	b, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func writeMarkdown(path string, rs []Result) error {
	var sb strings.Builder
	sb.WriteString("# Benchmarks\n\nWritten by `make bench`; every comparison is measured on the same machine in the same run.\n")
	sb.WriteString("Rows named `…-cpu <process>` are CPU milliseconds per order of that process group over the timed window (from /proc), `…-xacts` PostgreSQL transactions per order, `…-roundtrips` PostgreSQL round trips per order on the wire; docs/performance.md reads them.\n")
	fmt.Fprintf(&sb, "Machine: %d CPUs, %s.\n\n", runtime.NumCPU(), runtime.Version())
	sb.WriteString("| benchmark | metric | ours | baseline | ratio | target | parameters |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		base, ratio := "–", "–"
		if r.Baseline > 0 {
			base = fmt.Sprintf("%.4g %s (%s)", r.Baseline, r.Unit, r.BaselineName)
			ratio = fmt.Sprintf("%.2f×", r.Ratio)
		}
		var params []string
		for k, v := range r.Params {
			params = append(params, fmt.Sprintf("%s=%v", k, v))
		}
		slices.Sort(params)
		fmt.Fprintf(&sb, "| %s | %s | %.4g %s | %s | %s | %s | %s |\n",
			r.Name, r.Metric, r.Project, r.Unit, base, ratio, r.Target, strings.Join(params, ", "))
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}
