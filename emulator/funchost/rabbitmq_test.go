package funchost

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/internal/testkit"
)

const rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

type rabbitBundle struct {
	app   *testApp
	queue string
	dlq   string
	ch    *amqp.Channel
}

// rabbitSetup declares a unique queue (dead-lettering to <queue>.dlq) and
// starts a host with one rabbitMQTrigger function "Consume" on it.
// extra, when not nil, is a second (output) binding of the function.
func rabbitSetup(t *testing.T, url string, binding map[string]any, cfg Config, extra map[string]any) *rabbitBundle {
	t.Helper()
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		t.Fatalf("RabbitMQ at %s: %v", rabbitURL, err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q := "funchost-test-" + uuid.NewString()[:8]
	b := &rabbitBundle{queue: q, dlq: q + ".dlq", ch: ch}
	if _, err := ch.QueueDeclare(b.dlq, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(q, false, false, false, false, amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": b.dlq}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = ch.QueueDelete(q, false, false, false)
		_, _ = ch.QueueDelete(b.dlq, false, false, false)
	})
	bind := map[string]any{"type": "rabbitMQTrigger", "direction": "in", "name": "msg", "queueName": "%QUEUE%", "connectionStringSetting": "Rabbit"}
	for k, v := range binding {
		bind[k] = v
	}
	bindings := []any{bind}
	if extra != nil {
		bindings = append(bindings, extra)
	}
	fj, _ := json.Marshal(map[string]any{"bindings": bindings})
	b.app = setup(t, appSpec{
		functions: map[string]string{"Consume": string(fj)},
		values:    map[string]string{"QUEUE": q, "Rabbit": url},
		host:      map[string]any{"extensions": map[string]any{"rabbitMQ": map[string]any{"prefetchCount": 10}}},
		cfg:       cfg,
	})
	return b
}

func (b *rabbitBundle) publish(t *testing.T, body string, headers amqp.Table) {
	t.Helper()
	err := b.ch.PublishWithContext(context.Background(), "", b.queue, false, false, amqp.Publishing{
		ContentType: "application/json", MessageId: "m-" + body, Headers: headers, Body: []byte(body), DeliveryMode: amqp.Persistent,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitCount polls a queue's ready-message count.
func (b *rabbitBundle) waitCount(t *testing.T, queue string, want int) {
	t.Helper()
	testkit.Eventually(t, 20*time.Second, func() error {
		q, err := b.ch.QueueDeclarePassive(queue, false, true, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages != want {
			return fmt.Errorf("queue %s holds %d messages, want %d", queue, q.Messages, want)
		}
		return nil
	})
}

func consumeRecords(r handlerRecord) bool { return r.Path == "/Consume" }

// messageBody decodes the double-encoded Data.msg of a recorded invocation.
func messageBody(r handlerRecord) string {
	var p struct {
		Data struct {
			Msg string `json:"msg"`
		} `json:"Data"`
	}
	if json.Unmarshal([]byte(r.Body), &p) != nil {
		return ""
	}
	var s string
	if json.Unmarshal([]byte(p.Data.Msg), &s) != nil {
		return ""
	}
	return s
}

// rabbitTriggerBackend is the RabbitMQ side of the trigger conformance
// suite. Each consumer runs one invocation at a time, so maxCalls is moot.
func rabbitTriggerBackend(t *testing.T, o triggerOpts) *triggerFixture {
	t.Helper()
	url := rabbitURL
	var proxy *tcpProxy
	if o.proxied {
		proxy = newTCPProxy(t, "127.0.0.1:5672")
		url = "amqp://guest:guest@" + proxy.l.Addr().String() + "/"
	}
	b := rabbitSetup(t, url, o.binding, o.cfg, nil)
	return &triggerFixture{
		app:           b.app,
		proxy:         proxy,
		send:          func(t *testing.T, body string) { b.publish(t, body, amqp.Table{"tenant": "a"}) },
		waitEmpty:     func(t *testing.T) { b.waitCount(t, b.queue, 0) },
		waitAvailable: func(t *testing.T, n int) { b.waitCount(t, b.queue, n) },
		deadLettered: func(t *testing.T) string {
			b.waitCount(t, b.dlq, 1)
			msg, ok, err := b.ch.Get(b.dlq, true)
			if err != nil || !ok {
				t.Fatalf("dead-lettered message: ok %v err %v", ok, err)
			}
			if got := requeueCount(msg.Headers); got != rabbitMaxAttempts-1 {
				t.Errorf("dead-lettered copy has %s = %d, want %d", rabbitRequeueHeader, got, rabbitMaxAttempts-1)
			}
			if msg.MessageId != "m-"+string(msg.Body) {
				t.Errorf("dead-lettered message lost its properties: message id %q", msg.MessageId)
			}
			return string(msg.Body)
		},
		maxAttempts: rabbitMaxAttempts,
		attempt: func(t *testing.T, rec handlerRecord) int {
			var p struct {
				Metadata struct {
					BasicProperties struct {
						Headers map[string]any
					}
				}
			}
			if err := json.Unmarshal([]byte(rec.Body), &p); err != nil {
				t.Fatalf("invocation body %s: %v", rec.Body, err)
			}
			c, ok := p.Metadata.BasicProperties.Headers[rabbitRequeueHeader]
			if !ok {
				return 1
			}
			n, ok := c.(float64)
			if !ok {
				t.Errorf("%s header = %#v, want a number", rabbitRequeueHeader, c)
			}
			return int(n) + 1
		},
		checkPayload: func(t *testing.T, meta map[string]any) {
			t.Helper()
			for k, v := range map[string]any{"RoutingKey": `"` + b.queue + `"`, "Exchange": `""`, "Redelivered": "false", "DeliveryTag": "1"} {
				if meta[k] != v {
					t.Errorf("Metadata.%s = %#v, want %#v", k, meta[k], v)
				}
			}
			props, _ := meta["BasicProperties"].(map[string]any)
			headers, _ := props["Headers"].(map[string]any)
			if props["ContentType"] != "application/json" || props["Persistent"] != true || headers["tenant"] != base64.StdEncoding.EncodeToString([]byte("a")) {
				t.Errorf("BasicProperties = %v", props)
			}
			if tag, _ := meta["ConsumerTag"].(string); !strings.HasPrefix(tag, `"funchost-Consume-`) {
				t.Errorf("ConsumerTag = %#v", meta["ConsumerTag"])
			}
		},
		reconnectLog: "reconnecting",
	}
}

// tcpProxy forwards to a broker and can cut every connection, to test
// reconnects without touching the broker other tests share.
type tcpProxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{l: l}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestRabbitMQOutputBinding(t *testing.T) {
	t.Parallel()
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	out := "funchost-out-" + uuid.NewString()[:8]
	if _, err := ch.QueueDeclare(out, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = ch.QueueDelete(out, false, false, false) })
	b := rabbitSetup(t, rabbitURL, nil, Config{}, map[string]any{"type": "rabbitMQ", "direction": "out", "name": "out", "queueName": out, "connectionStringSetting": "Rabbit"})
	b.publish(t, `{"action":"outputs","outputs":{"out":["hello",{"b":1},"ping"]}}`, nil)
	b.waitCount(t, out, 3)
	var got []string
	for range 3 {
		m, ok, err := ch.Get(out, true)
		if err != nil || !ok {
			t.Fatalf("get: %v %v", ok, err)
		}
		got = append(got, string(m.Body))
	}
	// Array elements: strings verbatim, objects indented; a top-level base64
	// string would be decoded, but array elements are not (functions-protocol 4.3).
	want := []string{"hello", "{\n  \"b\": 1\n}", "ping"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("output messages = %q, want %q", got, want)
	}
	b.waitCount(t, b.queue, 0)
}

func TestAdminRunsQueueFunction(t *testing.T) {
	t.Parallel()
	b := rabbitSetup(t, rabbitURL, nil, Config{}, nil)
	resp, body := b.app.do(t, "POST", "/admin/functions/consume", strings.NewReader(`{"input":"{\"k\":1}"}`), jsonHeader)
	if resp.StatusCode != 202 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	rec := b.app.waitRecords(t, 1, consumeRecords)[0]
	if messageBody(rec) != `{"k":1}` {
		t.Errorf("Data.msg = %q", messageBody(rec))
	}
	meta, ok := decodeJSON(t, []byte(rec.Body))["Metadata"].(map[string]any)
	if !ok || meta["k"] != `"1"` || len(meta) != 2 {
		t.Errorf("Metadata = %v, want the spilled k and sys only", meta)
	}
}
