package servicebus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"
	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/internal/testkit"
)

// durableConfig writes a Config.json with queue "q" (max 3 deliveries) and
// topic "t" with subscription "s", and returns a Config with a data
// directory; both live as long as the test.
func durableConfig(t *testing.T) servicebus.Config {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "Config.json")
	const cfg = `{"UserConfig": {"Namespaces": [{"Name": "sbemulatorns",
  "Queues": [{"Name": "q", "Properties": {"LockDuration": "PT1M", "MaxDeliveryCount": 3}}],
  "Topics": [{"Name": "t", "Subscriptions": [{"Name": "s"}]}]}]}}`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return servicebus.Config{ConfigPath: path, DataDir: filepath.Join(dir, "data"), HTTPAddr: "-"}
}

// TestDurableRestartKeepsEveryMessageState sends, settles in every way and
// crashes the emulator (the log dropped without a final flush), then checks
// each acknowledged change after the restart; then it does it again with
// a clean Stop.
func TestDurableRestartKeepsEveryMessageState(t *testing.T) {
	t.Parallel()
	cfg := durableConfig(t)
	srv, ctx := startServer(t, cfg)
	client := newClient(t, srv)
	sender, err := client.NewSender("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"completed", "abandoned", "deferred", "dead", "locked", "waiting"} {
		if err := sender.SendMessage(ctx, &azservicebus.Message{MessageID: &id, Body: []byte("body " + id),
			ApplicationProperties: map[string]any{"id": id}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	tsender, err := client.NewSender("t", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tsender.SendMessage(ctx, &azservicebus.Message{Body: []byte("fanned")}, nil); err != nil {
		t.Fatal(err)
	}
	scheduled, err := tsender.ScheduleMessages(ctx, []*azservicebus.Message{{Body: []byte("later")}}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := client.NewReceiverForQueue("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := receiveN(t, ctx, receiver, 5)
	byID := map[string]*azservicebus.ReceivedMessage{}
	for _, m := range got {
		byID[m.MessageID] = m
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(receiver.CompleteMessage(ctx, byID["completed"], nil))
	must(receiver.AbandonMessage(ctx, byID["abandoned"], nil))
	must(receiver.DeferMessage(ctx, byID["deferred"], nil))
	must(receiver.DeadLetterMessage(ctx, byID["dead"], &azservicebus.DeadLetterOptions{Reason: ptr("bad")}))
	deferredSeq := *byID["deferred"].SequenceNumber
	// "locked" stays locked: crash now.
	if err := servicebus.Crash(srv); err != nil {
		t.Fatalf("Crash: %v", err)
	}
	_ = client.Close(ctx)

	srv2, ctx2 := startServer(t, cfg)
	stopAtCleanup(t, srv2)
	client2 := newClient(t, srv2)
	peeker, err := client2.NewReceiverForQueue("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	peeked, err := peeker.PeekMessages(ctx2, 10, nil)
	must(err)
	counts := map[string]uint32{}
	for _, m := range peeked {
		counts[m.MessageID] = m.DeliveryCount
	}
	// The SDK shows deliveries made + 1: abandoned, deferred and the lock
	// expired by the crash each count one delivery.
	want := map[string]uint32{"abandoned": 2, "deferred": 2, "locked": 2, "waiting": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("queue after the crash: delivery counts %v, want %v", counts, want)
	}
	def, err := peeker.ReceiveDeferredMessages(ctx2, []int64{deferredSeq}, nil)
	if err != nil || len(def) != 1 || def[0].MessageID != "deferred" {
		t.Fatalf("deferred message after the crash: %v, %v", def, err)
	}
	dlq, err := client2.NewReceiverForQueue("q", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	must(err)
	dead := receiveN(t, ctx2, dlq, 1)
	if dead[0].MessageID != "dead" || dead[0].DeadLetterReason == nil || *dead[0].DeadLetterReason != "bad" {
		t.Fatalf("dead-lettered message after the crash: %+v", dead[0])
	}
	must(dlq.CompleteMessage(ctx2, dead[0], nil))
	sub, err := client2.NewReceiverForSubscription("t", "s", nil)
	must(err)
	fan := receiveN(t, ctx2, sub, 1)
	if string(fan[0].Body) != "fanned" {
		t.Fatalf("subscription after the crash: %q", fan[0].Body)
	}
	must(sub.CompleteMessage(ctx2, fan[0], nil))
	ts, err := client2.NewSender("t", nil)
	must(err)
	must(ts.CancelScheduledMessages(ctx2, scheduled, nil)) // still scheduled at the topic
	// Sequence numbers continue after the restart.
	s2, err := client2.NewSender("q", nil)
	must(err)
	must(s2.SendMessage(ctx2, &azservicebus.Message{Body: []byte("after")}, nil))
	all, err := peeker.PeekMessages(ctx2, 20, &azservicebus.PeekMessagesOptions{FromSequenceNumber: ptr(int64(1))})
	must(err)
	var seqs []int64
	for _, m := range all {
		seqs = append(seqs, *m.SequenceNumber)
	}
	if !slices.IsSorted(seqs) || seqs[len(seqs)-1] != 7 {
		t.Fatalf("sequence numbers after the crash %v, want the new message at 7", seqs)
	}

	// A clean stop and a second restart keep the settlements made since.
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv2.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	srv3, ctx3 := startServer(t, cfg)
	stopAtCleanup(t, srv3)
	client3 := newClient(t, srv3)
	dlq3, err := client3.NewReceiverForQueue("q", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	must(err)
	if left, err := dlq3.PeekMessages(ctx3, 10, nil); err != nil || len(left) != 0 {
		t.Fatalf("dead-letter queue after the second restart: %d messages, %v", len(left), err)
	}
	p3, err := client3.NewReceiverForQueue("q", nil)
	must(err)
	if left, err := p3.PeekMessages(ctx3, 20, nil); err != nil || len(left) != 5 {
		t.Fatalf("queue after the second restart: %d messages, %v; want 5", len(left), err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestDurableRestartKeepsAdministrationAPIEntities creates a queue, a topic,
// a subscription and a rule through the administration API (the SDK's
// admin client), sends to them, crashes the emulator and checks all of it
// after the restart.
func TestDurableRestartKeepsAdministrationAPIEntities(t *testing.T) {
	t.Parallel()
	cfg := durableConfig(t)
	srv, ac, ctx := startAdmin(t, cfg)
	if _, err := ac.CreateQueue(ctx, "made-at-runtime", &admin.CreateQueueOptions{Properties: &admin.QueueProperties{
		LockDuration: ptr("PT45S"), MaxDeliveryCount: ptr(int32(4))}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateTopic(ctx, "rt-topic", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateSubscription(ctx, "rt-topic", "rt-sub", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateRule(ctx, "rt-topic", "rt-sub", &admin.CreateRuleOptions{Name: ptr("red"),
		Filter: &admin.SQLFilter{Expression: "color = 'red'"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.DeleteRule(ctx, "rt-topic", "rt-sub", "$Default", nil); err != nil {
		t.Fatal(err)
	}
	client := newClient(t, srv)
	for _, dest := range []string{"made-at-runtime", "rt-topic"} {
		s, err := client.NewSender(dest, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, color := range []string{"red", "blue"} {
			if err := s.SendMessage(ctx, &azservicebus.Message{Body: []byte(color), ApplicationProperties: map[string]any{"color": color}}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := servicebus.Crash(srv); err != nil {
		t.Fatal(err)
	}

	srv2, ac2, ctx2 := startAdmin(t, cfg)
	q, err := ac2.GetQueue(ctx2, "made-at-runtime", nil)
	if err != nil || q == nil || *q.LockDuration != "PT45S" || *q.MaxDeliveryCount != 4 {
		t.Fatalf("runtime queue after the crash: %+v, %v", q, err)
	}
	rules := ac2.NewListRulesPager("rt-topic", "rt-sub", nil)
	var names []string
	for rules.More() {
		page, err := rules.NextPage(ctx2)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Rules {
			names = append(names, r.Name)
		}
	}
	if fmt.Sprint(names) != "[red]" {
		t.Fatalf("rules after the crash: %v, want [red]", names)
	}
	client2 := newClient(t, srv2)
	qr, err := client2.NewReceiverForQueue("made-at-runtime", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := bodiesOf(receiveN(t, ctx2, qr, 2)); fmt.Sprint(got) != "[red blue]" {
		t.Fatalf("runtime queue's messages after the crash: %v", got)
	}
	sr, err := client2.NewReceiverForSubscription("rt-topic", "rt-sub", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := bodiesOf(receiveN(t, ctx2, sr, 1)); fmt.Sprint(got) != "[red]" {
		t.Fatalf("runtime subscription's messages after the crash: %v", got)
	}
}

// TestDurableCompactionWhileServing: the log is compacted while clients
// send and complete; after a crash every acknowledged send not completed is
// there and no acknowledged completion is undone.
func TestDurableCompactionWhileServing(t *testing.T) {
	t.Parallel()
	cfg := durableConfig(t)
	srv, ctx := startServer(t, cfg)
	servicebus.SetCompactGrowth(srv, 1)
	client := newClient(t, srv)
	sender, err := client.NewSender("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := client.NewReceiverForQueue("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	sendAndComplete := func(send, complete int) {
		t.Helper()
		for i := range send {
			if err := sender.SendMessage(ctx, &azservicebus.Message{Body: fmt.Appendf(nil, "%d", i)}, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range receiveN(t, ctx, receiver, complete) {
			if err := receiver.CompleteMessage(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	sendAndComplete(200, 150)
	testkit.Eventually(t, 10*time.Second, func() error { // the log is checked each second
		if servicebus.Compactions(srv) == 0 {
			return errors.New("the log was not compacted while serving")
		}
		return nil
	})
	sendAndComplete(50, 20)
	if err := servicebus.Crash(srv); err != nil {
		t.Fatal(err)
	}
	srv2, ctx2 := startServer(t, cfg)
	stopAtCleanup(t, srv2)
	peeker, err := newClient(t, srv2).NewReceiverForQueue("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	left, err := peeker.PeekMessages(ctx2, 500, nil)
	if err != nil || len(left) != 80 {
		t.Fatalf("after the crash: %d messages, %v; want 200+50 sent − 150−20 completed = 80", len(left), err)
	}
}

// errorCounter counts log records at error level.
type errorCounter struct {
	slog.Handler
	n *atomic.Int64
}

func (h errorCounter) Enabled(context.Context, slog.Level) bool { return true }

func (h errorCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.n.Add(1)
	}
	return nil
}

// TestDurableStartJournalsCleanly: the Config.json entities made at start,
// before the log is open, are not journaled (and log no failed append).
func TestDurableStartJournalsCleanly(t *testing.T) {
	t.Parallel()
	cfg := durableConfig(t)
	var errs atomic.Int64
	cfg.AMQPAddr, cfg.Logger = "127.0.0.1:0", slog.New(errorCounter{Handler: slog.DiscardHandler, n: &errs})
	for range 2 { // a first start and a restart
		srv, err := servicebus.Start(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := errs.Load(); n != 0 {
		t.Fatalf("%d error lines while starting with a data directory", n)
	}
}

// TestDurableRestartKeepsForwardingAndStatus restarts twice after runtime
// changes through the administration API: the second start reads the
// first one's snapshot, where "a-src" comes before its forwarding
// destination "z-dst". Every message, the forwarding and the statuses
// survive.
func TestDurableRestartKeepsForwardingAndStatus(t *testing.T) {
	t.Parallel()
	cfg := durableConfig(t)
	srv, ac, ctx := startAdmin(t, cfg)
	for _, q := range []string{"z-dst", "a-src", "off"} {
		if _, err := ac.CreateQueue(ctx, q, nil); err != nil {
			t.Fatal(err)
		}
	}
	client := newClient(t, srv)
	send := func(client *azservicebus.Client, q, body string) {
		t.Helper()
		s, err := client.NewSender(q, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		if err := s.SendMessage(ctx, &azservicebus.Message{Body: []byte(body)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	send(client, "a-src", "waiting") // before ForwardTo: it stays in a-src
	send(client, "z-dst", "dst")
	if _, err := ac.UpdateQueue(ctx, "a-src", admin.QueueProperties{ForwardTo: ptr("z-dst")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.UpdateQueue(ctx, "off", admin.QueueProperties{Status: ptr(admin.EntityStatusDisabled),
		LockDuration: ptr("PT50S"), MaxDeliveryCount: ptr(int32(6))}, nil); err != nil {
		t.Fatal(err)
	}
	if err := servicebus.Crash(srv); err != nil {
		t.Fatal(err)
	}
	srv, _, _ = startAdmin(t, cfg)
	if err := servicebus.Crash(srv); err != nil {
		t.Fatal(err)
	}

	srv, ac, ctx = startAdmin(t, cfg)
	off, err := ac.GetQueue(ctx, "off", nil)
	if err != nil || off == nil || *off.Status != admin.EntityStatusDisabled || *off.LockDuration != "PT50S" || *off.MaxDeliveryCount != 6 {
		t.Fatalf("queue off after two restarts: %+v, %v; want Disabled, PT50S, 6", off, err)
	}
	src, err := ac.GetQueue(ctx, "a-src", nil)
	if err != nil || src == nil || src.ForwardTo == nil || !strings.HasSuffix(*src.ForwardTo, "/z-dst") {
		t.Fatalf("queue a-src after two restarts: %+v, %v; want ForwardTo z-dst", src, err)
	}
	client = newClient(t, srv)
	peek := func(q string) []string {
		t.Helper()
		r, err := client.NewReceiverForQueue(q, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close(ctx)
		msgs, err := r.PeekMessages(ctx, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for _, m := range msgs {
			bodies = append(bodies, string(m.Body))
		}
		return bodies
	}
	// A forwarding queue refuses receivers (and so peeks): count instead.
	if rp, err := ac.GetQueueRuntimeProperties(ctx, "a-src", nil); err != nil || rp == nil || rp.ActiveMessageCount != 1 {
		t.Fatalf("a-src after two restarts: %+v, %v; want its 1 waiting message", rp, err)
	}
	send(client, "a-src", "forwarded")
	if got := peek("z-dst"); fmt.Sprint(got) != "[dst forwarded]" {
		t.Fatalf("z-dst after two restarts and a send to a-src: %v; want [dst forwarded]", got)
	}
}

// TestDurableLogFailureStopsServing breaks the write-ahead log under a
// running server: the send that cannot be journaled is rejected, and the
// emulator fails stop (connections closed, no new ones), so nothing the
// client was told failed is ever delivered; a restart has exactly the
// acknowledged messages.
func TestDurableLogFailureStopsServing(t *testing.T) {
	t.Parallel()
	cfg := durableConfig(t)
	srv, ctx := startServer(t, cfg)
	stopAtCleanup(t, srv)
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), &azservicebus.ClientOptions{
		RetryOptions: azservicebus.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	sender, err := client.NewSender("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("kept")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := servicebus.BreakLog(srv); err != nil {
		t.Fatal(err)
	}
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("refused")}, nil); err == nil {
		t.Fatal("send with a broken log: accepted")
	}
	if !servicebus.Failed(srv) {
		t.Fatal("server did not fail stop after the log failed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.ConnectionCount() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.ConnectionCount(); n != 0 {
		t.Fatalf("%d connections still open after the fail-stop", n)
	}
	if nc, err := net.DialTimeout("tcp", srv.AMQPAddr(), time.Second); err == nil {
		_ = nc.Close()
		t.Fatal("the failed server still accepts connections")
	}
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = srv.Stop(stopCtx) // reports the log's failure

	srv2, ctx2 := startServer(t, cfg)
	stopAtCleanup(t, srv2)
	r, err := newClient(t, srv2).NewReceiverForQueue("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := r.PeekMessages(ctx2, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || string(msgs[0].Body) != "kept" {
		t.Fatalf("after the restart: %v; want only the acknowledged message", bodiesOf(msgs))
	}
}
