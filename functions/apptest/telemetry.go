package apptest

import (
	"context"
	"testing"
	"time"

	"github.com/orderflow/orderflow/telemetry"
)

// hostTelemetry builds the in-process host's telemetry (off without
// Options.OTLPEndpoint); the host process's environment is not touched, so
// parallel tests keep their own collectors.
func (a *App) hostTelemetry(t *testing.T, service string) *telemetry.Telemetry {
	t.Helper()
	if a.otlp == "" {
		return telemetry.Disabled()
	}
	tel, err := telemetry.Start(a.Ctx, telemetry.Config{ServiceName: service, Endpoint: a.otlp,
		MetricInterval: 300 * time.Millisecond, BatchDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if a.Emulator != nil {
		// The embedded emulator reports its queue depths with the host's
		// telemetry, as make run does.
		if err := a.Emulator.RegisterMetrics(tel.Meter); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
	})
	return tel
}
