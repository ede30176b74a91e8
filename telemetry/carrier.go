package telemetry

import (
	"go.opentelemetry.io/otel/propagation"
)

// DiagnosticID is the application property the Azure SDKs for .NET and Java
// (and so the Functions Service Bus extension) read and write the W3C
// traceparent under.
const DiagnosticID = "Diagnostic-Id"

// MessageCarrier carries trace context in a message's properties: Service
// Bus application properties, or RabbitMQ headers (amqp.Table converts to
// map[string]any). Values written are strings; values read may be strings
// or []byte, since AMQP 0-9-1 clients differ in how they type long strings.
type MessageCarrier struct {
	// Props is the property map; Set writes into it (it must not be nil).
	Props map[string]any
	// DiagnosticID also writes traceparent as Diagnostic-Id, and reads
	// Diagnostic-Id when traceparent is absent (Service Bus).
	DiagnosticID bool
}

var _ propagation.TextMapCarrier = MessageCarrier{}

// Get returns the value of key as a string.
func (c MessageCarrier) Get(key string) string {
	v := str(c.Props[key])
	if v == "" && c.DiagnosticID && key == "traceparent" {
		v = str(c.Props[DiagnosticID])
	}
	return v
}

// Set stores value under key.
func (c MessageCarrier) Set(key, value string) {
	c.Props[key] = value
	if c.DiagnosticID && key == "traceparent" {
		c.Props[DiagnosticID] = value
	}
}

// Keys lists the keys with string or []byte values.
func (c MessageCarrier) Keys() []string {
	keys := make([]string, 0, len(c.Props))
	for k, v := range c.Props {
		if str(v) != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}
