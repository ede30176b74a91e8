package lambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/functions/lambda"
	"github.com/orderflow/orderflow/shared/topology"
)

const (
	clientParent     = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	invocationTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	invocationParent = "00-" + invocationTrace + "-00f067aa0ba902b7-01"
)

// seen records what the app's handler was given.
type seen struct {
	mu      sync.Mutex
	headers []http.Header
	bodies  [][]byte
}

func (s *seen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.headers, s.bodies = append(s.headers, r.Header.Clone()), append(s.bodies, b)
	s.mu.Unlock()
	_, _ = io.WriteString(w, `{"Logs":[]}`)
}

// invocationContext is a context holding the span of otellambda's
// invocation span, as the bootstrap's instrumented handler gets it.
func invocationContext(t *testing.T) context.Context {
	t.Helper()
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": invocationParent})
	if !trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatal("invalid test span context")
	}
	return ctx
}

// TestInvocationTraceContextReachesTheHandler: with a propagator the
// handler's request carries the invocation span's context (replacing the
// client's traceparent, which that span already continued), for HTTP and
// for consumer invocations; without one the client's headers stay.
func TestInvocationTraceContextReachesTheHandler(t *testing.T) {
	t.Parallel()
	ctx := invocationContext(t)
	ev := httpEvent("GET", "/api/products", "", map[string]string{"traceparent": clientParent}, "")
	for _, tc := range []struct {
		name string
		prop propagation.TextMapPropagator
		want string
	}{{"propagator", propagation.TraceContext{}, invocationParent}, {"none", nil, clientParent}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := &seen{}
			ad, err := lambda.New(lambda.Config{Handler: h, Propagator: tc.prop})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ad.HTTP(ctx, ev); err != nil {
				t.Fatal(err)
			}
			if got := h.headers[0].Get("traceparent"); got != tc.want {
				t.Errorf("HTTP: traceparent %q, want %q", got, tc.want)
			}
			if err := ad.Scheduled(ctx, events.EventBridgeEvent{}); err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if tc.prop == nil {
				want = ""
			}
			if got := h.headers[1].Get("traceparent"); got != want {
				t.Errorf("invocation: traceparent %q, want %q", got, want)
			}
		})
	}
}

// TestMessageHeadersReachTheHandlerAsTheFunctionsExtensionSends: the
// event source's {"bytes": [...]} header (a traceparent) reaches the
// handler as base64 text, the Functions RabbitMQ extension's form that
// functions/handler reads; other values are unchanged.
func TestMessageHeadersReachTheHandlerAsTheFunctionsExtensionSends(t *testing.T) {
	t.Parallel()
	sub, _ := topology.Default().Subscription(lambda.FunctionProcessOrder)
	raw := []any{}
	for _, b := range []byte(clientParent) {
		raw = append(raw, float64(b))
	}
	id := "m-1"
	ev := events.RabbitMQEvent{MessagesByQueue: map[string][]events.RabbitMQMessage{sub.Name + "::/": {{
		BasicProperties: events.RabbitMQBasicProperties{MessageID: &id, Headers: map[string]any{
			"traceparent": map[string]any{"bytes": raw}, "plain": "text", "count": float64(3),
			"notBytes": map[string]any{"bytes": []any{float64(300)}},
		}},
		Data: base64.StdEncoding.EncodeToString([]byte(`{}`)),
	}}}}
	h := &seen{}
	ad, err := lambda.New(lambda.Config{Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	if err := ad.RabbitMQ(context.Background(), lambda.FunctionProcessOrder, ev); err != nil {
		t.Fatal(err)
	}
	var inv struct {
		Metadata struct {
			BasicProperties struct {
				Headers map[string]any
			}
		}
	}
	if err := json.Unmarshal(h.bodies[0], &inv); err != nil {
		t.Fatal(err)
	}
	got := inv.Metadata.BasicProperties.Headers
	if got["traceparent"] != base64.StdEncoding.EncodeToString([]byte(clientParent)) {
		t.Errorf("traceparent header %v", got["traceparent"])
	}
	if got["plain"] != "text" || got["count"] != float64(3) {
		t.Errorf("other headers changed: %v", got)
	}
	if m, ok := got["notBytes"].(map[string]any); !ok || m["bytes"] == nil {
		t.Errorf("out-of-range bytes were converted: %v", got["notBytes"])
	}
}
