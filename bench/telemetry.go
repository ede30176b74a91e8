package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/orderflow/orderflow/dashboard"
	"github.com/orderflow/orderflow/functions/apptest/stage"
	"github.com/orderflow/orderflow/telemetry"
)

// benchTelemetry turns telemetry on for one app: the handler's OTEL_*
// settings and the in-process host's providers, both exporting to
// endpoint. Off (nil, settings untouched) without an endpoint.
func benchTelemetry(ctx context.Context, endpoint string, settings map[string]string) (*telemetry.Telemetry, error) {
	if endpoint == "" {
		return nil, nil
	}
	for k, v := range stage.OTLPSettings(endpoint) {
		settings[k] = v
	}
	// The handler exports as make run does (2 s metrics, 500 ms batches),
	// not at the tests' short intervals.
	settings["OTEL_METRIC_EXPORT_INTERVAL"], settings["OTEL_BSP_SCHEDULE_DELAY"], settings["OTEL_BLRP_SCHEDULE_DELAY"] = "2000", "500", "500"
	return telemetry.Start(ctx, telemetry.Config{ServiceName: "funchost", Endpoint: endpoint,
		MetricInterval: 2 * time.Second, BatchDelay: 500 * time.Millisecond})
}

// telemetryCost measures what telemetry costs intake: the intake benchmark
// with telemetry off, then on (every span, metric and log exported to the
// dashboard's OTLP receiver, as make run does). Baseline is off; the ratio
// is on/off.
func telemetryCost(ctx context.Context, cfg runConfig) ([]Result, error) {
	d, err := dashboard.New(dashboard.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		return nil, err
	}
	if err := d.Start(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = d.Stop(context.WithoutCancel(ctx)) }()
	// Both apps run side by side and the measured windows alternate (off,
	// on, off, on, ...), so drift in the machine's load hits both sides.
	apps := map[bool]*appRun{}
	for _, on := range []bool{false, true} {
		ac := appConfig{Broker: stage.ServiceBus, Name: "telemetry"}
		if on {
			ac.OTLPEndpoint = d.URL()
		}
		a, err := startApp(ctx, cfg, ac)
		if err != nil {
			return nil, err
		}
		defer a.stop()
		apps[on] = a
	}
	const rounds = 3
	window := cfg.intakeTime / rounds
	count, took := map[bool]int{}, map[bool]time.Duration{}
	log.Printf("  warm-up 2s each, then %d alternating windows of %s per side, %d clients", rounds, window, cfg.clients)
	for r := 0; r <= rounds; r++ {
		for _, on := range []bool{false, true} {
			c := newOrderClient(apps[on].URL, cfg.clients)
			d := window
			if r == 0 {
				d = 2 * time.Second // warm-up, not counted
			}
			orders, elapsed, err := c.closedLoop(ctx, cfg.clients, d, 0)
			c.close()
			if err != nil {
				return nil, fmt.Errorf("intake with telemetry %v: %w", on, err)
			}
			if r > 0 {
				count[on] += len(orders)
				took[on] += elapsed
			}
		}
	}
	rates := map[bool]float64{}
	for on := range count {
		rates[on] = float64(count[on]) / took[on].Seconds()
	}
	r := newResult("telemetry-intake-ratio", "intake with telemetry exported (OTLP to the dashboard) vs off", "orders/s", rates[true], rates[false], true)
	r.BaselineName, r.Target = "the same intake with telemetry off", "≥ 0.8× off"
	r.Params = map[string]any{"clients": cfg.clients, "seconds": cfg.intakeTime.Seconds(), "rounds": rounds, "broker": "servicebus emulator",
		"exporter": "OTLP/HTTP protobuf, batch 500 ms, metrics every 2 s"}
	return []Result{r}, nil
}
