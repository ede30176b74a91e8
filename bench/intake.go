package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/orderflow/orderflow/functions/apptest/stage"
)

// intake measures order intake: cfg.clients concurrent clients POST
// /api/orders through the local host to the handler, which writes the
// order to PostgreSQL and publishes its event to the broker (the emulator;
// consumers off so that only intake runs). The baseline is pgbench running
// the handler's statements with the same number of clients.
func intake(ctx context.Context, cfg runConfig) ([]Result, error) {
	a, err := startApp(ctx, cfg, appConfig{Broker: stage.ServiceBus, Name: "intake"})
	if err != nil {
		return nil, err
	}
	defer a.stop()
	c := newOrderClient(a.URL, cfg.clients)
	log.Printf("  app: warm-up 2s, then %d clients for %s", cfg.clients, cfg.intakeTime)
	if _, _, err := c.closedLoop(ctx, cfg.clients, 2*time.Second, 0); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	var (
		orders  []placed
		elapsed time.Duration
	)
	// Let the warm-up's transaction statistics reach pg_stat_database.
	time.Sleep(statsSettle)
	meter, err := startCPU(ctx, a.db, a.handlerPIDs(), nil)
	if err != nil {
		return nil, err
	}
	err = profiled(cfg, "intake", a.handlerPIDs(), func() error {
		var err error
		orders, elapsed, err = c.closedLoop(ctx, cfg.clients, cfg.intakeTime, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	cpu, err := meter.stop(ctx, statsSettle)
	if err != nil {
		return nil, err
	}
	per := cpu.perOrder(len(orders))
	log.Printf("  app: %d orders, CPU ms and transactions per order:%s", len(orders), cpuSummary(per))
	rate := float64(len(orders)) / elapsed.Seconds()
	lats := latencies(orders)
	p50, p99 := percentile(lats, 50), percentile(lats, 99)
	a.stop()

	pg, err := pgbenchIntake(ctx, cfg)
	if err != nil {
		return nil, err
	}
	params := map[string]any{"clients": cfg.clients, "seconds": cfg.intakeTime.Seconds(), "broker": "servicebus emulator (publish after commit)",
		"pgbenchMode": "-M prepared, handler's two transactions per order", "pgbenchOneTxOrdersPerSec": int(pg.OneTxRate)}
	base := "pgbench, same SQL, same clients"
	r1 := newResult("intake-throughput", "POST /api/orders → host → handler → PostgreSQL + publish", "orders/s", rate, pg.Rate, true)
	r1.BaselineName, r1.Target, r1.Params = base, "≥ 0.6× pgbench", params
	r2 := newResult("intake-latency-p50", "POST latency p50 at saturation", "ms", ms(p50), ms(pg.P50), false)
	r2.BaselineName, r2.Params = base, params
	r3 := newResult("intake-latency-p99", "POST latency p99 at saturation", "ms", ms(p99), ms(pg.P99), false)
	r3.BaselineName, r3.Params = base, params
	out := []Result{r1, r2, r3}
	out = append(out, cpuResults("intake", per, params)...)
	out = append(out, cpuResults("intake-pgbench", pg.CPU, params)...)
	return out, nil
}
