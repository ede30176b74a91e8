// Package otlptest is a plain OTLP/HTTP collector for tests: an httptest
// server that decodes OTLP protobuf requests (go.opentelemetry.io/proto/otlp)
// on /v1/traces, /v1/metrics and /v1/logs and keeps what arrived.
package otlptest

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span with its service name.
type Span struct {
	Service string
	// Scope is the name of the instrumentation scope that made the span.
	Scope string
	*tracepb.Span
}

// TraceID is the span's trace id in hex.
func (s Span) TraceID() string { return hex.EncodeToString(s.Span.TraceId) }

// SpanID is the span id in hex.
func (s Span) SpanID() string { return hex.EncodeToString(s.Span.SpanId) }

// ParentID is the parent span id in hex ("" for a root).
func (s Span) ParentID() string { return hex.EncodeToString(s.Span.ParentSpanId) }

// Attr returns the string form of attribute key ("" if absent).
func (s Span) Attr(key string) string { return AttrString(s.Attributes, key) }

// Collector is the in-process collector.
type Collector struct {
	// URL is the OTLP/HTTP base URL, for OTEL_EXPORTER_OTLP_ENDPOINT.
	URL string

	mu      sync.Mutex
	spans   []Span
	metrics map[string]string // metric name → service that sent it
	logs    []*logspb.LogRecord
}

// Start runs a collector until the test ends.
func Start(t testing.TB) *Collector {
	c := &Collector{metrics: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", receive(c, &coltrace.ExportTraceServiceResponse{}, func(req *coltrace.ExportTraceServiceRequest) {
		for _, rs := range req.ResourceSpans {
			svc := AttrString(rs.GetResource().GetAttributes(), "service.name")
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					c.spans = append(c.spans, Span{Service: svc, Scope: ss.GetScope().GetName(), Span: sp})
				}
			}
		}
	}))
	mux.HandleFunc("POST /v1/metrics", receive(c, &colmetrics.ExportMetricsServiceResponse{}, func(req *colmetrics.ExportMetricsServiceRequest) {
		for _, rm := range req.ResourceMetrics {
			svc := AttrString(rm.GetResource().GetAttributes(), "service.name")
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if hasPoints(m) {
						c.metrics[m.Name] = svc
					}
				}
			}
		}
	}))
	mux.HandleFunc("POST /v1/logs", receive(c, &collogs.ExportLogsServiceResponse{}, func(req *collogs.ExportLogsServiceRequest) {
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				c.logs = append(c.logs, sl.LogRecords...)
			}
		}
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// receive decodes one export request into a fresh Req and keeps it with
// keep, under the collector's lock.
func receive[Req any, PReq interface {
	*Req
	proto.Message
}](c *Collector, resp proto.Message, keep func(PReq)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := PReq(new(Req))
		if !decode(w, r, req) {
			return
		}
		c.mu.Lock()
		keep(req)
		c.mu.Unlock()
		reply(w, resp)
	}
}

func decode(w http.ResponseWriter, r *http.Request, m proto.Message) bool {
	if r.Header.Get("Content-Type") != "application/x-protobuf" || r.Header.Get("Content-Encoding") != "" {
		http.Error(w, "want uncompressed application/x-protobuf", http.StatusUnsupportedMediaType)
		return false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	if err == nil {
		err = proto.Unmarshal(b, m)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func reply(w http.ResponseWriter, m proto.Message) {
	b, _ := proto.Marshal(m)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

func hasPoints(m *metricspb.Metric) bool {
	switch d := m.Data.(type) {
	case *metricspb.Metric_Sum:
		return len(d.Sum.DataPoints) > 0
	case *metricspb.Metric_Gauge:
		return len(d.Gauge.DataPoints) > 0
	case *metricspb.Metric_Histogram:
		return len(d.Histogram.DataPoints) > 0
	case *metricspb.Metric_ExponentialHistogram:
		return len(d.ExponentialHistogram.DataPoints) > 0
	}
	return false
}

// Spans returns the spans received so far.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Span(nil), c.spans...)
}

// Metrics returns the names of metrics received with data points, mapped to
// the service that sent them.
func (c *Collector) Metrics() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.metrics))
	for k, v := range c.metrics {
		out[k] = v
	}
	return out
}

// Logs returns the log records received so far.
func (c *Collector) Logs() []*logspb.LogRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*logspb.LogRecord(nil), c.logs...)
}

// AttrString finds key among attrs and returns its value as a string.
func AttrString(attrs []*commonpb.KeyValue, key string) string {
	for _, kv := range attrs {
		if kv.Key != key {
			continue
		}
		switch v := kv.Value.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			return v.StringValue
		case *commonpb.AnyValue_IntValue:
			return strconv.FormatInt(v.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			if v.BoolValue {
				return "true"
			}
			return "false"
		}
	}
	return ""
}
