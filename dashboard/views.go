package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/internal/hostapi"
	"github.com/orderflow/orderflow/shared/deadletter"
)

var funcs = template.FuncMap{
	"ms": func(d time.Duration) string {
		return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
	},
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("15:04:05.000")
	},
	"short": func(s string) string {
		if len(s) > 8 {
			return s[:8]
		}
		return s
	},
	"join":   strings.Join,
	"levels": func() []string { return []string{"", "debug", "info", "warn", "error"} },
}

// page renders a page inside the layout.
func (d *Dashboard) page(w http.ResponseWriter, name, title string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	err := d.pages.ExecuteTemplate(w, "layout.html", map[string]any{"Page": name, "Title": title, "Data": data})
	if err != nil {
		d.cfg.Logger.Error("rendering page", "page", name, "err", err)
	}
}

// --- Resources ---

type checkView struct{ Name, Kind, Detail, State, Error string }

func (d *Dashboard) hostCall(ctx context.Context, method, path string) (*http.Response, error) {
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequestWithContext(ctx, method, d.cfg.HostURL+path, body)
	if err != nil {
		return nil, err
	}
	// The host's admin rules: a JSON body on POST, and no Origin (the
	// browser's request to the dashboard is not passed on).
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if d.cfg.HostKey != "" {
		req.Header.Set("x-functions-key", d.cfg.HostKey)
	}
	return d.client.Do(req)
}

func (d *Dashboard) resources(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	data := map[string]any{"HostURL": d.cfg.HostURL}
	if d.cfg.HostURL != "" {
		var st hostapi.HostStatus
		resp, err := d.hostCall(ctx, http.MethodGet, "/admin/host/status")
		if err == nil {
			err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
			resp.Body.Close()
		}
		if err != nil {
			data["HostError"] = err.Error()
		}
		data["Host"] = st
	}
	var checks []checkView
	for _, c := range d.cfg.Checks {
		v := checkView{Name: c.Name, Kind: c.Kind, Detail: c.Detail, State: "healthy"}
		if c.Probe != nil {
			if err := c.Probe(ctx); err != nil {
				v.State, v.Error = "unhealthy", err.Error()
			}
		}
		checks = append(checks, v)
	}
	data["Checks"] = checks
	d.page(w, "resources", "Resources", data)
}

func (d *Dashboard) functionAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != "stop" && action != "start" {
		http.Error(w, "action must be stop or start", http.StatusNotFound)
		return
	}
	d.forward(w, r, "/admin/host/functions/"+url.PathEscape(r.PathValue("name"))+"/"+action)
}

func (d *Dashboard) instanceRestart(w http.ResponseWriter, r *http.Request) {
	if _, err := strconv.Atoi(r.PathValue("index")); err != nil {
		http.Error(w, "the instance must be a number", http.StatusBadRequest)
		return
	}
	d.forward(w, r, "/admin/host/instances/"+r.PathValue("index")+"/restart")
}

