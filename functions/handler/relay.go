package handler

import (
	"context"
	"fmt"
	"time"
)

// outboxRelay is OutboxRelay (timer trigger): it publishes every event the
// fast path could not, oldest first, marking each after the broker confirms.
func (h *Handler) outboxRelay(ctx context.Context, _ Invocation) ([]string, error) {
	n, err := h.cfg.Store.Outbox.Relay(ctx, h.cfg.RelayBatch, h.relayGrace(), h.publish)
	if err != nil {
		return nil, fmt.Errorf("relaying outbox after %d published events: %w", n, err)
	}
	pending, err := h.cfg.Store.Outbox.Pending(ctx)
	if err != nil {
		return nil, fmt.Errorf("counting pending outbox events: %w", err)
	}
	if n > 0 {
		h.cfg.Logger.InfoContext(ctx, "outbox relayed", "published", n, "pending", pending)
	}
	return []string{fmt.Sprintf("published %d events, %d pending", n, pending)}, nil
}

// relayGrace is how long OutboxRelay leaves a new event to the request that
// created it: that request gives up publishing after PublishTimeout, so
// twice that keeps the relay from sending a second copy of an event whose
// publish or mark is still under way.
func (h *Handler) relayGrace() time.Duration { return 2 * h.cfg.PublishTimeout }
