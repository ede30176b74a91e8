package handler_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/functions/handler"
	"github.com/orderflow/orderflow/shared/email"
	"github.com/orderflow/orderflow/shared/email/emailtest"
)

// delivered places an order and returns the OrderCreated message exactly as
// the broker delivered it to the ProcessOrder queue (draining send-email).
func (e *env) delivered(body string) amqp.Delivery {
	e.t.Helper()
	e.placeOrder(body)
	d, ok := e.receive(e.top.Subscriptions[0].Name, 10*time.Second)
	if !ok {
		e.t.Fatal("no OrderCreated delivered")
	}
	if _, ok := e.receive(e.top.Subscriptions[1].Name, 10*time.Second); !ok {
		e.t.Fatal("no copy on the second subscription")
	}
	return d
}

// queuePayload fills a queue-trigger fixture with a delivery, as the host
// does for "dataType": "binary" (Data.message = base64 of the body).
func queuePayload(t *testing.T, fixture string, d amqp.Delivery, deliveryCount int) []byte {
	t.Helper()
	return payload(t, fixture, map[string]string{
		"body64":        base64.StdEncoding.EncodeToString(d.Body),
		"bodyLen":       strconv.Itoa(len(d.Body)),
		"messageId":     d.MessageId,
		"deliveryCount": strconv.Itoa(deliveryCount),
	})
}

func (e *env) getOrder(id string) map[string]any {
	e.t.Helper()
	res, body := e.do(http.MethodGet, "/api/orders/"+id, "", "")
	var o map[string]any
	if err := json.Unmarshal(body, &o); err != nil || res.StatusCode != 200 {
		e.t.Fatalf("GET order: %d %s", res.StatusCode, body)
	}
	return o
}

func (e *env) stock(productID string) int {
	e.t.Helper()
	var n int
	if err := e.store.Pool().QueryRow(e.ctx, `SELECT stock FROM products WHERE id = $1`, productID).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func orderIDOf(t *testing.T, d amqp.Delivery) string {
	t.Helper()
	var ev struct {
		OrderID string `json:"orderId"`
	}
	if err := json.Unmarshal(d.Body, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.OrderID
}

func TestProcessOrderConfirmsOnceForBothTriggers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct{ function, fixture string }{
		{"ProcessOrder", "processorder_servicebus.json"},
		{"ProcessOrderRabbitMQ", "processorder_rabbitmq.json"},
	} {
		before := e.stock(mug)
		d := e.delivered(orderBody(item(mug, 3)))
		id := orderIDOf(t, d)
		res, body := e.invoke(tc.function, queuePayload(t, tc.fixture, d, 1))
		hostAccepts(t, res, body)
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "confirmed") {
			t.Fatalf("%s: %d %s", tc.function, res.StatusCode, body)
		}
		o := e.getOrder(id)
		if o["status"] != "confirmed" || o["confirmedAt"] == nil || o["updatedAt"] == o["createdAt"] {
			t.Fatalf("%s: order after processing: %v", tc.function, o)
		}
		if e.stock(mug) != before-3 {
			t.Fatalf("%s: stock %d, want %d", tc.function, e.stock(mug), before-3)
		}
		// Redelivery of the same event changes nothing.
		res, body = e.invoke(tc.function, queuePayload(t, tc.fixture, d, 2))
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "already processed") || e.stock(mug) != before-3 {
			t.Fatalf("%s redelivery: %d %s, stock %d", tc.function, res.StatusCode, body, e.stock(mug))
		}
	}
}

func TestProcessOrderRejectsShortStock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	grinder := "a0000000-0000-4000-8000-000000000004" // stock 20
	d := e.delivered(orderBody(item(beans, 1), item(grinder, 21)))
	res, body := e.invoke("ProcessOrder", queuePayload(t, "processorder_servicebus.json", d, 1))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	o := e.getOrder(orderIDOf(t, d))
	if o["status"] != "rejected" || o["rejectedAt"] == nil ||
		o["rejectionReason"] != "insufficient stock: Hand grinder (requested 21, available 20)" {
		t.Fatalf("order: %v", o)
	}
	if e.stock(grinder) != 20 || e.stock(beans) != 100 {
		t.Fatal("a rejected order took stock")
	}
}

func TestProcessOrderStockRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, body := e.do("POST", "/api/products", "application/json", `{"name":"Limited","price":"5.00","stock":10}`)
	var p struct{ ID string }
	if err := json.Unmarshal(body, &p); err != nil || res.StatusCode != 201 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	const n = 50
	deliveries := make([]amqp.Delivery, n)
	for i := range n {
		deliveries[i] = e.delivered(orderBody(item(p.ID, 1)))
	}
	payloads := make([][]byte, n)
	for i := range n {
		payloads[i] = queuePayload(t, "processorder_rabbitmq.json", deliveries[i], 1)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, body, err := e.try(http.MethodPost, "/ProcessOrderRabbitMQ", "application/json", string(payloads[i]))
			if err != nil || res.StatusCode != http.StatusOK {
				t.Errorf("invocation %d: %v %s", i, err, body)
			}
		})
	}
	wg.Wait()
	var confirmed, rejected int
	if err := e.store.Pool().QueryRow(e.ctx, `SELECT count(*) FILTER (WHERE status = 'confirmed'), count(*) FILTER (WHERE status = 'rejected') FROM orders`).
		Scan(&confirmed, &rejected); err != nil {
		t.Fatal(err)
	}
	if confirmed != 10 || rejected != 40 || e.stock(p.ID) != 0 {
		t.Fatalf("confirmed %d rejected %d stock %d; want 10, 40, 0", confirmed, rejected, e.stock(p.ID))
	}
}

func TestQueueFunctionsFailPoisonMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	unknownOrder := `{"version":1,"eventId":"c0000000-0000-4000-8000-000000000001","type":"OrderCreated","orderId":"b0000000-0000-4000-8000-000000000099","customer":{"name":"x","email":"x@y.co"},"items":[],"total":"0.00","createdAt":"2026-01-01T00:00:00Z"}`
	for name, body := range map[string]string{"bad json": `{"version":`, "unknown order": unknownOrder, "wrong version": `{"version":9,"type":"OrderCreated"}`} {
		for _, fn := range []string{"ProcessOrder", "SendEmailRabbitMQ"} {
			d := amqp.Delivery{Body: []byte(body), MessageId: "poison"}
			fixture := map[string]string{"ProcessOrder": "processorder_servicebus.json", "SendEmailRabbitMQ": "sendemail_rabbitmq.json"}[fn]
			res, out := e.invoke(fn, queuePayload(t, fixture, d, 1))
			if res.StatusCode < 500 || !json.Valid(out) || res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s: %d %s; want a failed invocation with a JSON body", fn, name, res.StatusCode, out)
			}
		}
	}
	var inbox, emails int
	if err := e.store.Pool().QueryRow(e.ctx, `SELECT (SELECT count(*) FROM inbox), (SELECT count(*) FROM sent_emails)`).Scan(&inbox, &emails); err != nil {
		t.Fatalf("counting rows: %v", err)
	}
	if inbox != 0 || emails != 0 {
		t.Fatalf("poison messages left rows: inbox %d, emails %d", inbox, emails)
	}
}

func TestSendEmailOnceThroughSMTP(t *testing.T) {
	t.Parallel()
	smtpSrv := emailtest.Start(t, true)
	e := newEnv(t, func(c *handler.Config) {
		c.Mailer = email.NewSMTP(email.SMTPConfig{Host: smtpSrv.Host, Port: smtpSrv.Port, TLSConfig: smtpSrv.ClientTLS})
		c.EmailFrom = "Orders <orders@shop.example>"
	})
	d := e.delivered(strings.Replace(orderBody(item(filter, 2)), "Ana Lima", "Zoë Ñandú", 1))
	smtpSrv.FailNext(1)
	res, body := e.invoke("SendEmail", queuePayload(t, "sendemail_servicebus.json", d, 1))
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("SMTP refusal must fail the invocation: %d %s", res.StatusCode, body)
	}
	for attempt := 2; attempt <= 3; attempt++ {
		res, body = e.invoke("SendEmailRabbitMQ", queuePayload(t, "sendemail_rabbitmq.json", d, attempt))
		hostAccepts(t, res, body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("attempt %d: %d %s", attempt, res.StatusCode, body)
		}
	}
	msgs := smtpSrv.Messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].To[0] != "ana@example.com" ||
		!strings.Contains(string(msgs[0].Data), "Hello Zoë Ñandú") || !strings.Contains(string(msgs[0].Data), "2 x Pour-over filter at 4.25") {
		t.Fatalf("SMTP server received %d messages: %+v", len(msgs), msgs)
	}
	var recipient, messageID, transport string
	if err := e.store.Pool().QueryRow(e.ctx, `SELECT recipient, message_id, transport FROM sent_emails WHERE order_id = $1`, orderIDOf(t, d)).
		Scan(&recipient, &messageID, &transport); err != nil {
		t.Fatal(err)
	}
	if recipient != "ana@example.com" || transport != "smtp" || !strings.Contains(string(msgs[0].Data), "Message-ID: "+messageID) {
		t.Fatalf("record %s %s %s", recipient, messageID, transport)
	}
}

