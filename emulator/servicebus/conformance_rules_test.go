package servicebus_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"
	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/clock"
	"github.com/orderflow/orderflow/emulator/servicebus/sbtest"
)

// Conformance of SQL rules, duplicate detection and auto-forwarding, through the real SDK.

type rulesBundle struct {
	srv    *servicebus.Server
	client *azservicebus.Client
	ctx    context.Context
}

// setupRules starts an emulator on 127.0.0.1:0 with configPath's entities ("" for none) and
// returns a connected SDK client.
func setupRules(t *testing.T, configPath string) rulesBundle {
	t.Helper()
	srv, ctx := startServer(t, servicebus.Config{HTTPAddr: "-", ConfigPath: configPath})
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return rulesBundle{srv: srv, client: newClient(t, srv), ctx: ctx}
}

func (b rulesBundle) send(t *testing.T, entity string, msgs ...*azservicebus.Message) {
	t.Helper()
	s, err := b.client.NewSender(entity, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	for _, m := range msgs {
		if err := s.SendMessage(b.ctx, m, nil); err != nil {
			t.Fatalf("send to %s: %v", entity, err)
		}
	}
}

// take receives exactly n messages from queue or topic/Subscriptions/sub (ReceiveAndDelete),
// then checks that nothing else is left.
func (b rulesBundle) take(t *testing.T, path string, n int) []*azservicebus.ReceivedMessage {
	t.Helper()
	opts := &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete}
	var r *azservicebus.Receiver
	var err error
	if topic, sub, ok := strings.Cut(path, "/Subscriptions/"); ok {
		r, err = b.client.NewReceiverForSubscription(topic, sub, opts)
	} else {
		r, err = b.client.NewReceiverForQueue(path, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	var got []*azservicebus.ReceivedMessage
	for len(got) < n {
		msgs, err := r.ReceiveMessages(b.ctx, n-len(got), nil)
		if err != nil {
			t.Fatalf("receive from %s after %d of %d messages: %v", path, len(got), n, err)
		}
		got = append(got, msgs...)
	}
	if left, err := r.PeekMessages(b.ctx, 10, nil); err != nil || len(left) != 0 {
		t.Fatalf("%s: %d unexpected messages left (%v), first %q", path, len(left), err, bodiesOf(left))
	}
	return got
}

func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Config.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOfficialSampleSubscriptionsGetWhatTheirRulesSelect(t *testing.T) {
	t.Parallel()
	// Microsoft's sample, unchanged: a correlation filter on ContentType, one on a user
	// property, a subscription with the default rule, and a SQL filter with a SET action.
	b := setupRules(t, filepath.Join("internal", "config", "testdata", "official", "Config.json"))
	ct, id, otherID := "application/json", "123456", "654321"
	b.send(t, "topic.1",
		&azservicebus.Message{Body: []byte("json"), ContentType: &ct},
		&azservicebus.Message{Body: []byte("prop"), ApplicationProperties: map[string]any{"prop1": "value1"}},
		&azservicebus.Message{Body: []byte("plain")},
		&azservicebus.Message{Body: []byte("sql"), MessageID: &id, ApplicationProperties: map[string]any{"userProp1": "value1"}},
		&azservicebus.Message{Body: []byte("sql-wrong-prop"), MessageID: &id, ApplicationProperties: map[string]any{"userProp1": "value2"}},
		&azservicebus.Message{Body: []byte("sql-wrong-id"), MessageID: &otherID, ApplicationProperties: map[string]any{"userProp1": "value1"}},
	)
	if got := bodiesOf(b.take(t, "topic.1/Subscriptions/subscription.1", 1)); got[0] != "json" {
		t.Errorf("subscription.1 got %q", got)
	}
	if got := bodiesOf(b.take(t, "topic.1/Subscriptions/subscription.2", 1)); got[0] != "prop" {
		t.Errorf("subscription.2 got %q", got)
	}
	all := b.take(t, "topic.1/Subscriptions/subscription.3", 6)
	if got := strings.Join(bodiesOf(all), ","); got != "json,prop,plain,sql,sql-wrong-prop,sql-wrong-id" {
		t.Errorf("subscription.3 got %q", got)
	}
	if all[3].To != nil || all[3].ApplicationProperties["RuleName"] != nil {
		t.Errorf("the action leaked into subscription.3's copy: To %v, properties %v", all[3].To, all[3].ApplicationProperties)
	}
	sql := b.take(t, "topic.1/Subscriptions/subscription.4", 1)[0]
	if string(sql.Body) != "sql" || sql.To == nil || *sql.To != "Entity" {
		t.Fatalf("subscription.4 got %q with To %v, want \"sql\" with To Entity (SET sys.To = 'Entity')", sql.Body, sql.To)
	}
	if sql.MessageID != id || sql.ApplicationProperties["RuleName"] != "sql-filter-1" || sql.ApplicationProperties["userProp1"] != "value1" {
		t.Errorf("subscription.4 message: id %q, properties %v", sql.MessageID, sql.ApplicationProperties)
	}
	// queue.1 works too.
	b.send(t, "queue.1", &azservicebus.Message{Body: []byte("q")})
	if got := bodiesOf(b.take(t, "queue.1", 1)); got[0] != "q" {
		t.Errorf("queue.1 got %q", got)
	}
}

func TestSQLFilterOperators(t *testing.T) {
	t.Parallel()
	b := setupRules(t, "")
	topic := uniqueName(t)
	if err := b.srv.CreateTopic(servicebus.TopicConfig{Name: topic}); err != nil {
		t.Fatal(err)
	}
	// Expected bodies per filter, for the four messages below.
	cases := []struct{ filter, want string }{
		{"qty > 5", "m1,m3"},
		{"qty >= 5", "m1,m2,m3"},
		{"qty <> 5", "m1,m3,m4"},
		{"qty != 5", "m1,m3,m4"},
		{"qty = 5", "m2"},
		{"qty < 5", "m4"},
		{"qty <= 5", "m2,m4"},
		{"color = 'red' AND qty < 10", "m1"},
		{"color = 'red' OR qty > 100", "m1,m3"},
		{"NOT (color = 'red')", "m2,m3"}, // m4 has no color: NOT unknown is unknown
		{"qty * 2 + 1 = 15", "m1"},
		{"qty % 2 = 1", "m1,m2,m4"},
		{"qty / 2 = 2", "m2"}, // long division truncates
		{"-qty < -100", "m3"},
		{"color IN ('red', 'green')", "m1,m2"},
		{"color NOT IN ('red')", "m2,m3"},
		{"name LIKE 'ab%'", "m1,m2"},
		{"name LIKE 'a_c'", "m1"},
		{"name LIKE 'x!%%' ESCAPE '!'", "m3"},
		{"name NOT LIKE '%c'", "m2,m4"},
		{"color IS NULL", "m4"},
		{"color IS NOT NULL", "m1,m2,m3"},
		{"missing = 1", ""},
		{"NOT (missing = 1)", ""},
		{"missing IS NULL", "m1,m2,m3,m4"},
		{"EXISTS(color)", "m1,m2,m3"},
		{"NOT EXISTS(color)", "m4"},
		{"i32 = 5.0", "m1"},
		{"f = 5", "m1"},
		{"i64 = i32", "m1"},
		{"i32 + 0.5 = 5.5", "m1"},
		{"big > 2147483647", "m1"},
		{"qty = 7.0", "m1"},
		{"sys.Label = 'order'", "m1"},
		{"sys.MessageId LIKE 'm-%'", "m1,m2,m4"},
		{"sys.CorrelationId = 'c1'", "m1"},
		{"sys.ContentType = 'application/json'", "m1"},
		{"sys.To IS NULL", "m1,m2,m3,m4"},
		{"[my prop] = 'x'", "m1"},
		{"COLOR = 'red'", "m1"},
		{"user.color = 'green'", "m2"},
		{"color > 1", ""}, // string vs number cannot be evaluated: no match
		{"1=1", "m1,m2,m3,m4"},
		{"1=0", ""},
	}
	for i, c := range cases {
		f, err := servicebus.NewSQLFilter(c.filter)
		if err != nil {
			t.Fatalf("%q: %v", c.filter, err)
		}
		if err := b.srv.CreateSubscription(topic, servicebus.SubscriptionConfig{Name: fmt.Sprintf("f%02d", i),
			Rules: []servicebus.Rule{{Name: "r", Filter: f}}}); err != nil {
			t.Fatal(err)
		}
	}
	subject, corr, ct := "order", "c1", "application/json"
	id := func(s string) *string { return &s }
	b.send(t, topic,
		&azservicebus.Message{Body: []byte("m1"), MessageID: id("m-1"), Subject: &subject, CorrelationID: &corr, ContentType: &ct,
			ApplicationProperties: map[string]any{"color": "red", "qty": int64(7), "name": "abc", "i32": int32(5), "i64": int64(5),
				"f": 5.0, "big": int64(1) << 40, "my prop": "x"}},
		&azservicebus.Message{Body: []byte("m2"), MessageID: id("m-2"), ApplicationProperties: map[string]any{"color": "green", "qty": int64(5), "name": "abd"}},
		&azservicebus.Message{Body: []byte("m3"), MessageID: id("other"), ApplicationProperties: map[string]any{"color": "blue", "qty": int64(200), "name": "x%yc"}},
		&azservicebus.Message{Body: []byte("m4"), MessageID: id("m-4"), ApplicationProperties: map[string]any{"qty": int32(3), "name": "zzz"}},
	)
	for i, c := range cases {
		t.Run(fmt.Sprintf("f%02d", i), func(t *testing.T) {
			t.Parallel()
			n := 0
			if c.want != "" {
				n = strings.Count(c.want, ",") + 1
			}
			got := strings.Join(bodiesOf(b.take(t, topic+"/Subscriptions/"+fmt.Sprintf("f%02d", i), n)), ",")
			if got != c.want {
				t.Errorf("%q selected %q, want %q", c.filter, got, c.want)
			}
		})
	}
}

func TestSQLActionsAsSeenByTheReceiver(t *testing.T) {
	t.Parallel()
	b := setupRules(t, "")
	topic := uniqueName(t)
	if err := b.srv.CreateTopic(servicebus.TopicConfig{Name: topic}); err != nil {
		t.Fatal(err)
	}
	plain, err := servicebus.NewSQLFilter("kind = 'a'")
	if err != nil {
		t.Fatal(err)
	}
	action, err := servicebus.NewSQLAction(`SET color = 'blue'; SET qty = qty + 1; REMOVE drop; SET f = 2;
		SET sys.Label = 'changed'; SET sys.CorrelationId = 'corr-2'; SET sys.To = NULL; SET id = newid(); SET copied = sys.MessageId; SET span = sys.TimeToLive`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := servicebus.NewSQLFilter("kind = "); err == nil || !strings.Contains(err.Error(), "1:8") {
		t.Fatalf("bad filter: %v, want a parse error at 1:8", err)
	}
	if err := b.srv.CreateSubscription(topic, servicebus.SubscriptionConfig{Name: "s", Rules: []servicebus.Rule{
		{Name: "plain", Filter: plain},
		{Name: "upd", Filter: plain, Action: action},
	}}); err != nil {
		t.Fatal(err)
	}
	subject, corr, to, msgID := "orig", "corr-1", "someone", "mid"
	b.send(t, topic, &azservicebus.Message{Body: []byte("x"), Subject: &subject, CorrelationID: &corr, To: &to, MessageID: &msgID,
		ApplicationProperties: map[string]any{"kind": "a", "color": "red", "qty": int64(1), "drop": "x", "f": 1.5}})
	got := b.take(t, topic+"/Subscriptions/s", 2)
	slices.SortFunc(got, func(x, y *azservicebus.ReceivedMessage) int { return int(*x.SequenceNumber - *y.SequenceNumber) })
	orig, changed := got[0], got[1]
	if orig.ApplicationProperties["RuleName"] != nil {
		orig, changed = changed, orig
	}
	if orig.ApplicationProperties["color"] != "red" || *orig.Subject != "orig" || *orig.To != "someone" || orig.ApplicationProperties["RuleName"] != nil {
		t.Errorf("copy for the rule without action changed: %+v %v", orig, orig.ApplicationProperties)
	}
	p := changed.ApplicationProperties
	if p["RuleName"] != "upd" || p["color"] != "blue" || p["qty"] != int64(2) || p["f"] != 2.0 || p["copied"] != "mid" {
		t.Errorf("user properties after the action: %v", p)
	}
	if _, ok := p["drop"]; ok {
		t.Errorf("REMOVE drop left it: %v", p)
	}
	if p["span"] == nil { // a TimeSpan travels as the described long com.microsoft:timespan
		t.Errorf("SET span = sys.TimeToLive: %v", p)
	}
	if v := reflect.ValueOf(p["id"]); !v.IsValid() || v.Kind() != reflect.Array || v.Len() != 16 {
		t.Errorf("newid() arrived as %T %v, want a uuid", p["id"], p["id"])
	}
	if changed.Subject == nil || *changed.Subject != "changed" || changed.CorrelationID == nil || *changed.CorrelationID != "corr-2" || changed.To != nil {
		t.Errorf("system properties after the action: Subject %v CorrelationID %v To %v", changed.Subject, changed.CorrelationID, changed.To)
	}
	if *orig.SequenceNumber == *changed.SequenceNumber {
		t.Errorf("both copies have sequence number %d", *orig.SequenceNumber)
	}
}

func TestConfigWithBadSQLOrForwardingLoopIsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"sql filter", `{"UserConfig": {"Namespaces": [{"Name": "ns", "Queues": [], "Topics": [{"Name": "t", "Subscriptions": [{"Name": "s",
			"Rules": [{"Name": "bad", "Properties": {"FilterType": "Sql", "SqlFilter": {"SqlExpression": "a = 1 AND (b = 2"}}}]}]}]}], "Logging": {"Type": "Console"}}}`,
			[]string{`rule "bad"`, "1:17"}},
		{"forwarding loop", `{"UserConfig": {"Namespaces": [{"Name": "ns", "Queues": [{"Name": "a", "Properties": {"ForwardTo": "b"}},
			{"Name": "b", "Properties": {"ForwardDeadLetteredMessagesTo": "c"}}, {"Name": "c", "Properties": {"ForwardTo": "a"}}], "Topics": []}], "Logging": {"Type": "Console"}}}`,
			[]string{"auto-forwarding loop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := servicebus.Start(context.Background(), servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", ConfigPath: writeConfig(t, tt.doc)})
			if err == nil {
				_ = srv.Stop(context.Background())
				t.Fatal("Start accepted the file")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDuplicateDetectionInsideAndAfterTheWindow(t *testing.T) {
	t.Parallel()
	const window = 10 * time.Minute
	q, topic := uniqueName(t), uniqueName(t)
	clk := clock.NewFake(time.Now())
	srv := sbtest.New(t, sbtest.WithClock(clk), sbtest.WithConfig(servicebus.Config{Logger: testLogger(t)}),
		sbtest.Queue(servicebus.QueueConfig{Name: q, RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: window}),
		sbtest.Topic(servicebus.TopicConfig{Name: topic, RequiresDuplicateDetection: true}, servicebus.SubscriptionConfig{Name: "s"}))
	b := rulesBundle{srv: srv, client: newClient(t, srv), ctx: testContext(t)}
	x, y := "x", "y"
	b.send(t, q, &azservicebus.Message{Body: []byte("first"), MessageID: &x}, &azservicebus.Message{Body: []byte("dup"), MessageID: &x},
		&azservicebus.Message{Body: []byte("other"), MessageID: &y})
	if got := strings.Join(bodiesOf(b.take(t, q, 2)), ","); got != "first,other" {
		t.Fatalf("queue got %q, want first,other (the duplicate accepted and dropped)", got)
	}
	b.send(t, topic, &azservicebus.Message{Body: []byte("t1"), MessageID: &x}, &azservicebus.Message{Body: []byte("t-dup"), MessageID: &x})
	if got := bodiesOf(b.take(t, topic+"/Subscriptions/s", 1)); got[0] != "t1" {
		t.Fatalf("subscription got %q", got)
	}
	// A window counts from the first accepted send: a duplicate 1 ms before its end is still
	// dropped, and at its end the id is forgotten. The topic's window is the default, 20 s.
	clk.Advance(20*time.Second - time.Millisecond)
	b.send(t, topic, &azservicebus.Message{Body: []byte("t-late-dup"), MessageID: &x})
	clk.Advance(time.Millisecond)
	b.send(t, topic, &azservicebus.Message{Body: []byte("t2"), MessageID: &x})
	if got := bodiesOf(b.take(t, topic+"/Subscriptions/s", 1)); got[0] != "t2" {
		t.Fatalf("subscription got %q after the 20 s window, want t2", got)
	}
	clk.Advance(window - 20*time.Second - time.Millisecond)
	b.send(t, q, &azservicebus.Message{Body: []byte("late-dup"), MessageID: &x})
	clk.Advance(time.Millisecond)
	b.send(t, q, &azservicebus.Message{Body: []byte("again"), MessageID: &x})
	if got := bodiesOf(b.take(t, q, 1)); got[0] != "again" {
		t.Fatalf("queue got %q after the window, want again", got)
	}
}

func TestForwardingChainsAndDeadLetterForwarding(t *testing.T) {
	t.Parallel()
	doc := `{"UserConfig": {"Namespaces": [{"Name": "sbemulatorns",
	  "Queues": [
	    {"Name": "entry", "Properties": {"ForwardTo": "middle"}},
	    {"Name": "middle", "Properties": {"ForwardTo": "final"}},
	    {"Name": "final"},
	    {"Name": "work", "Properties": {"ForwardDeadLetteredMessagesTo": "errors"}},
	    {"Name": "errors"},
	    {"Name": "orders"},
	    {"Name": "h5", "Properties": {"ForwardTo": "h4"}}, {"Name": "h4", "Properties": {"ForwardTo": "h3"}},
	    {"Name": "h3", "Properties": {"ForwardTo": "h2"}}, {"Name": "h2", "Properties": {"ForwardTo": "h1"}},
	    {"Name": "h1", "Properties": {"ForwardTo": "h0"}}, {"Name": "h0"}],
	  "Topics": [{"Name": "events", "Subscriptions": [
	    {"Name": "to-orders", "Properties": {"ForwardTo": "orders"}, "Rules": [{"Name": "only-orders",
	       "Properties": {"FilterType": "Sql", "SqlFilter": {"SqlExpression": "sys.Label = 'order'"}}}]},
	    {"Name": "audit"}]}]}],
	  "Logging": {"Type": "Console"}}}`
	b := setupRules(t, writeConfig(t, doc))

	// queue -> queue -> queue
	b.send(t, "entry", &azservicebus.Message{Body: []byte("chained")})
	got := b.take(t, "final", 1)[0]
	if string(got.Body) != "chained" || got.EnqueuedSequenceNumber == nil || *got.EnqueuedSequenceNumber != 1 {
		t.Errorf("final got %q, enqueued sequence number %v", got.Body, got.EnqueuedSequenceNumber)
	}
	r, err := b.client.NewReceiverForQueue("entry", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.ReceiveMessages(b.ctx, 1, nil)
	_ = r.Close(context.Background())
	if amqpCondition(err) != amqp.ErrCondNotAllowed {
		t.Errorf("receive from a forwarding queue: %v, want amqp:not-allowed", err)
	}

	// At most four hops: h4 reaches h0, h5 would need a fifth and ends in h1's dead-letter queue.
	b.send(t, "h4", &azservicebus.Message{Body: []byte("four hops")})
	b.send(t, "h5", &azservicebus.Message{Body: []byte("five hops")})
	if got := bodiesOf(b.take(t, "h0", 1)); got[0] != "four hops" {
		t.Errorf("h0 got %q", got)
	}
	hopDLQ, err := b.client.NewReceiverForQueue("h1", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		t.Fatal(err)
	}
	defer hopDLQ.Close(context.Background())
	hop, err := hopDLQ.ReceiveMessages(b.ctx, 1, nil)
	if err != nil || string(hop[0].Body) != "five hops" || hop[0].DeadLetterReason == nil || *hop[0].DeadLetterReason != "MaxTransferHopCountExceeded" {
		t.Fatalf("h1 DLQ: %v, %v", hop, err)
	}
	if err := hopDLQ.CompleteMessage(b.ctx, hop[0], nil); err != nil {
		t.Errorf("complete in the DLQ: %v", err)
	}

	// topic subscription -> queue, after the subscription's SQL filter
	order, other := "order", "other"
	b.send(t, "events", &azservicebus.Message{Body: []byte("o1"), Subject: &order}, &azservicebus.Message{Body: []byte("x1"), Subject: &other})
	if got := bodiesOf(b.take(t, "orders", 1)); got[0] != "o1" {
		t.Errorf("orders got %q", got)
	}
	if got := strings.Join(bodiesOf(b.take(t, "events/Subscriptions/audit", 2)), ","); got != "o1,x1" {
		t.Errorf("audit got %q", got)
	}

	// dead letters of work go to errors
	b.send(t, "work", &azservicebus.Message{Body: []byte("poison")})
	wr, err := b.client.NewReceiverForQueue("work", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Close(context.Background())
	msgs, err := wr.ReceiveMessages(b.ctx, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	reason, desc := "Poison", "cannot parse"
	if err := wr.DeadLetterMessage(b.ctx, msgs[0], &azservicebus.DeadLetterOptions{Reason: &reason, ErrorDescription: &desc}); err != nil {
		t.Fatal(err)
	}
	dl := b.take(t, "errors", 1)[0]
	if string(dl.Body) != "poison" || dl.DeadLetterReason == nil || *dl.DeadLetterReason != reason ||
		dl.DeadLetterSource == nil || *dl.DeadLetterSource != "work" {
		t.Errorf("errors got %q reason %v source %v", dl.Body, dl.DeadLetterReason, dl.DeadLetterSource)
	}
	dlq, err := b.client.NewReceiverForQueue("work", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close(context.Background())
	if left, err := dlq.PeekMessages(b.ctx, 10, nil); err != nil || len(left) != 0 {
		t.Errorf("work's own DLQ: %d messages, %v; want none (forwarded)", len(left), err)
	}
}
