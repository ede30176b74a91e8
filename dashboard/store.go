package dashboard

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Span is one stored span.
type Span struct {
	TraceID, SpanID, ParentID string
	Service, Name, Kind       string
	Start, End                time.Time
	Error                     bool
	StatusMessage             string
	Attrs                     []Attr
	Events                    []Event
	Links                     []string // linked span ids
}

// Attr is an attribute as text.
type Attr struct{ Key, Value string }

// Event is a span event.
type Event struct {
	Name  string
	Time  time.Time
	Attrs []Attr
}

// Attr returns the value of key ("" if absent).
func (s Span) Attr(key string) string { return attrOf(s.Attrs, key) }

func attrOf(attrs []Attr, key string) string {
	for _, a := range attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

// LogRecord is one stored log record.
type LogRecord struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Service  string    `json:"service"`
	Level    string    `json:"level"`
	Body     string    `json:"body"`
	Function string    `json:"function"`
	TraceID  string    `json:"traceId"`
	SpanID   string    `json:"spanId"`
	Attrs    []Attr    `json:"attrs"`
}

// Point is one metric sample.
type Point struct {
	Time  time.Time
	Value float64
}

// Series is one metric time series: a metric of one service with one
// attribute set.
type Series struct {
	Metric, Service, Labels, Unit, Kind string
	Points                              []Point // oldest first, bounded
}

// store keeps telemetry in bounded ring buffers.
type store struct {
	cfg Config

	mu      sync.Mutex
	spans   ring[Span]
	logs    ring[LogRecord]
	logSeq  uint64
	series  map[string]*Series
	changed chan struct{} // closed and replaced on every new log record
	// spanFunc maps a stored span to the function it ran in, so a log
	// record inside it can be filtered by function without saying so.
	spanFunc map[string]string
}

func newStore(cfg Config) *store {
	return &store{cfg: cfg, spans: ring[Span]{max: cfg.MaxSpans}, logs: ring[LogRecord]{max: cfg.MaxLogs},
		series: map[string]*Series{}, changed: make(chan struct{}), spanFunc: map[string]string{}}
}

// ring keeps the last max items pushed.
type ring[T any] struct {
	items []T
	next  int // the oldest item once full
	max   int
}

// push adds v and returns the item it dropped, if any.
func (r *ring[T]) push(v T) (dropped T, ok bool) {
	if len(r.items) < r.max {
		r.items = append(r.items, v)
		return dropped, false
	}
	dropped = r.items[r.next]
	r.items[r.next] = v
	r.next = (r.next + 1) % r.max
	return dropped, true
}

// each calls fn on every item, oldest first.
func (r *ring[T]) each(fn func(T)) {
	n := len(r.items)
	for i := range n {
		fn(r.items[(r.next+i)%n])
	}
}

func hexID(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return hex.EncodeToString(b)
}

func anyValue(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_BytesValue:
		return hex.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		parts := make([]string, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			parts = append(parts, anyValue(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case *commonpb.AnyValue_KvlistValue:
		return "{" + joinAttrs(attrs(x.KvlistValue.GetValues())) + "}"
	}
	return ""
}

// maxAttrs bounds the attributes kept per item, like other dashboards do.
const maxAttrs = 64

func attrs(kvs []*commonpb.KeyValue) []Attr {
	out := make([]Attr, 0, min(len(kvs), maxAttrs))
	for _, kv := range kvs {
		if len(out) == maxAttrs {
			break
		}
		v := anyValue(kv.GetValue())
		if len(v) > 2048 {
			v = v[:2048] + "…"
		}
		out = append(out, Attr{Key: kv.GetKey(), Value: v})
	}
	return out
}

func joinAttrs(as []Attr) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.Key + "=" + a.Value
	}
	return strings.Join(parts, ", ")
}

var spanKinds = map[tracepb.Span_SpanKind]string{
	tracepb.Span_SPAN_KIND_INTERNAL: "internal", tracepb.Span_SPAN_KIND_SERVER: "server", tracepb.Span_SPAN_KIND_CLIENT: "client",
	tracepb.Span_SPAN_KIND_PRODUCER: "producer", tracepb.Span_SPAN_KIND_CONSUMER: "consumer",
}

