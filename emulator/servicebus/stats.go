package servicebus

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// EntityStats counts the messages of one queue or subscription.
type EntityStats struct {
	// Path is the entity path ("orders/Subscriptions/process-order").
	Path string
	// Active messages are available to receivers; Locked are being
	// processed under a peek-lock; Scheduled and Deferred wait.
	Active, Locked, Scheduled, Deferred int
	// DeadLetter is the length of the entity's dead-letter queue.
	DeadLetter int
}

// Stats counts the messages of every queue and subscription. It walks the
// messages, so it is meant for dashboards and metrics, not the hot path.
func (s *Server) Stats() []EntityStats {
	var out []EntityStats
	for _, p := range s.broker.Receivable() {
		st, err := s.broker.Stats(p)
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, EntityStats{Path: p, Active: st.Active, Locked: st.Locked, Scheduled: st.Scheduled,
			Deferred: st.Deferred, DeadLetter: st.DeadLetter})
	}
	return out
}

// RegisterMetrics publishes the entity counts as observable gauges on mp:
// servicebus.entity.messages (by messaging.destination.name and state) and
// servicebus.entity.dead_letter_messages.
func (s *Server) RegisterMetrics(mp metric.MeterProvider) error {
	m := mp.Meter("github.com/orderflow/orderflow/emulator/servicebus")
	msgs, err := m.Int64ObservableGauge("servicebus.entity.messages", metric.WithUnit("{message}"),
		metric.WithDescription("Messages in a queue or subscription, by state."))
	if err != nil {
		return err
	}
	dead, err := m.Int64ObservableGauge("servicebus.entity.dead_letter_messages", metric.WithUnit("{message}"),
		metric.WithDescription("Messages in the dead-letter queue of a queue or subscription."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, st := range s.Stats() {
			dest := attribute.String("messaging.destination.name", st.Path)
			for state, n := range map[string]int{"active": st.Active, "locked": st.Locked, "scheduled": st.Scheduled, "deferred": st.Deferred} {
				o.ObserveInt64(msgs, int64(n), metric.WithAttributes(dest, attribute.String("state", state)))
			}
			o.ObserveInt64(dead, int64(st.DeadLetter), metric.WithAttributes(dest))
		}
		return nil
	}, msgs, dead)
	return err
}
