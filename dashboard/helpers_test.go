package dashboard_test

import (
	"io"
	"log/slog"

	"github.com/orderflow/orderflow/telemetry"
)

func slogLogger(tel *telemetry.Telemetry) *slog.Logger {
	return slog.New(tel.SlogHandler("test", slog.NewTextHandler(io.Discard, nil)))
}
