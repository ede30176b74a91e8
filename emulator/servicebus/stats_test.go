package servicebus_test

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/orderflow/orderflow/emulator/servicebus"
)

// TestStatsAndMetricsMatchBroker checks that the counts the dashboard and
// the metrics report are the broker's: one active, one dead-lettered.
func TestStatsAndMetricsMatchBroker(t *testing.T) {
	t.Parallel()
	srv, ctx := startServer(t, servicebus.Config{})
	stopAtCleanup(t, srv)
	q := uniqueName(t)
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: q}); err != nil {
		t.Fatal(err)
	}
	client := newClient(t, srv)
	s, err := client.NewSender(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"a", "b"} {
		if err := s.SendMessage(ctx, &azservicebus.Message{Body: []byte(b)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	r, err := client.NewReceiverForQueue(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := receiveN(t, ctx, r, 1)
	if err := r.DeadLetterMessage(ctx, msgs[0], nil); err != nil {
		t.Fatal(err)
	}
	var got servicebus.EntityStats
	for _, st := range srv.Stats() {
		if st.Path == q {
			got = st
		}
	}
	if got.Active != 1 || got.DeadLetter != 1 || got.Locked != 0 {
		t.Errorf("stats %+v, want 1 active and 1 dead letter", got)
	}

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	if err := srv.RegisterMetrics(mp); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	values := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			g, ok := m.Data.(metricdata.Gauge[int64])
			if !ok {
				continue
			}
			for _, dp := range g.DataPoints {
				if d, _ := dp.Attributes.Value("messaging.destination.name"); d.AsString() != q {
					continue
				}
				state, _ := dp.Attributes.Value("state")
				values[m.Name+"/"+state.AsString()] = dp.Value
			}
		}
	}
	if values["servicebus.entity.messages/active"] != 1 || values["servicebus.entity.dead_letter_messages/"] != 1 {
		t.Errorf("gauges %v, want active 1 and dead letters 1", values)
	}
}