// TestSendEmailRefusesInjectedAddress is issue 13: an event whose address
// net/mail accepts but which would add a Bcc: header line. The consumer
// applies the intake rule, fails the invocation (the broker dead-letters
// the message after its delivery limit) and sends and records nothing.
func TestSendEmailRefusesInjectedAddress(t *testing.T) {
	t.Parallel()
	smtpSrv := emailtest.Start(t, false)
	e := newEnv(t, func(c *handler.Config) {
		c.Mailer = email.NewSMTP(email.SMTPConfig{Host: smtpSrv.Host, Port: smtpSrv.Port})
	})
	d := e.delivered(orderBody(item(beans, 1)))
	d.Body = []byte(strings.Replace(string(d.Body), `"ana@example.com"`, `"victim@example.com (x\r\nBcc: attacker@evil.example)"`, 1))
	if !strings.Contains(string(d.Body), "attacker") {
		t.Fatalf("event body has no address to replace: %s", d.Body)
	}
	for _, fn := range []string{"SendEmail", "SendEmailRabbitMQ"} {
		fixture := map[string]string{"SendEmail": "sendemail_servicebus.json", "SendEmailRabbitMQ": "sendemail_rabbitmq.json"}[fn]
		res, body := e.invoke(fn, queuePayload(t, fixture, d, 1))
		if res.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "email") {
			t.Errorf("%s: %d %s; want a failed invocation naming the address", fn, res.StatusCode, body)
		}
	}
	if msgs := smtpSrv.Messages(); len(msgs) != 0 {
		t.Fatalf("SMTP server received %d messages, first to %v: %q", len(msgs), msgs[0].To, msgs[0].Data)
	}
	var n int
	if err := e.store.Pool().QueryRow(e.ctx, `SELECT count(*) FROM sent_emails WHERE order_id = $1`, orderIDOf(t, d)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("sent_emails rows %d, %v", n, err)
	}
}

func TestSendEmailWithoutSMTPLogsAndRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.delivered(orderBody(item(beans, 1)))
	res, body := e.invoke("SendEmail", queuePayload(t, "sendemail_servicebus.json", d, 1))
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "via log") {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	var transport string
	if err := e.store.Pool().QueryRow(e.ctx, `SELECT transport FROM sent_emails WHERE order_id = $1`, orderIDOf(t, d)).Scan(&transport); err != nil || transport != "log" {
		t.Fatalf("record: %q %v", transport, err)
	}
}

func TestMessageBodyArrivesIntact(t *testing.T) {
	t.Parallel()
	original := []byte(`{"customer":{"name":"Zoë \"Z\" Ñandú \\ 😀"},"n":1}` + "\n")
	b64, _ := json.Marshal(base64.StdEncoding.EncodeToString(original))
	once, _ := json.Marshal(string(original))
	twice, _ := json.Marshal(string(once))
	for name, raw := range map[string][]byte{"binary (base64)": b64, "string": once, "double-encoded string": twice} {
		got, err := handler.MessageBody(raw)
		if err != nil || string(got) != string(original) {
			t.Errorf("%s: got %q, %v", name, got, err)
		}
	}
	if _, err := handler.MessageBody(nil); err == nil {
		t.Error("missing Data.message accepted")
	}
}
