package funchost

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// The message triggers (serviceBusTrigger, rabbitMQTrigger) share one
// conformance suite: what the host promises about settlement, retries,
// dead-lettering, competing instances, stopping and reconnecting holds for
// both brokers, and broker-specific tests cover only what differs (payload
// metadata, lock renewal, output bindings).

// triggerOpts shapes the app a triggerBackend starts.
type triggerOpts struct {
	binding  map[string]any // extra trigger binding properties
	cfg      Config
	maxCalls int  // concurrent invocations per trigger (0: the backend's default)
	proxied  bool // reach the broker through a tcpProxy the test can cut
}

// triggerFixture is one broker queue with a host whose function "Consume"
// is triggered by it.
type triggerFixture struct {
	app *testApp
	// proxy is set when the options asked for it.
	proxy *tcpProxy
	// send enqueues a message with the given body.
	send func(t *testing.T, body string)
	// waitEmpty waits until the queue holds no message.
	waitEmpty func(t *testing.T)
	// waitAvailable waits until n messages can be received at once, none of
	// them held by a consumer.
	waitAvailable func(t *testing.T, n int)
	// deadLettered returns the body of the one dead-lettered message, after
	// checking what the broker records about its failure.
	deadLettered func(t *testing.T) string
	// maxAttempts is how many deliveries a failing message gets.
	maxAttempts int
	// attempt reads the delivery number (1 for the first) from an invocation.
	attempt func(t *testing.T, rec handlerRecord) int
	// checkPayload checks the broker-specific Metadata of an invocation of
	// the body `{"orderId":7}`.
	checkPayload func(t *testing.T, meta map[string]any)
	// reconnectLog, when set, must be logged after a cut connection.
	reconnectLog string
}

// triggerBackend starts a fixture for one test.
type triggerBackend func(t *testing.T, o triggerOpts) *triggerFixture

// runTriggerConformance runs every case against backend.
func runTriggerConformance(t *testing.T, backend triggerBackend) {
	cases := map[string]func(*testing.T, triggerBackend){
		"CompletesOnSuccess":     testTriggerCompletes,
		"BinaryBody":             testTriggerBinary,
		"RetriesThenDeadLetters": testTriggerRetriesThenDeadLetters,
		"CompetingInstances":     testTriggerCompetingInstances,
		"StopReleasesUnstarted":  testTriggerStopReleases,
		"ReconnectsAfterCut":     testTriggerReconnects,
		"DistinctMessagesOnce":   testTriggerDistinctOnce,
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, backend)
		})
	}
}

func testTriggerCompletes(t *testing.T, backend triggerBackend) {
	f := backend(t, triggerOpts{})
	f.send(t, `{"orderId":7}`)
	rec := f.app.waitRecords(t, 1, consumeRecords)[0]
	var p struct {
		Data     map[string]any
		Metadata map[string]any
	}
	if err := json.Unmarshal([]byte(rec.Body), &p); err != nil {
		t.Fatalf("invocation body %s: %v", rec.Body, err)
	}
	if got := p.Data["msg"]; got != `"{\"orderId\":7}"` {
		t.Errorf("Data.msg = %#v, want the double-encoded body", got)
	}
	if got := p.Metadata["orderId"]; got != `"7"` {
		t.Errorf("Metadata.orderId = %#v, want the spilled body property", got)
	}
	if n := f.attempt(t, rec); n != 1 {
		t.Errorf("first delivery numbered %d", n)
	}
	f.checkPayload(t, p.Metadata)
	f.waitEmpty(t)
	if n := len(f.app.records(t)); n != 1 {
		t.Errorf("handler saw %d deliveries of one successful message", n)
	}
}

func testTriggerBinary(t *testing.T, backend triggerBackend) {
	f := backend(t, triggerOpts{binding: map[string]any{"dataType": "binary"}})
	f.send(t, `{"orderId":8}`)
	rec := f.app.waitRecords(t, 1, consumeRecords)[0]
	p := decodeJSON(t, []byte(rec.Body))
	data, ok := p["Data"].(map[string]any)
	if !ok {
		t.Fatalf("invocation without a Data object: %s", rec.Body)
	}
	if got := data["msg"]; got != "eyJvcmRlcklkIjo4fQ==" {
		t.Errorf("Data.msg = %#v, want base64 of the body", got)
	}
	meta, ok := p["Metadata"].(map[string]any)
	if !ok {
		t.Fatalf("invocation without a Metadata object: %s", rec.Body)
	}
	if _, spilled := meta["orderId"]; spilled {
		t.Error("binary bodies must not spill into Metadata")
	}
	f.waitEmpty(t)
}