func (s *store) addSpans(rss []*tracepb.ResourceSpans) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range rss {
		svc := attrOf(attrs(rs.GetResource().GetAttributes()), "service.name")
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				rec := Span{TraceID: hexID(sp.GetTraceId()), SpanID: hexID(sp.GetSpanId()), ParentID: hexID(sp.GetParentSpanId()),
					Service: svc, Name: sp.GetName(), Kind: spanKinds[sp.GetKind()],
					Start: time.Unix(0, int64(sp.GetStartTimeUnixNano())), End: time.Unix(0, int64(sp.GetEndTimeUnixNano())),
					Error: sp.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR, StatusMessage: sp.GetStatus().GetMessage(),
					Attrs: attrs(sp.GetAttributes())}
				for i, ev := range sp.GetEvents() {
					if i == maxAttrs {
						break
					}
					rec.Events = append(rec.Events, Event{Name: ev.GetName(), Time: time.Unix(0, int64(ev.GetTimeUnixNano())), Attrs: attrs(ev.GetAttributes())})
				}
				for _, l := range sp.GetLinks() {
					rec.Links = append(rec.Links, hexID(l.GetSpanId()))
				}
				if old, ok := s.spans.push(rec); ok {
					delete(s.spanFunc, old.SpanID)
				}
				if fn := spanFunction(rec); fn != "" {
					s.spanFunc[rec.SpanID] = fn
				}
			}
		}
	}
}

var severities = []string{"trace", "debug", "info", "warn", "error", "fatal"}

func level(n logspb.SeverityNumber, text string) string {
	if n > 0 {
		return severities[min(int(n-1)/4, len(severities)-1)]
	}
	if text != "" {
		return strings.ToLower(text)
	}
	return "info"
}

func (s *store) addLogs(rls []*logspb.ResourceLogs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	added := false
	for _, rl := range rls {
		svc := attrOf(attrs(rl.GetResource().GetAttributes()), "service.name")
		for _, sl := range rl.GetScopeLogs() {
			for _, lr := range sl.GetLogRecords() {
				as := attrs(lr.GetAttributes())
				fn := attrOf(as, "function")
				if fn == "" {
					fn = attrOf(as, "faas.invoked_name")
				}
				t := lr.GetTimeUnixNano()
				if t == 0 {
					t = lr.GetObservedTimeUnixNano()
				}
				s.logSeq++
				rec := LogRecord{Seq: s.logSeq, Time: time.Unix(0, int64(t)), Service: svc, Level: level(lr.GetSeverityNumber(), lr.GetSeverityText()),
					Body: anyValue(lr.GetBody()), Function: fn, TraceID: hexID(lr.GetTraceId()), SpanID: hexID(lr.GetSpanId()), Attrs: as}
				s.logs.push(rec)
				added = true
			}
		}
	}
	if added {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

func (s *store) addMetrics(rms []*metricspb.ResourceMetrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rm := range rms {
		svc := attrOf(attrs(rm.GetResource().GetAttributes()), "service.name")
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				add := func(kind string, labels []*commonpb.KeyValue, t uint64, v float64) {
					key := m.GetName() + "\x00" + svc + "\x00" + joinAttrs(attrs(labels))
					ser, ok := s.series[key]
					if !ok {
						if len(s.series) >= s.cfg.MaxSeries {
							return
						}
						ser = &Series{Metric: m.GetName(), Service: svc, Labels: joinAttrs(attrs(labels)), Unit: m.GetUnit(), Kind: kind}
						s.series[key] = ser
					}
					ser.Points = append(ser.Points, Point{Time: time.Unix(0, int64(t)), Value: v})
					if over := len(ser.Points) - s.cfg.MaxPoints; over > 0 {
						ser.Points = append(ser.Points[:0], ser.Points[over:]...)
					}
				}
				num := func(dp *metricspb.NumberDataPoint) float64 {
					if x, ok := dp.GetValue().(*metricspb.NumberDataPoint_AsInt); ok {
						return float64(x.AsInt)
					}
					return dp.GetAsDouble()
				}
				switch d := m.GetData().(type) {
				case *metricspb.Metric_Sum:
					for _, dp := range d.Sum.GetDataPoints() {
						add("sum", dp.GetAttributes(), dp.GetTimeUnixNano(), num(dp))
					}
				case *metricspb.Metric_Gauge:
					for _, dp := range d.Gauge.GetDataPoints() {
						add("gauge", dp.GetAttributes(), dp.GetTimeUnixNano(), num(dp))
					}
				case *metricspb.Metric_Histogram:
					// Charted as the mean so far (sum/count); the count is a
					// counter of its own.
					for _, dp := range d.Histogram.GetDataPoints() {
						if dp.GetCount() > 0 {
							add("histogram mean", dp.GetAttributes(), dp.GetTimeUnixNano(), dp.GetSum()/float64(dp.GetCount()))
						}
					}
				}
			}
		}
	}
}

// TraceSummary is one row of the traces list.
type TraceSummary struct {
	TraceID  string
	Root     string
	Start    time.Time
	Duration time.Duration
	Spans    int
	Services []string
	Error    bool
}

