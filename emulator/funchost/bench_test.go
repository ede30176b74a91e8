package funchost

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	amqp "github.com/rabbitmq/amqp091-go"
)

func BenchmarkRouteMatch(b *testing.B) {
	r, err := ParseRoute("api/orders/{id:guid}/items/{n:int:min(1)}")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, ok := r.Match("/api/orders/3f2504e0-4f89-11d3-9a0c-0305e82c3301/items/7"); !ok {
			b.Fatal("no match")
		}
	}
}

func BenchmarkHTTPPayloadBody(b *testing.B) {
	body := []byte(`{"customerName":"Ada","items":[{"productId":"p1","quantity":2}]}`)
	for b.Loop() {
		r := httptest.NewRequest("POST", "http://localhost:7071/api/orders/5?x=1", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		p := httpRequestPayload("req", r, body, map[string]string{"id": "5"}, localIdentities("Admin"))
		if _, err := p.Body("CreateOrder", time.Now(), "g"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTTPInvocation is one payload-mode HTTP request through the host
// to a real handler process and back.
func BenchmarkHTTPInvocation(b *testing.B) {
	a := setup(b, appSpec{functions: map[string]string{"Ret": fnReturn}})
	for b.Loop() {
		if resp, _ := a.do(b, http.MethodGet, "/api/ret", nil, nil); resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkHTTPProxying is the proxy hop of an HTTP function in
// proxying mode (the app's host.json; the order intake's path through the
// host): per-op time
// and allocations of the host, the test handler and the client together.
func BenchmarkHTTPProxying(b *testing.B) {
	a := setup(b, appSpec{
		customHandler: map[string]any{"enableProxyingHttpRequest": true},
		functions:     map[string]string{"Echo": fnEcho},
	})
	body := `{"customerName":"Bench Client","customerEmail":"bench@example.com","items":[{"productId":"a0000000-0000-4000-8000-000000000005","quantity":1}]}`
	b.ReportAllocs()
	for b.Loop() {
		if resp, _ := a.do(b, http.MethodPost, "/api/echo/x", strings.NewReader(body), nil); resp.StatusCode != http.StatusCreated {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// benchEvent is an OrderCreated event as the order intake publishes it.
const benchEvent = `{"version":1,"eventId":"0b3c2d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e","type":"OrderCreated",` +
	`"orderId":"7e6d5c4b-3a2f-4e1d-8c0b-9a8f7e6d5c4b","customer":{"name":"Bench Client","email":"bench@example.com"},` +
	`"items":[{"productId":"a0000000-0000-4000-8000-000000000005","name":"Mug","quantity":2,"unitPrice":"9.50"},` +
	`{"productId":"a0000000-0000-4000-8000-000000000001","name":"Coffee beans","quantity":1,"unitPrice":"24.90"}],` +
	`"total":"43.90","createdAt":"2026-11-26T10:00:00.123456Z"}`

const benchTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// benchSBMessage is the OrderCreated event as azservicebus hands it to the
// Service Bus trigger, with the trace properties the publisher adds.
func benchSBMessage() *azservicebus.ReceivedMessage {
	enq := time.Date(2026, 11, 26, 10, 0, 0, 123456700, time.UTC)
	exp := enq.Add(14 * 24 * time.Hour)
	return &azservicebus.ReceivedMessage{
		Body: []byte(benchEvent), DeliveryCount: 1, LockToken: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		MessageID: "0b3c2d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", SequenceNumber: ptr(int64(42)), EnqueuedTime: &enq, ExpiresAt: &exp,
		ContentType: ptr("application/json"), Subject: ptr("order.created"),
		ApplicationProperties: map[string]any{"type": "OrderCreated", "traceparent": benchTraceparent, "Diagnostic-Id": benchTraceparent},
	}
}

// benchDelivery is the OrderCreated event as amqp091 hands it to the
// RabbitMQ trigger.
func benchDelivery() amqp.Delivery {
	return amqp.Delivery{
		ConsumerTag: "amq.ctag-Qx1bY2cZ3dW4eV5fU6gT7h", DeliveryTag: 17, Exchange: "orders", RoutingKey: "order.created",
		MessageId: "0b3c2d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", Type: "OrderCreated", ContentType: "application/json",
		DeliveryMode: amqp.Persistent, Timestamp: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		Headers: amqp.Table{"traceparent": benchTraceparent}, Body: []byte(benchEvent),
	}
}

// BenchmarkServiceBusPayload builds the invocation body of one Service Bus
// message (dataType binary, as our function.json files set).
func BenchmarkServiceBusPayload(b *testing.B) {
	bind := &Binding{Name: "message", DataType: "binary"}
	conn := sbConn{fqns: "localhost", identifier: "localhost-7b6a5f4e-3d2c-4b1a-9f8e-7d6c5b4a3f2e"}
	m := benchSBMessage()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sbPayload(bind, m, conn, nil).Body("ProcessOrder", now, "1f2e3d4c-5b6a-4f7e-8d9c-0b1a2f3e4d5c"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRabbitMQPayload builds the invocation body of one RabbitMQ
// delivery (dataType binary).
func BenchmarkRabbitMQPayload(b *testing.B) {
	bind := &Binding{Name: "message", DataType: "binary"}
	dl := benchDelivery()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rabbitPayload(bind, dl).Body("ProcessOrderRabbitMQ", now, "1f2e3d4c-5b6a-4f7e-8d9c-0b1a2f3e4d5c"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseResult reads a consumer's answer as the dispatcher does.
func BenchmarkParseResult(b *testing.B) {
	body := `{"Outputs":{},"Logs":["order 7e6d5c4b-3a2f-4e1d-8c0b-9a8f7e6d5c4b confirmed (message 0b3c2d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e, delivery 1)"],"ReturnValue":null}`
	b.ReportAllocs()
	for b.Loop() {
		resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}
		if _, err := parseResult(resp); err != nil {
			b.Fatal(err)
		}
	}
}
