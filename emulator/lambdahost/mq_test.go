package lambdahost_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderflow/orderflow/emulator/lambdahost"
)

func rabbitURL() string {
	if u := os.Getenv("TEST_RABBITMQ_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// quorumQueue declares a private quorum queue with a delivery limit and a
// dead-letter queue, as the app's topology does for Lambda.
func quorumQueue(t *testing.T, limit int) (*amqp.Channel, string) {
	t.Helper()
	conn, err := amqp.Dial(rabbitURL())
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q := "lambdahost-test-" + randomName()
	if _, err := ch.QueueDeclare(q+".dlq", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	args := amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": int32(limit), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": q + ".dlq"}
	if _, err := ch.QueueDeclare(q, true, false, false, false, args); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = ch.QueueDelete(q, false, false, false)
		_, _ = ch.QueueDelete(q+".dlq", false, false, false)
		_ = conn.Close()
	})
	return ch, q
}

func publish(t *testing.T, ch *amqp.Channel, q, id, body string) {
	t.Helper()
	if err := ch.PublishWithContext(ctx(t), "", q, true, false, amqp.Publishing{MessageId: id, Body: []byte(body), DeliveryMode: amqp.Persistent}); err != nil {
		t.Fatal(err)
	}
}

func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) > 0 && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch log has %d lines, want %d:\n%s", len(lines), n, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func depth(t *testing.T, ch *amqp.Channel, q string) int {
	t.Helper()
	st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st.Messages
}

// TestQueueBatchesRetryWholeAndDeadLetterByPolicy: messages arrive as
// RabbitMQEvent batches (batch size, window, queue::vhost key); a failing
// batch comes back whole with redelivered=true until the queue's delivery
// limit dead-letters it; later batches flow.
func TestQueueBatchesRetryWholeAndDeadLetterByPolicy(t *testing.T) {
	t.Parallel()
	ch, q := quorumQueue(t, 2) // 3 deliveries
	log := filepath.Join(t.TempDir(), "batches.log")
	publish(t, ch, q, "m1", "ok")
	publish(t, ch, q, "m2", "poison")
	publish(t, ch, q, "m3", "ok")
	start(t, lambdahost.Config{RabbitMQURL: rabbitURL(),
		Functions: []lambdahost.Function{{Name: "batch", Timeout: 5 * time.Second, Env: map[string]string{"BATCH_LOG": log}}},
		Queues:    []lambdahost.Queue{{Function: "batch", Queue: q, BatchSize: 10, Window: 300 * time.Millisecond}}})
	lines := waitLines(t, log, 3)
	want := []string{
		"aws:rmq " + q + ":: m1:false,m2:false,m3:false",
		"aws:rmq " + q + ":: m1:true,m2:true,m3:true",
		"aws:rmq " + q + ":: m1:true,m2:true,m3:true",
	}
	for i, w := range want {
		// The vhost of the default URL is "/".
		if got := lines[i]; got != strings.Replace(w, "::", "::/", 1) {
			t.Fatalf("batch %d: %q, want %q", i+1, got, strings.Replace(w, "::", "::/", 1))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for depth(t, ch, q+".dlq") != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("dead-letter queue holds %d, want the 3 messages of the failing batch", depth(t, ch, q+".dlq"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Not blocked: the next messages go through, in batches of at most 10.
	for i := range 12 {
		publish(t, ch, q, "n"+string(rune('a'+i)), "ok")
	}
	lines = waitLines(t, log, 5)
	total := 0
	for _, l := range lines[3:] {
		ids := strings.Split(strings.Fields(l)[2], ",")
		if len(ids) > 10 {
			t.Fatalf("batch of %d exceeds the batch size: %s", len(ids), l)
		}
		total += len(ids)
	}
	if total != 12 || depth(t, ch, q) != 0 {
		t.Fatalf("%d messages delivered after the poison batch, queue depth %d:\n%s", total, depth(t, ch, q), strings.Join(lines, "\n"))
	}
}
