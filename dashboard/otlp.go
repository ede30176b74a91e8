package dashboard

import (
	"io"
	"mime"
	"net/http"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// maxOTLPBody bounds one export request.
const maxOTLPBody = 8 << 20

// otlpHandler receives OTLP/HTTP exports (protobuf or JSON) on /v1/traces,
// /v1/metrics and /v1/logs, as the standard exporters send them.
func (d *Dashboard) otlpHandler(signal string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != "application/x-protobuf" && ct != "application/json" {
			http.Error(w, "Content-Type must be application/x-protobuf or application/json", http.StatusUnsupportedMediaType)
			return
		}
		if r.Header.Get("Content-Encoding") != "" {
			// The exporters compress only when asked (OTEL_EXPORTER_OTLP_COMPRESSION).
			http.Error(w, "compressed exports are not accepted; unset OTEL_EXPORTER_OTLP_COMPRESSION", http.StatusUnsupportedMediaType)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOTLPBody))
		if err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		unmarshal := proto.Unmarshal
		if ct == "application/json" {
			unmarshal = func(b []byte, m proto.Message) error { return protojson.Unmarshal(b, m) }
		}
		var resp proto.Message
		switch signal {
		case "traces":
			var req coltrace.ExportTraceServiceRequest
			if err = unmarshal(body, &req); err == nil {
				d.store.addSpans(req.GetResourceSpans())
			}
			resp = &coltrace.ExportTraceServiceResponse{}
		case "metrics":
			var req colmetrics.ExportMetricsServiceRequest
			if err = unmarshal(body, &req); err == nil {
				d.store.addMetrics(req.GetResourceMetrics())
			}
			resp = &colmetrics.ExportMetricsServiceResponse{}
		case "logs":
			var req collogs.ExportLogsServiceRequest
			if err = unmarshal(body, &req); err == nil {
				d.store.addLogs(req.GetResourceLogs())
			}
			resp = &collogs.ExportLogsServiceResponse{}
		}
		if err != nil {
			http.Error(w, "decoding OTLP "+signal+": "+err.Error(), http.StatusBadRequest)
			return
		}
		var out []byte
		if ct == "application/json" {
			out, _ = protojson.Marshal(resp)
		} else {
			out, _ = proto.Marshal(resp)
		}
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(out)
	}
}
