package funchost

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/orderflow/orderflow/emulator/servicebus"
)

// TestRoutesCaseAndTrailingSlash is issue 13 point 5: the host matches
// routes case-insensitively and ignores one trailing slash, and forwards the
// original path (proxying) or URL (payload mode).
func TestRoutesCaseAndTrailingSlash(t *testing.T) {
	t.Parallel()
	fnOrder := `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"orders/{id}","methods":["get"],"authLevel":"anonymous"},{"type":"http","direction":"out","name":"res"}]}`
	payload := setup(t, appSpec{functions: map[string]string{"GetOrder": fnOrder}})
	proxied := setup(t, appSpec{functions: map[string]string{"GetOrder": fnOrder}, customHandler: map[string]any{"enableProxyingHttpRequest": true}})
	for _, path := range []string{"/API/ORDERS/Ab1", "/api/orders/Ab1/", "/Api/Orders/Ab1/"} {
		resp, body := payload.do(t, http.MethodGet, path, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("payload mode GET %s: %d %s", path, resp.StatusCode, body)
			continue
		}
		p := decodeJSON(t, body)
		req := p["Data"].(map[string]any)["req"].(map[string]any)
		if !strings.HasSuffix(req["Url"].(string), path) || req["Params"].(map[string]any)["id"] != "Ab1" {
			t.Errorf("payload mode GET %s: Url %v Params %v", path, req["Url"], req["Params"])
		}
		resp, body = proxied.do(t, http.MethodGet, path, nil, nil)
		if resp.StatusCode >= 300 {
			t.Errorf("proxying GET %s: %d %s", path, resp.StatusCode, body)
			continue
		}
		if rec := decodeJSON(t, body); rec["path"] != path {
			t.Errorf("proxying GET %s: handler saw path %v", path, rec["path"])
		}
	}
}

