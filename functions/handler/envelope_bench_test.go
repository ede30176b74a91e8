package handler

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// benchEvent is an OrderCreated event as the order intake publishes it.
const benchEvent = `{"version":1,"eventId":"0b3c2d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e","type":"OrderCreated",` +
	`"orderId":"7e6d5c4b-3a2f-4e1d-8c0b-9a8f7e6d5c4b","customer":{"name":"Bench Client","email":"bench@example.com"},` +
	`"items":[{"productId":"a0000000-0000-4000-8000-000000000005","name":"Mug","quantity":2,"unitPrice":"9.50"},` +
	`{"productId":"a0000000-0000-4000-8000-000000000001","name":"Coffee beans","quantity":1,"unitPrice":"24.90"}],` +
	`"total":"43.90","createdAt":"2026-11-26T10:00:00.123456Z"}`

const benchTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// benchInvocation is the invocation fixture of a queue trigger carrying
// benchEvent, compact as the host sends it, with the trace properties the
// publishers add (Service Bus application properties, RabbitMQ headers as
// the extension serialises them).
func benchInvocation(tb testing.TB, fixture string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/payload/" + fixture)
	if err != nil {
		tb.Fatal(err)
	}
	r := strings.NewReplacer(
		"{{body64}}", base64.StdEncoding.EncodeToString([]byte(benchEvent)),
		"{{bodyLen}}", strconv.Itoa(len(benchEvent)),
		"{{messageId}}", "0b3c2d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
		"{{deliveryCount}}", "1",
		`{ "type": "OrderCreated" }`, `{"Diagnostic-Id":"`+benchTraceparent+`","traceparent":"`+benchTraceparent+`","type":"OrderCreated"}`,
		`"Headers": null`, `"Headers":{"traceparent":"`+base64.StdEncoding.EncodeToString([]byte(benchTraceparent))+`"}`,
	)
	var out bytes.Buffer
	if err := json.Compact(&out, []byte(r.Replace(string(b)))); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// discardResponse is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler's own work.
type discardResponse struct{ h http.Header }

func (d *discardResponse) Header() http.Header         { return d.h }
func (d *discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardResponse) WriteHeader(int)             {}

// BenchmarkInvocationEnvelope is a queue invocation without the database:
// read and decode the envelope, recover the event and the delivery facts
// the consumer and its span use, and answer with the result envelope.
func BenchmarkInvocationEnvelope(b *testing.B) {
	for _, c := range []struct{ name, fixture, function string }{
		{"servicebus", "processorder_servicebus.json", "ProcessOrder"},
		{"rabbitmq", "processorder_rabbitmq.json", "ProcessOrderRabbitMQ"},
	} {
		b.Run(c.name, func(b *testing.B) {
			body := benchInvocation(b, c.fixture)
			h := &Handler{cfg: Config{}.withDefaults()}
			serve := h.invocation(func(_ context.Context, inv Invocation) ([]string, error) {
				ev, note, err := orderCreated(inv)
				if err != nil {
					return nil, err
				}
				if d := delivery(inv.Metadata); d.messageID == "" || len(d.props) == 0 {
					return nil, fmt.Errorf("delivery facts missing: %+v", d)
				}
				return []string{fmt.Sprintf("order %s confirmed (%s)", ev.OrderID, note)}, nil
			})
			r, err := http.NewRequest(http.MethodPost, "/"+c.function, nil)
			if err != nil {
				b.Fatal(err)
			}
			w := &discardResponse{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				r.Body = io.NopCloser(bytes.NewReader(body))
				serve(w, r)
				if w.h.Get("Content-Type") != "application/json" {
					b.Fatal("no result envelope")
				}
			}
		})
	}
}
