package email

import (
	"context"
	"log/slog"
)

// Log is the sender used when no SMTP server is configured: it writes the
// whole email to the log instead of delivering it.
type Log struct{ logger *slog.Logger }

var _ Sender = (*Log)(nil)

// NewLog returns a Log sender; nil logger means slog.Default().
func NewLog(logger *slog.Logger) *Log {
	if logger == nil {
		logger = slog.Default()
	}
	return &Log{logger: logger}
}

// Transport is "log".
func (l *Log) Transport() string { return "log" }

// Send logs m.
func (l *Log) Send(_ context.Context, m Message) error {
	l.logger.Info("email not sent (no SMTP_HOST configured), logged instead",
		"to", m.To, "from", m.From, "subject", m.Subject, "messageId", m.MessageID, "body", m.Text)
	return nil
}
