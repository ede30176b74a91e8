package e2e_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/orderflow/orderflow/functions/apptest"
	"github.com/orderflow/orderflow/telemetry/otlptest"
)

// TestTelemetryOneTracePerOrder exports the handler's and the host's
// telemetry to a plain OTLP collector and checks that one order makes one
// trace: the host's (Azure) or the Lambda invocation's (Lambda) and the
// handler's HTTP server spans, the PostgreSQL spans of the transaction, the
// publish span, and each consumer's process span with its own database
// work, all chained by parent ids. Under Lambda everything arrives only
// through the flush at the end of each invocation: the runtimes are frozen
// (here: idle) between invocations.
func TestTelemetryOneTracePerOrder(t *testing.T) {
	t.Parallel()
	forEachCase(t, func(t *testing.T, c apptest.Case) {
		kind := c.Broker
		col := otlptest.Start(t)
		a := start(t, c, apptest.Options{OTLPEndpoint: col.URL})
		id := a.PlaceOrder(t, seededProduct, 1)
		a.WaitProcessed(t, 1, time.Minute)

		var trace []otlptest.Span
		a.WaitFor(t, "the order's trace with both consumers and their database work", 20*time.Second, func() (bool, string) {
			trace = orderTrace(col.Spans(), id)
			missing := missingLinks(c.Target, trace)
			return len(missing) == 0, fmt.Sprintf("missing %v in %d spans: %s", missing, len(trace), names(trace))
		})
		t.Logf("trace %s: %s", trace[0].TraceID(), names(trace))
		byID := map[string]otlptest.Span{}
		for _, s := range trace {
			byID[s.SpanID()] = s
		}
		roots := 0
		for _, s := range trace {
			if s.ParentID() == "" {
				roots++
				if !rootSpan(c.Target)(s) {
					t.Errorf("root span %q of %s, want the %s host's or invocation's server span", s.Name, s.Service, c.Target)
				}
			} else if _, ok := byID[s.ParentID()]; !ok {
				t.Errorf("span %q (%s) has parent %s outside the trace", s.Name, s.Service, s.ParentID())
			}
		}
		if roots != 1 {
			t.Errorf("%d root spans, want 1", roots)
		}
		// Each consumer's process span descends from the publish span.
		publish := find(trace, func(s otlptest.Span) bool { return s.Kind == tracepb.Span_SPAN_KIND_PRODUCER })
		for _, fn := range []string{"ProcessOrder", "SendEmail"} {
			p := find(trace, func(s otlptest.Span) bool {
				return s.Service == "orderflow-handler" && s.Kind == tracepb.Span_SPAN_KIND_CONSUMER && strings.HasPrefix(s.Attr("orderflow.function"), fn)
			})
			if !descends(byID, p, publish) {
				t.Errorf("%s's process span does not descend from the publish span", fn)
			}
			if d := p.Attr("messaging.destination.name"); d == "" || strings.HasPrefix(d, ":") || strings.HasSuffix(d, ":") {
				t.Errorf("%s: messaging.destination.name = %q", fn, d)
			}
			if p.Attr("messaging.system") != string(kind) {
				t.Errorf("%s: messaging.system = %q, want %q", fn, p.Attr("messaging.system"), kind)
			}
		}
		if publish.Attr("messaging.system") != string(kind) || publish.Attr("messaging.operation.type") != "send" || publish.Attr("messaging.destination.name") == "" {
			t.Errorf("publish span attributes: system %q, operation %q, destination %q", publish.Attr("messaging.system"),
				publish.Attr("messaging.operation.type"), publish.Attr("messaging.destination.name"))
		}

		want := []string{"orderflow.orders.created", "orderflow.orders.processed", "messaging.client.sent.messages",
			"messaging.client.consumed.messages", "messaging.process.duration", "http.server.request.duration", "orderflow.outbox.pending"}
		// The local host's own, Functions or Lambda.
		want = append(want, "faas.invoke_duration", "faas.invocations")
		if kind == apptest.RabbitMQ {
			want = append(want, "rabbitmq.queue.messages")
		} else {
			want = append(want, "servicebus.entity.messages", "servicebus.entity.dead_letter_messages")
		}
		a.WaitFor(t, "the metrics", 20*time.Second, func() (bool, string) {
			got := col.Metrics()
			var missing []string
			for _, m := range want {
				if _, ok := got[m]; !ok {
					missing = append(missing, m)
				}
			}
			return len(missing) == 0, fmt.Sprintf("missing %v", missing)
		})
	})
}