// TestServiceBusBatchTrigger is issue 13 point 6: cardinality "many" hands
// the handler a batch in the real host's shape and settles every message on
// the result: complete on success, abandon (then dead-letter) on failure.
func TestServiceBusBatchTrigger(t *testing.T) {
	t.Parallel()
	b := sbSetup(t, sbOpts{binding: map[string]any{"cardinality": "many", "maxMessageBatchSize": 10}})
	s, err := b.client.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	batch, err := s.NewMessageBatch(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`} {
		if err := batch.AddMessage(&azservicebus.Message{Body: []byte(body), MessageID: ptr(fmt.Sprintf("b-%d", i+1))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SendMessageBatch(context.Background(), batch, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < 3 && time.Now().Before(deadline) {
		seen = map[string]bool{}
		for _, rec := range b.app.records(t) {
			if rec.Path != "/Consume" {
				continue
			}
			p := decodeJSON(t, []byte(rec.Body))
			var bodies []string
			if err := json.Unmarshal([]byte(p["Data"].(map[string]any)["msg"].(string)), &bodies); err != nil {
				t.Fatalf("Data.msg is not a JSON string holding an array: %v in %s", err, rec.Body)
			}
			meta := p["Metadata"].(map[string]any)
			var ids []string
			var counts []int
			if err := json.Unmarshal([]byte(meta["MessageIdArray"].(string)), &ids); err != nil || len(ids) != len(bodies) {
				t.Fatalf("MessageIdArray %v for %d bodies: %v", meta["MessageIdArray"], len(bodies), err)
			}
			if err := json.Unmarshal([]byte(meta["DeliveryCountArray"].(string)), &counts); err != nil || len(counts) != len(bodies) || counts[0] != 1 {
				t.Fatalf("DeliveryCountArray %v: %v", meta["DeliveryCountArray"], err)
			}
			for _, k := range []string{"UserPropertiesArray", "SequenceNumberArray", "EnqueuedTimeUtcArray", "LockTokenArray"} {
				if _, ok := meta[k].(string); !ok {
					t.Errorf("Metadata.%s missing: %v", k, meta[k])
				}
			}
			for _, body := range bodies {
				seen[body] = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(seen) != 3 {
		t.Fatalf("bodies seen in batches: %v", seen)
	}
	b.waitEmpty(t)
}

// TestServiceBusBatchFailureAbandonsAll: a failed batch invocation abandons
// every message of it, so the broker dead-letters them at the limit.
func TestServiceBusBatchFailureAbandonsAll(t *testing.T) {
	t.Parallel()
	b := sbSetup(t, sbOpts{binding: map[string]any{"cardinality": "many"}})
	b.send(t, `{"action":"fail"}`)
	dl := b.deadLettered(t)
	if string(dl.Body) != `{"action":"fail"}` {
		t.Fatalf("dead-lettered %q", dl.Body)
	}
}

// TestServiceBusSessionTrigger is issue 13 point 6: isSessionsEnabled
// receives session by session (AcceptNextSession on the emulator), one
// invocation at a time per session in order, with SessionId and the
// session actions' SessionLockedUntil in Metadata.
func TestServiceBusSessionTrigger(t *testing.T) {
	t.Parallel()
	b := sbSetup(t, sbOpts{queue: servicebus.QueueConfig{RequiresSession: true}, binding: map[string]any{"isSessionsEnabled": true}})
	s, err := b.client.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	for i := range 6 {
		sid := []string{"s-a", "s-b"}[i%2]
		if err := s.SendMessage(context.Background(), &azservicebus.Message{Body: []byte(fmt.Sprintf(`{"seq":%d}`, i)), SessionID: &sid}, nil); err != nil {
			t.Fatal(err)
		}
	}
	recs := b.app.waitRecords(t, 6, consumeRecords)
	order := map[string][]string{}
	for _, rec := range recs {
		p := decodeJSON(t, []byte(rec.Body))
		meta := p["Metadata"].(map[string]any)
		sid, _ := meta["SessionId"].(string)
		actions, _ := meta["SessionActions"].(map[string]any)
		if _, err := time.Parse("2006-01-02T15:04:05.9999999-07:00", fmt.Sprint(actions["SessionLockedUntil"])); err != nil {
			t.Errorf("SessionActions = %v: %v", meta["SessionActions"], err)
		}
		order[sid] = append(order[sid], messageBody(rec))
	}
	if strings.Join(order[`"s-a"`], ",") != `{"seq":0},{"seq":2},{"seq":4}` || strings.Join(order[`"s-b"`], ",") != `{"seq":1},{"seq":3},{"seq":5}` {
		t.Fatalf("per-session order: %v", order)
	}
	// Every message was completed: nothing is redelivered and no settlement
	// failed. (A session queue cannot be peeked without a session.)
	time.Sleep(500 * time.Millisecond)
	if n := len(b.app.waitRecords(t, 6, consumeRecords)); n != 6 || strings.Contains(b.app.logs.String(), "complete failed") {
		t.Fatalf("%d invocations for 6 messages; logs:\n%s", n, b.app.logs)
	}
}

// TestCustomHandlerPort is issue 13 point 6: host.json customHandler.port
// fixes the handler's port (FUNCTIONS_CUSTOMHANDLER_PORT), as newer hosts do.
func TestCustomHandlerPort(t *testing.T) {
	t.Parallel()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	a := setup(t, appSpec{functions: map[string]string{"Env": fnEnv}, customHandler: map[string]any{"port": fmt.Sprint(port)}})
	if resp, body := a.do(t, http.MethodGet, "/api/env", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	rec := a.waitRecords(t, 1, func(r handlerRecord) bool { return r.Path == "/Env" })[0]
	if rec.Env["FUNCTIONS_CUSTOMHANDLER_PORT"] != fmt.Sprint(port) || rec.Env["FUNCTIONS_HTTPWORKER_PORT"] != fmt.Sprint(port) {
		t.Fatalf("handler port = %q, want %d", rec.Env["FUNCTIONS_CUSTOMHANDLER_PORT"], port)
	}
}

// TestServiceBusPrefetchCountWarns is issue 13 point 6: the Go SDK has no
// prefetch, so a prefetchCount above 0 is read, validated and reported at
// start instead of being silently ignored.
func TestServiceBusPrefetchCountWarns(t *testing.T) {
	t.Parallel()
	fj := `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"q","connection":"SB"}]}`
	a := setup(t, appSpec{functions: map[string]string{"Consume": fj}, noStart: true,
		values: map[string]string{"SB": "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true"},
		host:   map[string]any{"extensions": map[string]any{"serviceBus": map[string]any{"prefetchCount": 50}}}})
	if !strings.Contains(a.logs.String(), "prefetchCount cannot be applied") || !strings.Contains(a.logs.String(), "prefetchCount=50") {
		t.Fatalf("no prefetchCount warning:\n%s", a.logs)
	}
}

// TestHostStatusReportsTriggerConnections is issue 13 point 7: the host
// has its own health endpoint, GET /admin/host/status, covering its trigger
// connections: 200 while they are up, 503 with the failing one named.
func TestHostStatusReportsTriggerConnections(t *testing.T) {
	t.Parallel()
	b := sbSetup(t, sbOpts{})
	status := func(a *testApp) (int, HostStatus) {
		t.Helper()
		var st HostStatus
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, body := a.do(t, http.MethodGet, "/admin/host/status", nil, nil)
			if err := json.Unmarshal(body, &st); err != nil {
				t.Fatalf("status body %s: %v", body, err)
			}
			if st.Triggers["Consume"].Status != "starting" || time.Now().After(deadline) {
				return resp.StatusCode, st
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	code, st := status(b.app)
	if code != http.StatusOK || !st.Healthy || st.State != "Running" || st.Triggers["Consume"].Status != "up" || st.Triggers["Consume"].Type != "serviceBusTrigger" {
		t.Fatalf("healthy host: %d %+v", code, st)
	}
	// A second host whose connection points at a closed port.
	fj := `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"q","connection":"SB"}]}`
	down := setup(t, appSpec{functions: map[string]string{"Consume": fj, "Tick": fnTick},
		values: map[string]string{"SB": "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true"}})
	code, st = status(down)
	if code != http.StatusServiceUnavailable || st.Healthy || st.Triggers["Consume"].Status != "down" || st.Triggers["Consume"].Error == "" ||
		st.Triggers["Tick"].Status != "up" {
		t.Fatalf("unreachable broker: %d %+v", code, st)
	}
	// Admin rules apply: a browser page cannot read it.
	if resp, _ := down.do(t, http.MethodGet, "/admin/host/status", nil, map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("status with Origin: %d, want 403", resp.StatusCode)
	}
}
