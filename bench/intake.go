package main

import (
	"context"
	"fmt"
	"log"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/orderflow/orderflow/functions/apptest/stage"
)

// intake measures order intake: cfg.clients concurrent clients POST
// /api/orders through the local host to the handler, which writes the
// order to PostgreSQL and publishes its event to the broker (the emulator;
// consumers off so that only intake runs). Then the same handler binary is
// served directly (no host in front) against the same database and
// broker. The baseline is pgbench running the handler's statements with
// the same number of clients. Each pass also reports CPU milliseconds per
// order per process and transactions per order.
func intake(ctx context.Context, cfg runConfig) ([]Result, error) {
	a, err := startApp(ctx, cfg, appConfig{Broker: stage.ServiceBus, Name: "intake"})
	if err != nil {
		return nil, err
	}
	defer a.stop()
	log.Printf("  app: %d clients for %s through the host", cfg.clients, cfg.intakeTime)
	host, err := intakePass(ctx, cfg, a, a.URL, a.handlerPIDs(), "intake")
	if err != nil {
		return nil, err
	}
	log.Printf("  app: %d clients for %s, handler served directly", cfg.clients, cfg.intakeTime)
	direct, err := servedPass(ctx, cfg, a, cfg.handlerBin, "intake-direct")
	if err != nil {
		return nil, err
	}
	minBin := filepath.Join(filepath.Dir(cfg.handlerBin), "minimal")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", minBin, "./bench/testdata/minimal").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building bench/testdata/minimal: %v\n%s", err, out)
	}
	log.Printf("  minimal net/http + pgx service: %d clients for %s", cfg.clients, cfg.intakeTime)
	minimal, err := servedPass(ctx, cfg, a, minBin, "intake-minimal")
	if err != nil {
		return nil, err
	}
	wire := map[string][2]float64{}
	for name, bin := range map[string]string{"intake-direct": cfg.handlerBin, "intake-minimal": minBin} {
		rt, x, err := a.wirePass(ctx, cfg, bin, 1000)
		if err != nil {
			return nil, fmt.Errorf("counting round trips of %s: %w", name, err)
		}
		log.Printf("  %s: %.3f round trips, %.3f transactions per order on the wire", name, rt, x)
		wire[name] = [2]float64{rt, x}
	}
	a.stop()

	pg, err := pgbenchIntake(ctx, cfg)
	if err != nil {
		return nil, err
	}
	params := map[string]any{"clients": cfg.clients, "seconds": cfg.intakeTime.Seconds(), "broker": "servicebus emulator (publish after commit)",
		"pgbenchMode": "-M prepared, handler's statements, one outbox mark per order", "pgbenchOneTxOrdersPerSec": int(pg.OneTxRate)}
	base := "pgbench, same SQL, same clients"
	var out []Result
	for _, p := range []struct {
		res    intakeResult
		name   string
		what   string
		target string
	}{
		{host, "intake", "POST /api/orders → host → handler → PostgreSQL + publish", "≥ 0.6× pgbench"},
		{direct, "intake-direct", "POST /api/orders → handler (no host) → PostgreSQL + publish", "≥ 0.8× pgbench"},
		{minimal, "intake-minimal", "POST /api/orders → minimal net/http + pgx service (bench/testdata/minimal) → PostgreSQL + publish", ""},
	} {
		r1 := newResult(p.name+"-throughput", p.what, "orders/s", p.res.rate, pg.Rate, true)
		r1.BaselineName, r1.Target, r1.Params = base, p.target, params
		r2 := newResult(p.name+"-latency-p50", "POST latency p50 at saturation", "ms", ms(p.res.p50), ms(pg.P50), false)
		r2.BaselineName, r2.Params = base, params
		r3 := newResult(p.name+"-latency-p99", "POST latency p99 at saturation", "ms", ms(p.res.p99), ms(pg.P99), false)
		r3.BaselineName, r3.Params = base, params
		out = append(out, r1, r2, r3)
		out = append(out, cpuResults(p.name, p.res.cpu, params)...)
		if w, ok := wire[p.name]; ok {
			r := newResult(p.name+"-roundtrips", "PostgreSQL round trips per order (ReadyForQuery on the wire; host or not, the handler's are the same)", "round trips/order", w[0], 0, false)
			r.Params = map[string]any{"wireXactsPerOrder": w[1], "pgbenchRoundTripsPerOrder": 3}
			out = append(out, r)
		}
	}
	out = append(out, cpuResults("intake-pgbench", pg.CPU, params)...)
	return out, nil
}

// servedPass starts bin on its own port (startDirect) and runs an
// intake pass against it.
func servedPass(ctx context.Context, cfg runConfig, a *appRun, bin, name string) (intakeResult, error) {
	d, err := a.startDirect(ctx, bin, nil)
	if err != nil {
		return intakeResult{}, err
	}
	defer d.stop()
	return intakePass(ctx, cfg, a, d.URL, []int{d.pid()}, name)
}

type intakeResult struct {
	rate     float64
	p50, p99 time.Duration
	cpu      map[string]float64 // per order
}

// intakePass warms up for 2s, waits for the statistics to settle, then
// places orders at url for cfg.intakeTime and measures the CPU of pids
// (the handlers), this process and PostgreSQL.
//
// The handlers in pids are sent the profiling signals with cfg.profileDir;
// the minimal service (which has no such signal handlers) is not.
func intakePass(ctx context.Context, cfg runConfig, a *appRun, url string, pids []int, name string) (intakeResult, error) {
	profPIDs := pids
	if name == "intake-minimal" {
		profPIDs = nil
	}
	var res intakeResult
	c, err := startLoad(ctx, url, cfg.clients, loadProfile(cfg, name))
	if err != nil {
		return res, err
	}
	defer c.stop()
	if _, _, err := c.closedLoop(cfg.clients, 2*time.Second, 0); err != nil {
		return res, fmt.Errorf("%s warm-up: %w", name, err)
	}
	// Let the warm-up's transaction statistics reach pg_stat_database.
	time.Sleep(statsSettle)
	meter, err := startCPU(ctx, a.db, pids, c.cpuGroup())
	if err != nil {
		return res, err
	}
	var (
		orders  []placed
		elapsed time.Duration
	)
	err = profiled(cfg, name, profPIDs, func() error {
		var err error
		orders, elapsed, err = c.closedLoop(cfg.clients, cfg.intakeTime, 0)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	cpu, err := meter.stop(ctx, statsSettle)
	if err != nil {
		return res, err
	}
	res.cpu = cpu.perOrder(len(orders))
	res.rate = float64(len(orders)) / elapsed.Seconds()
	lats := latencies(orders)
	res.p50, res.p99 = percentile(lats, 50), percentile(lats, 99)
	log.Printf("  %s: %.0f orders/s; CPU ms and transactions per order:%s", name, res.rate, cpuSummary(res.cpu))
	return res, nil
}
