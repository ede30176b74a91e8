package lambdahost

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
)

// schedule invokes s.Function every s.Every with an EventBridge scheduled
// event, until ctx ends. A run that is still going when the next one is
// due delays it (no overlap).
func (h *Host) schedule(ctx context.Context, s Schedule) {
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ev := events.EventBridgeEvent{Version: "0", ID: uuid.NewString(), DetailType: "Scheduled Event", Source: "aws.events",
				AccountID: "000000000000", Time: now.UTC().Truncate(time.Second), Region: h.cfg.Region,
				Resources: []string{"arn:aws:events:" + h.cfg.Region + ":000000000000:rule/local-" + s.Function}, Detail: json.RawMessage("{}")}
			payload, _ := json.Marshal(ev)
			if _, err := h.funcs[s.Function].invoke(ctx, payload); err != nil && ctx.Err() == nil {
				h.cfg.Logger.Warn("scheduled invocation failed", "function", s.Function, "err", err)
			}
		}
	}
}