func testTriggerRetriesThenDeadLetters(t *testing.T, backend triggerBackend) {
	f := backend(t, triggerOpts{})
	f.send(t, `{"action":"fail"}`)
	if body := f.deadLettered(t); body != `{"action":"fail"}` {
		t.Errorf("dead-lettered body %q", body)
	}
	recs := f.app.waitRecords(t, f.maxAttempts, consumeRecords)
	if len(recs) != f.maxAttempts {
		t.Fatalf("handler saw %d attempts, want %d", len(recs), f.maxAttempts)
	}
	for i, r := range recs {
		if n := f.attempt(t, r); n != i+1 {
			t.Errorf("attempt %d numbered %d", i+1, n)
		}
	}
	f.waitEmpty(t)
}

func testTriggerCompetingInstances(t *testing.T, backend triggerBackend) {
	f := backend(t, triggerOpts{cfg: Config{Instances: 2}})
	for i := range 8 {
		f.send(t, fmt.Sprintf(`{"action":"sleep","ms":50,"n":%d}`, i))
	}
	recs := f.app.waitRecords(t, 8, consumeRecords)
	workers := map[string]int{}
	for _, r := range recs {
		workers[r.WorkerID]++
	}
	if len(workers) != 2 || len(recs) != 8 {
		t.Errorf("8 messages went to %v, want both instances and no duplicates", workers)
	}
	f.waitEmpty(t)
}

func testTriggerStopReleases(t *testing.T, backend triggerBackend) {
	f := backend(t, triggerOpts{maxCalls: 1})
	for i := range 3 {
		f.send(t, fmt.Sprintf(`{"action":"sleep","ms":700,"n":%d}`, i))
	}
	f.app.waitRecords(t, 1, consumeRecords)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.app.host.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// The one in flight finished and was settled; the two others are free
	// for another consumer at once, not after a lock expiry.
	f.waitAvailable(t, 2)
	if n := len(f.app.records(t)); n != 1 {
		t.Errorf("handler saw %d messages, want 1", n)
	}
}

func testTriggerReconnects(t *testing.T, backend triggerBackend) {
	f := backend(t, triggerOpts{proxied: true})
	f.send(t, `{"n":1}`)
	f.app.waitRecords(t, 1, consumeRecords)
	f.waitEmpty(t)
	f.proxy.cut()
	f.send(t, `{"n":2}`)
	// Message 1 may be redelivered if the cut beat its settlement (at-least-once).
	f.app.waitRecords(t, 1, func(r handlerRecord) bool { return consumeRecords(r) && messageBody(r) == `{"n":2}` })
	f.waitEmpty(t)
	if f.reconnectLog != "" {
		f.app.waitLog(t, f.reconnectLog, 1)
	}
}

func testTriggerDistinctOnce(t *testing.T, backend triggerBackend) {
	f := backend(t, triggerOpts{})
	const n = 20
	for i := range n {
		f.send(t, fmt.Sprintf(`{"n":%d}`, i))
	}
	recs := f.app.waitRecords(t, n, consumeRecords)
	seen := map[string]int{}
	for _, r := range recs {
		seen[messageBody(r)]++
	}
	for i := range n {
		if b := fmt.Sprintf(`{"n":%d}`, i); seen[b] != 1 {
			t.Errorf("message %s delivered %d times", b, seen[b])
		}
	}
	f.waitEmpty(t)
}

func TestServiceBusTriggerConformance(t *testing.T) {
	t.Parallel()
	runTriggerConformance(t, sbTriggerBackend)
}

func TestRabbitMQTriggerConformance(t *testing.T) {
	t.Parallel()
	runTriggerConformance(t, rabbitTriggerBackend)
}
