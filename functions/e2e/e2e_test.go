// Package e2e_test runs the whole order flow through the local Functions
// host, the real handler binary, PostgreSQL, an SMTP server and each broker:
// the in-process Service Bus emulator and RabbitMQ (a virtual host per test).
package e2e_test

import (
	"bytes"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/functions/apptest"
)

func TestMain(m *testing.M) { apptest.Main(m) }

// seededProduct is a product of the seed migration with ample stock.
const seededProduct = "a0000000-0000-4000-8000-000000000005"

// forEachCase runs fn as a parallel subtest per target and broker
// (apptest.Cases: Azure on Service Bus and RabbitMQ, Lambda on RabbitMQ).
func forEachCase(t *testing.T, fn func(t *testing.T, c apptest.Case)) {
	for _, c := range apptest.Cases {
		t.Run(c.Name(), func(t *testing.T) {
			t.Parallel()
			fn(t, c)
		})
	}
}

// start starts the app for c.
func start(t *testing.T, c apptest.Case, opt apptest.Options) *apptest.App {
	t.Helper()
	opt.Target = c.Target
	return apptest.Start(t, c.Broker, opt)
}

// placeConcurrently places n orders of one unit of product from 10 clients
// and returns their ids.
func placeConcurrently(t *testing.T, a *apptest.App, product string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 10; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ids[i] = a.PlaceOrder(t, product, 1)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

func TestPubSubEveryOrderConfirmedAndEmailedOnce(t *testing.T) {
	t.Parallel()
	forEachCase(t, func(t *testing.T, c apptest.Case) {
		a := start(t, c, apptest.Options{})
		const n = 200
		placeConcurrently(t, a, seededProduct, n)
		a.WaitProcessed(t, n, 2*time.Minute)

		if c := a.StatusCounts(t); c["confirmed"] != n {
			t.Errorf("statuses %v, want %d confirmed", c, n)
		}
		if dup := a.Count(t, "SELECT count(*) FROM (SELECT order_id FROM sent_emails GROUP BY order_id HAVING count(*) > 1) d"); dup != 0 {
			t.Errorf("%d orders were emailed more than once", dup)
		}
		if got := len(a.SMTP.Messages()); got != n {
			t.Errorf("SMTP server received %d emails, want %d", got, n)
		}
		if n := a.Count(t, "SELECT count(*) FROM outbox WHERE published_at IS NULL"); n != 0 {
			t.Errorf("%d outbox rows left unpublished", n)
		}
	})
}

// processedLine matches the handler's log line for a real ProcessOrder
// decision, with the host's instance prefix.
var processedLine = regexp.MustCompile(`^\[[^\]]*#(\d+)\] .*order processed.*orderId=([0-9a-f-]{36})`)

func TestCompetingConsumersShareWorkWithoutDuplicates(t *testing.T) {
	t.Parallel()
	forEachCase(t, func(t *testing.T, c apptest.Case) {
		a := start(t, c, apptest.Options{Instances: 2})
		const n = 60
		placeConcurrently(t, a, seededProduct, n)
		a.WaitProcessed(t, n, 2*time.Minute)

		// The decision's log line can trail the committed status through the
		// handler's output pipe: count once every order's line is there.
		var perInstance, perOrder map[string]int
		a.WaitFor(t, "a decision line per order", 30*time.Second, func() (bool, string) {
			perInstance, perOrder = map[string]int{}, map[string]int{}
			for _, line := range a.Output.Lines() {
				if m := processedLine.FindStringSubmatch(line); m != nil {
					perInstance[m[1]]++
					perOrder[m[2]]++
				}
			}
			return len(perOrder) >= n, fmt.Sprintf("%d orders decided", len(perOrder))
		})
		if len(perInstance) != 2 {
			t.Errorf("decisions per handler instance %v, want both instances to take part", perInstance)
		}
		if len(perOrder) != n {
			t.Errorf("%d orders decided, want %d", len(perOrder), n)
		}
		for id, k := range perOrder {
			if k != 1 {
				t.Errorf("order %s decided %d times", id, k)
			}
		}
	})
}

func TestTransientFailureSucceedsOnThirdAttempt(t *testing.T) {
	t.Parallel()
	forEachCase(t, func(t *testing.T, c apptest.Case) {
		kind := c.Broker
		a := start(t, c, apptest.Options{Flaky: map[string]string{
			"FLAKY_FUNCTIONS": "ProcessOrder,ProcessOrderRabbitMQ", "FLAKY_FAIL_FIRST": "2",
		}})
		id := a.PlaceOrder(t, seededProduct, 1)
		a.WaitProcessed(t, 1, time.Minute)
		if c := a.StatusCounts(t); c["confirmed"] != 1 {
			t.Fatalf("statuses %v, want the order %s confirmed", c, id)
		}
		attempts := a.FlakyAttempts(t)
		if len(attempts) != 3 {
			t.Fatalf("ProcessOrder ran %d times, want 3: %+v", len(attempts), attempts)
		}
		for i, a := range attempts {
			wantOutcome := "injected-failure"
			if i == 2 {
				wantOutcome = "forwarded"
			}
			if a.Outcome != wantOutcome || a.MessageID != attempts[0].MessageID {
				t.Errorf("attempt %d = %+v, want %s of one message", i+1, a, wantOutcome)
			}
			// The delivery count the handler sees in Metadata counts up.
			switch {
			case c.Target == apptest.Lambda:
				// Amazon MQ events carry only the redelivered flag.
				if a.Redelivered == nil || *a.Redelivered != (i > 0) {
					t.Errorf("attempt %d: redelivered %v, want %v", i+1, a.Redelivered, i > 0)
				}
			case kind == apptest.ServiceBus:
				if a.DeliveryCount != strconv.Itoa(i+1) {
					t.Errorf("attempt %d: Metadata.DeliveryCount %q, want %d", i+1, a.DeliveryCount, i+1)
				}
			case kind == apptest.RabbitMQ:
				got := int64(0)
				if a.RequeueCount != nil {
					got = *a.RequeueCount
				}
				if got != int64(i) {
					t.Errorf("attempt %d: x-ms-rabbitmq-requeuecount %d, want %d", i+1, got, i)
				}
			}
		}
	})
}

func TestPoisonMessagesAreDeadLetteredAndReplayable(t *testing.T) {
	t.Parallel()
	forEachCase(t, func(t *testing.T, c apptest.Case) {
		kind := c.Broker
		a := start(t, c, apptest.Options{})
		badJSON := "poison-json-" + uuid.NewString()[:8]
		a.PublishRaw(t, badJSON, []byte("{not json"))
		unknownOrder := uuid.NewString()
		event := fmt.Sprintf(`{"version":1,"eventId":%q,"type":"OrderCreated","orderId":%q,`+
			`"customer":{"name":"Ghost","email":"ghost@example.com"},"items":[{"productId":%q,"name":"x","quantity":1,"unitPrice":"1.00"}],`+
			`"total":"1.00","createdAt":"2026-01-01T00:00:00Z"}`, unknownOrder, uuid.NewString(), seededProduct)
		a.PublishRaw(t, unknownOrder, []byte(event))

		wantReason, wantDeliveries := "MaxDeliveryCountExceeded", 3
		switch {
		case c.Target == apptest.Lambda:
			// Quorum queues: the broker dead-letters at the delivery limit
			// and keeps no count on the dead letter (0); the attempts are
			// counted from the adapter's log below.
			wantReason, wantDeliveries = "delivery_limit", 0
		case kind == apptest.RabbitMQ:
			wantReason, wantDeliveries = "rejected", 5
		}
		for _, consumer := range []string{"process-order", "send-email"} {
			var ids map[string]bool
			a.WaitFor(t, consumer+" dead letters", time.Minute, func() (bool, string) {
				msgs, err := a.DeadLetters.List(a.Ctx, consumer, 10)
				if err != nil {
					t.Fatal(err)
				}
				ids = map[string]bool{}
				for _, m := range msgs {
					ids[m.ID] = true
					if m.Reason != wantReason || m.DeliveryCount != wantDeliveries {
						return false, fmt.Sprintf("%s: reason %q after %d deliveries", m.ID, m.Reason, m.DeliveryCount)
					}
				}
				return len(msgs) == 2, fmt.Sprintf("%d dead letters %v", len(msgs), ids)
			})
			if !ids[badJSON] || !ids[unknownOrder] {
				t.Errorf("%s dead letters %v, want %s and %s", consumer, ids, badJSON, unknownOrder)
			}
		}
		if c.Target == apptest.Lambda {
			// Each poison message failed its batch maxDeliveryCount times.
			for _, id := range []string{badJSON, unknownOrder} {
				failures := 0
				for _, line := range a.Output.Lines() {
					if strings.Contains(line, "message failed; the batch will be retried") && strings.Contains(line, "function=ProcessOrder") &&
						strings.Contains(line, "messageId="+id) {
						failures++
					}
				}
				if failures != 3 {
					t.Errorf("ProcessOrder failed message %s %d times, want 3 (the delivery limit)", id, failures)
				}
			}
		}

		// The replay command brings them back; still poisonous, they are
		// retried and dead-lettered again.
		n, err := a.DeadLetters.Replay(a.Ctx, "process-order", 10)
		if err != nil || n != 2 {
			t.Fatalf("Replay = %d, %v; want 2", n, err)
		}
		a.WaitFor(t, "replayed messages retried and dead-lettered again", time.Minute, func() (bool, string) {
			msgs, err := a.DeadLetters.List(a.Ctx, "process-order", 10)
			if err != nil {
				t.Fatal(err)
			}
			return len(msgs) == 2, fmt.Sprintf("%d dead letters", len(msgs))
		})
		if c := a.StatusCounts(t); len(c) != 0 {
			t.Errorf("poison messages changed orders: %v", c)
		}
	})
}

func TestStockRaceNeverOversells(t *testing.T) {
	t.Parallel()
	forEachCase(t, func(t *testing.T, c apptest.Case) {
		a := start(t, c, apptest.Options{})
		product := a.CreateProduct(t, 10)
		placeConcurrently(t, a, product, 50)
		a.WaitProcessed(t, 50, 2*time.Minute)

		if c := a.StatusCounts(t); c["confirmed"] != 10 || c["rejected"] != 40 {
			t.Errorf("statuses %v, want 10 confirmed and 40 rejected", c)
		}
		if stock := a.Count(t, "SELECT stock FROM products WHERE id = $1", product); stock != 0 {
			t.Errorf("stock %d, want 0", stock)
		}
	})
}

func TestHandlerKilledMidInvocationEndsInOneState(t *testing.T) {
	t.Parallel()
	forEachCase(t, func(t *testing.T, c apptest.Case) {
		marker := t.TempDir() + "/killed"
		a := start(t, c, apptest.Options{Flaky: map[string]string{
			"FLAKY_FUNCTIONS": "ProcessOrder,ProcessOrderRabbitMQ", "FLAKY_KILL_ONCE": marker,
		}})
		id := a.PlaceOrderRetrying(t, seededProduct, 1)
		a.WaitProcessed(t, 1, time.Minute)

		// The killed invocation had already committed, so the order is final
		// before the redelivery arrives: wait for the redelivery too.
		var attempts []apptest.FlakyAttempt
		a.WaitFor(t, "the redelivery after the kill", time.Minute, func() (bool, string) {
			attempts = a.FlakyAttempts(t)
			return len(attempts) >= 2, fmt.Sprintf("%+v", attempts)
		})
		if attempts[0].Outcome != "handled-then-killed" || attempts[1].Outcome != "forwarded" || attempts[1].MessageID != attempts[0].MessageID {
			t.Fatalf("attempts %+v, want a killed invocation followed by a redelivery", attempts)
		}
		if c := a.StatusCounts(t); c["confirmed"] != 1 {
			t.Errorf("statuses %v, want order %s confirmed once", c, id)
		}
		if n := a.Count(t, "SELECT count(*) FROM sent_emails WHERE order_id = $1", id); n != 1 {
			t.Errorf("%d emails recorded, want 1", n)
		}
		// The kill takes the whole handler process, so it can also land inside
		// a SendEmail invocation after the SMTP server took the mail but before
		// its record committed: the redelivery then sends it again. SMTP cannot
		// be exactly-once; what the app promises is one record (above) and one
		// Message-ID, so mail clients show the mail once.
		msgs := a.SMTP.Messages()
		ids := map[string]bool{}
		for _, m := range msgs {
			parsed, err := mail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				t.Fatalf("SMTP message without headers: %v", err)
			}
			ids[parsed.Header.Get("Message-ID")] = true
		}
		if len(msgs) == 0 || len(ids) != 1 {
			t.Errorf("SMTP server received %d emails with %d Message-IDs, want at least 1 with exactly 1 Message-ID", len(msgs), len(ids))
		}
	})
}

func TestWaitingOrdersProcessedWhenConsumersStart(t *testing.T) {
	t.Parallel()
	forEachCase(t, func(t *testing.T, c apptest.Case) {
		a := start(t, c, apptest.Options{ConsumersOff: true})
		const n = 20
		placeConcurrently(t, a, seededProduct, n)
		if c := a.StatusCounts(t); c["pending"] != n {
			t.Fatalf("statuses %v with consumers stopped, want %d pending", c, n)
		}
		a.StopHost(t)

		a.SetConsumers(true)
		a.StartHost(t, 1)
		a.WaitProcessed(t, n, time.Minute)
		if c := a.StatusCounts(t); c["confirmed"] != n {
			t.Errorf("statuses %v, want %d confirmed", c, n)
		}
	})
}
