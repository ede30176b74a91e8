package servicebus_test

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/orderflow/orderflow/emulator/servicebus"
)

// coldSDKBody is message i's body: 700 bytes distinct for each i and at
// each offset, so that bytes read back from a wrong position are seen.
func coldSDKBody(i int) []byte {
	b := make([]byte, 700)
	x := uint64(i)*0x9e3779b97f4a7c15 + 7
	for j := 0; j < len(b); j += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		copy(b[j:], w[:])
	}
	return b
}

// sendCold sends messages first..first+n-1 to entity in SDK batches, each
// with its number as MessageID and an application property.
func sendCold(t *testing.T, ctx context.Context, client *azservicebus.Client, entity string, first, n int) {
	t.Helper()
	s, err := client.NewSender(entity, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for i := first; i < first+n; {
		batch, err := s.NewMessageBatch(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for ; i < first+n && batch.NumMessages() < 100; i++ {
			id := strconv.Itoa(i)
			if err := batch.AddMessage(&azservicebus.Message{MessageID: &id, Body: coldSDKBody(i),
				ApplicationProperties: map[string]any{"n": int64(i)}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SendMessageBatch(ctx, batch, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// checkCold fails unless m is message MessageID as sent.
func checkCold(t *testing.T, m *azservicebus.ReceivedMessage) int {
	t.Helper()
	i, err := strconv.Atoi(m.MessageID)
	if err != nil {
		t.Fatalf("message id %q", m.MessageID)
	}
	if string(m.Body) != string(coldSDKBody(i)) || m.ApplicationProperties["n"] != int64(i) {
		t.Fatalf("message %d: body or properties differ from what was sent (%d body bytes, n=%v)",
			i, len(m.Body), m.ApplicationProperties["n"])
	}
	return i
}

// evictAll makes every stored message of srv cold (HotBytes 1) and checks
// that nothing is left in memory.
func evictAll(t *testing.T, srv *servicebus.Server) {
	t.Helper()
	if _, after := servicebus.Evict(srv); after != 0 {
		t.Fatalf("%d stored bytes still in memory after eviction with HotBytes 1", after)
	}
}

// TestDurableColdMessagesSurviveCompactionAndRestart keeps every message
// cold (HotBytes 1) while it is received, settled in every way, peeked,
// moved by a live compaction of the log and by a crash and restart: each
// body and property is as sent.
func TestDurableColdMessagesSurviveCompactionAndRestart(t *testing.T) {
	t.Parallel()
	cfg := durableConfig(t)
	cfg.HotBytes = 1
	srv, ctx := startServer(t, cfg)
	client := newClient(t, srv)
	sendCold(t, ctx, client, "q", 0, 300)
	sendCold(t, ctx, client, "t", 1000, 100)
	evictAll(t, srv)

	r, err := client.NewReceiverForQueue("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := receiveN(t, ctx, r, 50)
	var deferred []int64
	for k, m := range got {
		checkCold(t, m)
		switch k / 10 {
		case 0, 1:
			err = r.CompleteMessage(ctx, m, nil)
		case 2:
			err = r.AbandonMessage(ctx, m, &azservicebus.AbandonMessageOptions{PropertiesToModify: map[string]any{"abandoned": true}})
		case 3:
			err = r.DeadLetterMessage(ctx, m, &azservicebus.DeadLetterOptions{Reason: ptr("cold")})
		case 4:
			err = r.DeferMessage(ctx, m, nil)
			deferred = append(deferred, *m.SequenceNumber)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	evictAll(t, srv) // the rewritten ones too
	if err := servicebus.CompactNow(srv); err != nil {
		t.Fatal(err)
	}
	peeked, err := r.PeekMessages(ctx, 400, nil)
	if err != nil || len(peeked) != 270 { // 300 − 20 completed − 10 dead-lettered
		t.Fatalf("peeked %d messages after the compaction, %v; want 270", len(peeked), err)
	}
	for _, m := range peeked {
		checkCold(t, m)
	}
	sendCold(t, ctx, client, "q", 300, 100)
	evictAll(t, srv)
	if err := servicebus.CompactNow(srv); err != nil {
		t.Fatal(err)
	}
	if err := servicebus.Crash(srv); err != nil {
		t.Fatal(err)
	}

	srv2, ctx2 := startServer(t, cfg)
	stopAtCleanup(t, srv2)
	evictAll(t, srv2) // the start evicted already: recovered messages start cold
	client2 := newClient(t, srv2)
	r2, err := client2.NewReceiverForQueue("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, m := range receiveN(t, ctx2, r2, 360) { // 270 − 10 deferred + 100
		i := checkCold(t, m)
		if seen[i] {
			t.Fatalf("message %d received twice", i)
		}
		seen[i] = true
		if (i >= 20 && i < 30) != (m.ApplicationProperties["abandoned"] == true) {
			t.Fatalf("message %d: abandoned property %v", i, m.ApplicationProperties["abandoned"])
		}
	}
	def, err := r2.ReceiveDeferredMessages(ctx2, deferred, nil)
	if err != nil || len(def) != 10 {
		t.Fatalf("deferred after the restart: %d, %v", len(def), err)
	}
	for _, m := range def {
		checkCold(t, m)
	}
	dlq, err := client2.NewReceiverForQueue("q", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range receiveN(t, ctx2, dlq, 10) {
		if i := checkCold(t, m); i < 30 || i >= 40 || m.DeadLetterReason == nil || *m.DeadLetterReason != "cold" {
			t.Fatalf("dead-lettered message %d, reason %v", i, m.DeadLetterReason)
		}
	}
	sub, err := client2.NewReceiverForSubscription("t", "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range receiveN(t, ctx2, sub, 100) {
		if i := checkCold(t, m); i < 1000 || i >= 1100 {
			t.Fatalf("subscription got message %d", i)
		}
	}
}

// TestDurableColdReadsRaceCompaction peeks and receives cold messages
// while the log is compacted again and again under them: each read gets
// the old file or the new one, never other bytes. Run with -race.
func TestDurableColdReadsRaceCompaction(t *testing.T) {
	t.Parallel()
	cfg := durableConfig(t)
	cfg.HotBytes = 1
	srv, ctx := startServer(t, cfg)
	stopAtCleanup(t, srv)
	client := newClient(t, srv)
	const n = 300
	sendCold(t, ctx, client, "q", 0, n)
	evictAll(t, srv)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var compactions int
	var compactErr error
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if compactErr = servicebus.CompactNow(srv); compactErr != nil {
				return
			}
			compactions++
			servicebus.Evict(srv)
		}
	})
	r, err := client.NewReceiverForQueue("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		peeked, err := r.PeekMessages(ctx, n, &azservicebus.PeekMessagesOptions{FromSequenceNumber: ptr(int64(1))})
		if err != nil || len(peeked) != n {
			close(stop)
			wg.Wait()
			t.Fatalf("peeked %d, %v", len(peeked), err)
		}
		for _, m := range peeked {
			checkCold(t, m)
		}
	}
	for range 2 { // the same 50 twice: abandoned ones come back first (q allows 3 deliveries)
		for _, m := range receiveN(t, ctx, r, 50) {
			checkCold(t, m)
			if err := r.AbandonMessage(ctx, m, nil); err != nil { // a put read back while compacting
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if compactErr != nil {
		t.Fatal(compactErr)
	}
	t.Logf("%d compactions under the reads", compactions)
	if compactions < 2 {
		t.Fatalf("%d compactions under the reads, want several", compactions)
	}
	for _, m := range receiveN(t, ctx, r, n) {
		checkCold(t, m)
	}
}

// TestDurableColdReadFailureFailsStop damages the log under cold messages:
// reading one back fails its checksum, which is a log failure like a
// failed write (the emulator fails stop); no receive gets other bytes.
func TestDurableColdReadFailureFailsStop(t *testing.T) {
	t.Parallel()
	cfg := durableConfig(t)
	cfg.HotBytes = 1
	srv, ctx := startServer(t, cfg)
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Stop reports the log's failure when a record was refused after it.
		if err := srv.Stop(stopCtx); err != nil && !strings.Contains(err.Error(), "reading back") {
			t.Errorf("Stop: %v", err)
		}
	})
	client := newClient(t, srv)
	sendCold(t, ctx, client, "q", 0, 50)
	evictAll(t, srv)
	path := filepath.Join(cfg.DataDir, "journal.wal")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data { // every record's payload changes; lengths stay
		data[i] ^= 0x5a
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := client.NewReceiverForQueue("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	msgs, err := r.ReceiveMessages(rctx, 10, nil)
	for _, m := range msgs {
		checkCold(t, m)
	}
	if err == nil && len(msgs) > 0 {
		t.Fatalf("received %d messages from a damaged log", len(msgs))
	}
	if !servicebus.Failed(srv) {
		t.Fatal("a failed read-back did not fail stop")
	}
}