// orderTrace returns every span of the trace whose handler server span
// answered POST /api/orders for this order (the trace of the first such
// span with all parts is enough: the test places one order).
func orderTrace(spans []otlptest.Span, _ string) []otlptest.Span {
	var tid string
	for _, s := range spans {
		if s.Service == "orderflow-handler" && s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.Name == "POST /api/orders" {
			tid = s.TraceID()
		}
	}
	if tid == "" {
		return nil
	}
	var out []otlptest.Span
	for _, s := range spans {
		if s.TraceID() == tid {
			out = append(out, s)
		}
	}
	return out
}

// rootSpan matches the span a trace of target starts with: the local
// Functions host's HTTP server span, or otellambda's invocation span of the
// Api function (a SERVER span of the bootstrap with faas.invocation_id).
func rootSpan(target apptest.Target) func(otlptest.Span) bool {
	if target == apptest.Lambda {
		return func(s otlptest.Span) bool {
			return s.Service == "orderflow-handler" && s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.Attr("faas.invocation_id") != "" &&
				s.Scope == "go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-lambda-go/otellambda"
		}
	}
	return func(s otlptest.Span) bool {
		return s.Service == "funchost" && s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.Name == "POST /api/orders"
	}
}

// missingLinks names the parts of the chain not yet in the trace.
func missingLinks(target apptest.Target, trace []otlptest.Span) []string {
	checks := []struct {
		name string
		ok   func(otlptest.Span) bool
	}{
		{string(target) + " host or invocation server span", rootSpan(target)},
		{"handler HTTP server span", func(s otlptest.Span) bool {
			return s.Service == "orderflow-handler" && s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.Name == "POST /api/orders"
		}},
		{"database span", func(s otlptest.Span) bool { return s.Attr("db.system.name") == "postgresql" }},
		{"publish span", func(s otlptest.Span) bool { return s.Kind == tracepb.Span_SPAN_KIND_PRODUCER }},
		{"ProcessOrder process span", consumerSpan("ProcessOrder")},
		{"SendEmail process span", consumerSpan("SendEmail")},
	}
	var missing []string
	for _, c := range checks {
		if find(trace, c.ok).Span == nil {
			missing = append(missing, c.name)
		}
	}
	// Database work inside each consumer.
	byID := map[string]otlptest.Span{}
	for _, s := range trace {
		byID[s.SpanID()] = s
	}
	// The host exports its spans in its own batches, and a delivery's span
	// ends only after settlement: wait until no span's parent is missing.
	for _, s := range trace {
		if _, ok := byID[s.ParentID()]; s.ParentID() != "" && !ok {
			missing = append(missing, "parent of "+s.Service+":"+s.Name)
		}
	}
	for _, fn := range []string{"ProcessOrder", "SendEmail"} {
		p := find(trace, consumerSpan(fn))
		if p.Span == nil {
			continue
		}
		if find(trace, func(s otlptest.Span) bool { return s.Attr("db.system.name") == "postgresql" && descends(byID, s, p) }).Span == nil {
			missing = append(missing, fn+" database span")
		}
	}
	return missing
}

func consumerSpan(fn string) func(otlptest.Span) bool {
	return func(s otlptest.Span) bool {
		return s.Service == "orderflow-handler" && s.Kind == tracepb.Span_SPAN_KIND_CONSUMER && strings.HasPrefix(s.Attr("orderflow.function"), fn)
	}
}

func find(spans []otlptest.Span, ok func(otlptest.Span) bool) otlptest.Span {
	for _, s := range spans {
		if ok(s) {
			return s
		}
	}
	return otlptest.Span{}
}

// descends reports whether s has anc among its ancestors.
func descends(byID map[string]otlptest.Span, s, anc otlptest.Span) bool {
	if s.Span == nil || anc.Span == nil {
		return false
	}
	for i := 0; i < 64 && s.ParentID() != ""; i++ {
		if s.ParentID() == anc.SpanID() {
			return true
		}
		var ok bool
		if s, ok = byID[s.ParentID()]; !ok {
			return false
		}
	}
	return false
}

func names(spans []otlptest.Span) string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Service+":"+s.Name)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// forEachAzureBroker runs fn as a parallel subtest per broker on the Azure
// target, for what only the local Functions host has (its control API).
func forEachAzureBroker(t *testing.T, fn func(t *testing.T, kind apptest.Broker)) {
	for _, kind := range apptest.Brokers {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}