// traces groups the stored spans by trace, newest first.
func (s *store) traces(limit int) []TraceSummary {
	s.mu.Lock()
	byTrace := map[string][]Span{}
	s.spans.each(func(sp Span) { byTrace[sp.TraceID] = append(byTrace[sp.TraceID], sp) })
	s.mu.Unlock()
	out := make([]TraceSummary, 0, len(byTrace))
	for id, spans := range byTrace {
		out = append(out, summarize(id, spans))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.After(out[j].Start) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func summarize(id string, spans []Span) TraceSummary {
	ts := TraceSummary{TraceID: id, Spans: len(spans)}
	ids := map[string]bool{}
	for _, sp := range spans {
		ids[sp.SpanID] = true
	}
	var end time.Time
	services := map[string]bool{}
	for _, sp := range spans {
		if ts.Start.IsZero() || sp.Start.Before(ts.Start) {
			ts.Start = sp.Start
			if ts.Root == "" || !ids[sp.ParentID] {
				ts.Root = sp.Name
			}
		}
		if sp.ParentID == "" || !ids[sp.ParentID] {
			ts.Root = sp.Name
		}
		if sp.End.After(end) {
			end = sp.End
		}
		services[sp.Service] = true
		ts.Error = ts.Error || sp.Error
	}
	ts.Duration = end.Sub(ts.Start)
	for s := range services {
		ts.Services = append(ts.Services, s)
	}
	sort.Strings(ts.Services)
	return ts
}

// trace returns the spans of one trace in waterfall order (depth first by
// start time) with their depth.
func (s *store) trace(id string) ([]Span, []int) {
	s.mu.Lock()
	var spans []Span
	s.spans.each(func(sp Span) {
		if sp.TraceID == id {
			spans = append(spans, sp)
		}
	})
	s.mu.Unlock()
	ids := map[string]bool{}
	children := map[string][]Span{}
	for _, sp := range spans {
		ids[sp.SpanID] = true
	}
	var roots []Span
	for _, sp := range spans {
		if sp.ParentID == "" || !ids[sp.ParentID] {
			roots = append(roots, sp)
		} else {
			children[sp.ParentID] = append(children[sp.ParentID], sp)
		}
	}
	byStart := func(l []Span) {
		sort.SliceStable(l, func(i, j int) bool { return l[i].Start.Before(l[j].Start) })
	}
	var out []Span
	var depth []int
	var walk func(sp Span, d int)
	walk = func(sp Span, d int) {
		out = append(out, sp)
		depth = append(depth, d)
		kids := children[sp.SpanID]
		byStart(kids)
		for _, k := range kids {
			walk(k, d+1)
		}
	}
	byStart(roots)
	for _, r := range roots {
		walk(r, 0)
	}
	return out, depth
}

// logsAfter returns stored log records with Seq > after that match f,
// oldest first, at most limit (the newest ones).
func (s *store) logsAfter(after uint64, f logFilter, limit int) ([]LogRecord, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []LogRecord
	s.logs.each(func(rec LogRecord) {
		if rec.Function == "" {
			rec.Function = s.spanFunc[rec.SpanID]
		}
		if rec.Seq > after && f.match(rec) {
			out = append(out, rec)
		}
	})
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, s.changed
}

// logFilter selects log records.
type logFilter struct{ Function, Level, TraceID string }

func (f logFilter) match(r LogRecord) bool {
	if f.Function != "" && !strings.EqualFold(r.Function, f.Function) {
		return false
	}
	if f.TraceID != "" && r.TraceID != strings.ToLower(f.TraceID) {
		return false
	}
	if f.Level != "" && levelRank(r.Level) < levelRank(f.Level) {
		return false
	}
	return true
}

func levelRank(l string) int {
	for i, s := range severities {
		if s == l {
			return i
		}
	}
	return 2
}

// metricNames lists the metric names with their services.
func (s *store) metricNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, ser := range s.series {
		if !seen[ser.Metric] {
			seen[ser.Metric] = true
			out = append(out, ser.Metric)
		}
	}
	sort.Strings(out)
	return out
}

// seriesOf returns copies of the series of one metric.
func (s *store) seriesOf(name string) []Series {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Series
	for _, ser := range s.series {
		if ser.Metric == name {
			c := *ser
			c.Points = append([]Point(nil), ser.Points...)
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return fmt.Sprint(out[i].Service, out[i].Labels) < fmt.Sprint(out[j].Service, out[j].Labels)
	})
	return out
}

// spanFunction names the function a span belongs to: the handler's
// consumer spans say orderflow.function, the host's spans faas.invoked_name.
func spanFunction(sp Span) string {
	if fn := sp.Attr("orderflow.function"); fn != "" {
		return fn
	}
	return sp.Attr("faas.invoked_name")
}
