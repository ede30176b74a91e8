package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/orderflow/orderflow/telemetry"
)

func TestHTTPHeadersCarryTheClientsTraceContext(t *testing.T) {
	t.Parallel()
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	c := httpHeaders([]byte(`{"version":"2.0","headers":{"traceparent":"` + tp + `","tracestate":"a=b"}}`))
	if c.Get("traceparent") != tp || c.Get("tracestate") != "a=b" {
		t.Errorf("carrier %v", c.Keys())
	}
	for _, ev := range []string{`{"rmqMessagesByQueue":{}}`, `[1,2]`, `not json`} {
		if keys := httpHeaders([]byte(ev)).Keys(); len(keys) != 0 {
			t.Errorf("%s: carrier keys %v, want none", ev, keys)
		}
	}
}

// TestFlushIsBounded: a collector that never answers costs an invocation
// flushTimeout, not its whole deadline.
func TestFlushIsBounded(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer col.Close()
	defer close(release)
	tel, err := telemetry.Start(context.Background(), telemetry.Config{ServiceName: "t", Endpoint: col.URL,
		BatchDelay: time.Hour, MetricInterval: time.Hour, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = tel.Shutdown(ctx)
	}()
	_, span := tel.Tracer.Tracer("t").Start(context.Background(), "work")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	err = flusher{tel}.ForceFlush(ctx)
	if took := time.Since(start); err == nil || took > flushTimeout+time.Second {
		t.Fatalf("flush to a silent collector: err %v after %s, want an error within %s", err, took, flushTimeout)
	}
}
