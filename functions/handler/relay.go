package handler

import (
	"context"
	"fmt"
)

// outboxRelay is OutboxRelay (timer trigger): it publishes every event the
// fast path could not, oldest first, marking each after the broker confirms.
func (h *Handler) outboxRelay(ctx context.Context, _ Invocation) ([]string, error) {
	n, err := h.cfg.Store.Outbox.Relay(ctx, h.cfg.RelayBatch, h.publish)
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
