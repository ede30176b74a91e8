package lambda

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
)

// Scheduled runs OutboxRelay on an EventBridge (Scheduler or rule)
// scheduled event. The event's content does not matter: a run relays
// whatever is pending. A failure fails the invocation; the next schedule
// tick tries again.
func (a *Adapter) Scheduled(ctx context.Context, ev events.EventBridgeEvent) error {
	logs, err := a.invoke(ctx, FunctionOutboxRelay, invocation{
		Data:     map[string]any{"timer": map[string]any{"IsPastDue": false}},
		Metadata: map[string]any{"EventId": ev.ID, "Source": ev.Source, "Time": ev.Time},
	})
	if err != nil {
		return err
	}
	for _, l := range logs {
		a.log.Info(l, "function", FunctionOutboxRelay)
	}
	return nil
}
