package handler

import (
	"context"
	"io"
	"log/slog"
)

// NewLogger returns a logger that writes Info and Debug records to out and
// Warn and Error records to errOut. The Functions host logs a handler's
// stderr lines as errors (warnings if they contain "warn"), so only real
// problems should go there.
func NewLogger(out, errOut io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	return slog.New(splitHandler{low: slog.NewTextHandler(out, opts), high: slog.NewTextHandler(errOut, opts)})
}

// splitHandler routes records by level.
type splitHandler struct{ low, high slog.Handler }

func (s splitHandler) pick(l slog.Level) slog.Handler {
	if l >= slog.LevelWarn {
		return s.high
	}
	return s.low
}

func (s splitHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.pick(l).Enabled(ctx, l)
}

func (s splitHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.pick(r.Level).Handle(ctx, r)
}

func (s splitHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return splitHandler{low: s.low.WithAttrs(as), high: s.high.WithAttrs(as)}
}

func (s splitHandler) WithGroup(name string) slog.Handler {
	return splitHandler{low: s.low.WithGroup(name), high: s.high.WithGroup(name)}
}
