package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/orderflow/orderflow/functions/apptest/stage"
)

// endToEnd measures the whole flow on each broker: orders/s from POST to
// confirmed and emailed (sent_emails row, SMTP server accepted it) at
// saturation, then the POST→confirmed latency at half that rate. The
// throughput is compared with the pgbench intake baseline, as the issue
// asks.
func endToEnd(ctx context.Context, cfg runConfig) ([]Result, error) {
	pg, err := pgbenchIntake(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, broker := range stage.Brokers {
		rs, err := endToEndOn(ctx, cfg, broker, pg, 1, "e2e-"+string(broker))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", broker, err)
		}
		out = append(out, rs...)
	}
	return out, nil
}

// endToEndScale runs the RabbitMQ end-to-end pass with one and with two
// handler instances in the same run. The RabbitMQ trigger keeps the real
// extension's semantics (one consumer per instance, one invocation at a
// time per consumer), so consumer throughput scales with instances.
func endToEndScale(ctx context.Context, cfg runConfig) ([]Result, error) {
	pg, err := pgbenchIntake(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, n := range []int{1, 2} {
		rs, err := endToEndOn(ctx, cfg, stage.RabbitMQ, pg, n, fmt.Sprintf("e2e-scale-rabbitmq-%dinstance", n))
		if err != nil {
			return nil, fmt.Errorf("%d instances: %w", n, err)
		}
		out = append(out, rs...)
	}
	return out, nil
}

func endToEndOn(ctx context.Context, cfg runConfig, broker stage.Broker, pg pgbenchResult, instances int, name string) ([]Result, error) {
	a, err := startApp(ctx, cfg, appConfig{Broker: broker, Consumers: true, Name: name, Instances: instances})
	if err != nil {
		return nil, err
	}
	defer a.stop()
	c, err := startLoad(ctx, a.URL, cfg.clients, loadProfile(cfg, name))
	if err != nil {
		return nil, err
	}
	defer c.stop()

	log.Printf("  %s: saturation, %d orders from %d clients", broker, cfg.e2eOrders, cfg.clients)
	var sat float64
	var done time.Time
	meter, err := startCPU(ctx, a.db, a.handlerPIDs(), c.cpuGroup())
	if err != nil {
		return nil, err
	}
	polls0 := a.polls.Load()
	err = profiled(cfg, name, a.handlerPIDs(), func() error {
		start := time.Now()
		orders, _, err := c.closedLoop(cfg.clients, 10*time.Minute, cfg.e2eOrders)
		if err != nil {
			return err
		}
		if done, err = a.waitDone(ctx, len(orders), 3*time.Minute); err != nil {
			return err
		}
		sat = float64(len(orders)) / done.Sub(start).Seconds()
		return nil
	})
	if err != nil {
		return nil, err
	}
	cpu, err := meter.stop(ctx, statsSettle)
	if err != nil {
		return nil, err
	}
	cpu.Xacts -= a.polls.Load() - polls0
	per := cpu.perOrder(cfg.e2eOrders)
	log.Printf("  %s: CPU ms and transactions per order:%s", broker, cpuSummary(per))
	base := int64(cfg.e2eOrders)

	rate := sat / 2
	log.Printf("  %s: %.0f orders/s at saturation; latency at %.0f orders/s for %s", broker, sat, rate, cfg.e2eLoadTime)
	orders, err := c.openLoop(rate, cfg.e2eLoadTime)
	if err != nil {
		return nil, err
	}
	if _, err := a.waitDone(ctx, int(base)+len(orders), 2*time.Minute); err != nil {
		return nil, err
	}
	confirm, email, err := a.flowLatencies(ctx, orders)
	if err != nil {
		return nil, err
	}
	params := map[string]any{"broker": string(broker), "clients": cfg.clients, "saturationOrders": cfg.e2eOrders,
		"halfLoadOrdersPerSec": int(rate), "halfLoadSeconds": cfg.e2eLoadTime.Seconds(), "halfLoadOrders": len(orders),
		"emailP50ms": ms(percentile(email, 50)), "emailP99ms": ms(percentile(email, 99)),
		"instances": instances, "confirmedAt": "PostgreSQL now() of the confirming transaction"}
	r1 := newResult(name+"-throughput", "POST → confirmed + email recorded, at saturation", "orders/s", sat, pg.Rate, true)
	r1.BaselineName, r1.Target, r1.Params = "pgbench intake (handler's SQL)", "≥ 0.25× pgbench", params
	r2 := newResult(name+"-latency-p50", "POST → confirmed at half the saturation rate, p50", "ms", ms(percentile(confirm, 50)), 0, false)
	r2.Params = params
	r3 := newResult(name+"-latency-p99", "POST → confirmed at half the saturation rate, p99", "ms", ms(percentile(confirm, 99)), 0, false)
	r3.Target, r3.Params = "≤ 50 ms", params
	return append([]Result{r1, r2, r3}, cpuResults(name, per, params)...), nil
}

// waitDone polls until n orders are confirmed and n emails recorded and
// accepted by the SMTP server, and returns when the last of them
// happened according to the database.
func (a *appRun) waitDone(ctx context.Context, n int, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		a.polls.Add(1)
		var confirmed, emails int
		var last time.Time
		err := a.DB.QueryRow(ctx, `SELECT (SELECT count(*) FROM orders WHERE status = 'confirmed'), (SELECT count(*) FROM sent_emails),
			greatest((SELECT max(confirmed_at) FROM orders), (SELECT max(sent_at) FROM sent_emails))`).Scan(&confirmed, &emails, &last)
		if err != nil {
			return time.Time{}, err
		}
		if confirmed >= n && emails >= n && a.SMTP.Received() >= int64(n) {
			return last, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("after %s: %d of %d confirmed, %d emails recorded, %d received\n%s", limit, confirmed, n, emails, a.SMTP.Received(), a.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// flowLatencies returns, per order, POST start → confirmed_at and POST
// start → sent_at.
func (a *appRun) flowLatencies(ctx context.Context, orders []placed) (confirm, email []time.Duration, err error) {
	ids := make([]string, len(orders))
	start := map[string]time.Time{}
	for i, o := range orders {
		ids[i], start[o.ID] = o.ID, o.Start
	}
	rows, err := a.DB.Query(ctx, `SELECT o.id::text, o.confirmed_at, e.sent_at FROM orders o JOIN sent_emails e ON e.order_id = o.id
		WHERE o.id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var c, e time.Time
		if err := rows.Scan(&id, &c, &e); err != nil {
			return nil, nil, err
		}
		confirm = append(confirm, c.Sub(start[id]))
		email = append(email, e.Sub(start[id]))
	}
	return confirm, email, rows.Err()
}
