package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/orderflow/orderflow/shared/store"
)

func TestWaitOutOutageRetriesOnlyUnavailable(t *testing.T) {
	t.Parallel()
	h := &Handler{cfg: Config{Logger: slog.New(slog.DiscardHandler)}}
	unavailable := fmt.Errorf("reserving: %w", store.ErrUnavailable)

	calls := 0
	err := h.waitOutOutage(context.Background(), func(context.Context) error {
		calls++
		if calls < 3 {
			return unavailable
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("outage then recovery: err %v after %d calls, want nil after 3", err, calls)
	}

	calls = 0
	poison := errors.New("decoding OrderCreated: bad JSON")
	err = h.waitOutOutage(context.Background(), func(context.Context) error { calls++; return poison })
	if !errors.Is(err, poison) || calls != 1 {
		t.Fatalf("other error: err %v after %d calls, want it at once", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	err = h.waitOutOutage(ctx, func(context.Context) error { calls++; cancel(); return unavailable })
	if !errors.Is(err, store.ErrUnavailable) || calls != 1 {
		t.Fatalf("cancelled invocation: err %v after %d calls, want the outage error at once", err, calls)
	}
}