func (d *Dashboard) forward(w http.ResponseWriter, r *http.Request, path string) {
	if d.cfg.HostURL == "" {
		http.Error(w, "no host configured", http.StatusNotFound)
		return
	}
	resp, err := d.hostCall(r.Context(), http.MethodPost, path)
	if err != nil {
		http.Error(w, "host unreachable: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 64<<10))
}

// --- Logs ---

func filterOf(r *http.Request) logFilter {
	q := r.URL.Query()
	return logFilter{Function: q.Get("function"), Level: q.Get("level"), TraceID: q.Get("trace")}
}

func (d *Dashboard) logsPage(w http.ResponseWriter, r *http.Request) {
	f := filterOf(r)
	logs, _ := d.store.logsAfter(0, f, 500)
	d.page(w, "logs", "Logs", map[string]any{"Logs": logs, "Filter": f})
}

// logStream sends new matching log records as server-sent events until the
// client leaves or the server stops.
func (d *Dashboard) logStream(w http.ResponseWriter, r *http.Request) {
	f := filterOf(r)
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	if id, err := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64); err == nil {
		after = id
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	for {
		// Each write gets its own deadline: the server-wide WriteTimeout
		// would otherwise cut the stream.
		_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		logs, changed := d.store.logsAfter(after, f, 500)
		for _, l := range logs {
			b, _ := json.Marshal(l)
			if _, err := fmt.Fprintf(w, "id: %d\ndata: %s\n\n", l.Seq, b); err != nil {
				return
			}
			after = l.Seq
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-d.quit:
			return
		case <-changed:
		case <-time.After(25 * time.Second):
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
		}
	}
}

// --- Traces ---

func (d *Dashboard) tracesPage(w http.ResponseWriter, r *http.Request) {
	d.page(w, "traces", "Traces", map[string]any{"Traces": d.store.traces(200)})
}

type spanView struct {
	Span
	Depth         int
	Offset, Width float64 // percent of the trace
	Duration      time.Duration
	BrokerHop     bool // a consumer span continuing a producer's message
}

func (d *Dashboard) tracePage(w http.ResponseWriter, r *http.Request) {
	spans, depth := d.store.trace(r.PathValue("id"))
	if len(spans) == 0 {
		w.WriteHeader(http.StatusNotFound)
	}
	var start, end time.Time
	for _, s := range spans {
		if start.IsZero() || s.Start.Before(start) {
			start = s.Start
		}
		if s.End.After(end) {
			end = s.End
		}
	}
	total := float64(end.Sub(start))
	if total <= 0 {
		total = 1
	}
	kindOf := map[string]string{}
	for _, s := range spans {
		kindOf[s.SpanID] = s.Kind
	}
	views := make([]spanView, len(spans))
	for i, s := range spans {
		views[i] = spanView{Span: s, Depth: depth[i], Duration: s.End.Sub(s.Start),
			Offset: 100 * float64(s.Start.Sub(start)) / total, Width: math.Max(0.3, 100*float64(s.End.Sub(s.Start))/total),
			BrokerHop: s.Kind == "consumer" && kindOf[s.ParentID] == "producer"}
	}
	d.page(w, "trace", "Trace "+r.PathValue("id"), map[string]any{"TraceID": r.PathValue("id"), "Spans": views,
		"Duration": end.Sub(start), "Start": start})
}

// --- Metrics ---

type chartView struct {
	Series
	Path       string // SVG polyline points
	Min, Max   float64
	Last       float64
	From, To   time.Time
	PointCount int
}

func (d *Dashboard) metricsPage(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	data := map[string]any{"Names": d.store.metricNames(), "Name": name}
	if name != "" {
		var charts []chartView
		for _, s := range d.store.seriesOf(name) {
			charts = append(charts, chart(s))
		}
		data["Charts"] = charts
	}
	d.page(w, "metrics", "Metrics", data)
}

// chart scales a series into a 600×120 SVG polyline.
func chart(s Series) chartView {
	c := chartView{Series: s, PointCount: len(s.Points)}
	if len(s.Points) == 0 {
		return c
	}
	c.Min, c.Max = math.Inf(1), math.Inf(-1)
	for _, p := range s.Points {
		c.Min, c.Max = math.Min(c.Min, p.Value), math.Max(c.Max, p.Value)
	}
	c.From, c.To, c.Last = s.Points[0].Time, s.Points[len(s.Points)-1].Time, s.Points[len(s.Points)-1].Value
	span := float64(c.To.Sub(c.From))
	vr := c.Max - c.Min
	var b strings.Builder
	for i, p := range s.Points {
		x := 0.0
		if span > 0 {
			x = 600 * float64(p.Time.Sub(c.From)) / span
		}
		y := 60.0
		if vr > 0 {
			y = 115 - 110*(p.Value-c.Min)/vr
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x, y)
	}
	c.Path = b.String()
	return c
}

// --- Queues ---

type queueView struct {
	Consumer   string
	Live, Dead int
	Error      string
}

func (d *Dashboard) queuesPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var rows []queueView
	if d.cfg.Queues != nil {
		for _, c := range d.cfg.Consumers {
			v := queueView{Consumer: c}
			dp, err := d.cfg.Queues.Depth(ctx, c)
			if err != nil {
				v.Error = err.Error()
			}
			v.Live, v.Dead = dp.Live, dp.Dead
			rows = append(rows, v)
		}
	}
	d.page(w, "queues", "Queues", map[string]any{"Broker": d.cfg.Broker, "Queues": rows, "Max": deadletter.MaxCounted})
}

func (d *Dashboard) knownConsumer(c string) bool {
	for _, k := range d.cfg.Consumers {
		if k == c {
			return true
		}
	}
	return false
}

func (d *Dashboard) deadLettersPage(w http.ResponseWriter, r *http.Request) {
	c := r.PathValue("consumer")
	if d.cfg.Queues == nil || !d.knownConsumer(c) {
		http.Error(w, "no such consumer", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	msgs, err := d.cfg.Queues.List(ctx, c, 50)
	data := map[string]any{"Consumer": c, "Messages": msgs}
	if err != nil {
		data["Error"] = err.Error()
	}
	d.page(w, "deadletters", "Dead letters of "+c, data)
}

func (d *Dashboard) queueAction(w http.ResponseWriter, r *http.Request) {
	c, action := r.PathValue("consumer"), r.PathValue("action")
	if d.cfg.Queues == nil || !d.knownConsumer(c) {
		http.Error(w, "no such consumer", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	var n int
	var err error
	switch action {
	case "replay":
		n, err = d.cfg.Queues.Replay(ctx, c, 1000)
	case "purge":
		n, err = d.cfg.Queues.Purge(ctx, c)
	default:
		http.Error(w, "action must be replay or purge", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("%s %s after %d messages: %v", action, c, n, err), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"messages": n})
}
