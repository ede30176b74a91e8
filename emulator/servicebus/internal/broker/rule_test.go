package broker_test

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
	"github.com/orderflow/orderflow/internal/testkit"
)

func sqlRule(t *testing.T, name, filter, action string) broker.Rule {
	t.Helper()
	f, err := broker.NewSQLFilter(filter)
	must(t, err)
	a, err := broker.NewSQLAction(action)
	must(t, err)
	return broker.Rule{Name: name, Filter: f, Action: a}
}

func TestSQLRuleParseErrorsCarryPosition(t *testing.T) {
	t.Parallel()
	_, err := broker.NewSQLFilter("sys.MessageId = ")
	var syn *sqlfilter.SyntaxError
	if !errors.Is(err, broker.ErrInvalid) || !errors.As(err, &syn) || syn.Column != 17 {
		t.Fatalf("error = %v, want ErrInvalid with a syntax error at column 17", err)
	}
	if _, err := broker.NewSQLAction("SET sys.SequenceNumber = 1"); !errors.Is(err, broker.ErrInvalid) {
		t.Fatalf("read-only action target: %v", err)
	}
	if a, err := broker.NewSQLAction("  "); a != nil || err != nil {
		t.Fatalf("blank action = %v, %v; want no action", a, err)
	}
}

func TestSQLRulesRouteCopies(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s", Rules: []broker.Rule{
		sqlRule(t, "plain1", "color = 'blue'", ""),
		sqlRule(t, "plain2", "qty > 5", ""),
		sqlRule(t, "act1", "color = 'blue'", "SET tagged = 'one'; SET sys.Label = 'relabelled'"),
		sqlRule(t, "act2", "qty > 5", "REMOVE color"),
		sqlRule(t, "broken", "color > 1", ""), // type mismatch: never matches
	}}))
	m := &broker.Message{Body: []byte("b"), ApplicationProperties: map[string]any{"color": "blue", "qty": int32(7)},
		Properties: broker.Properties{Present: broker.PropSubject, Subject: "orig"}}
	seqs := bd.send(t, "t", m)
	got := bd.receive(t, "t/Subscriptions/s", broker.ReceiveAndDelete, 10)
	// Two rules without action OR into one copy; each rule with an action adds its own.
	if len(got) != 3 {
		t.Fatalf("got %d copies, want 3", len(got))
	}
	byRule := map[string]*broker.Message{}
	for _, c := range got {
		name, _ := c.ApplicationProperties[broker.PropRuleName].(string)
		byRule[name] = c
	}
	plain, act1, act2 := byRule[""], byRule["act1"], byRule["act2"]
	if plain == nil || act1 == nil || act2 == nil {
		t.Fatalf("copies by RuleName: %v", byRule)
	}
	if plain.SequenceNumber != seqs[0] || plain.Properties.Subject != "orig" || plain.ApplicationProperties["tagged"] != nil {
		t.Errorf("plain copy changed: %+v", plain)
	}
	if act1.ApplicationProperties["tagged"] != "one" || act1.Properties.Subject != "relabelled" || !act1.Properties.Has(broker.PropSubject) {
		t.Errorf("act1 copy: %+v", act1)
	}
	if _, ok := act2.ApplicationProperties["color"]; ok || act2.ApplicationProperties["qty"] != int32(7) {
		t.Errorf("act2 copy: %v", act2.ApplicationProperties)
	}
	nums := []int64{plain.SequenceNumber, act1.SequenceNumber, act2.SequenceNumber}
	slices.Sort(nums)
	if len(slices.Compact(nums)) != 3 {
		t.Errorf("copies share sequence numbers: %v", nums)
	}
	// The sender's message is untouched.
	if m.ApplicationProperties["color"] != "blue" || len(m.ApplicationProperties) != 2 {
		t.Errorf("sent message modified: %v", m.ApplicationProperties)
	}
}

func TestSQLFilterSystemProperties(t *testing.T) {
	t.Parallel()
	bd := setup(t)
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s", Rules: []broker.Rule{
		sqlRule(t, "r", "sys.MessageId = '123456' AND sys.CorrelationId LIKE 'c%' OR sys.SessionId IS NOT NULL", ""),
	}}))
	must(t, bd.b.CreateSubscription("t", broker.SubscriptionConfig{Name: "to", Rules: []broker.Rule{
		sqlRule(t, "r", "sys.MessageId = '123456' AND userProp1 = 'value1'", "SET sys.To = 'Entity'; SET id = newid(); SET ttl = sys.TimeToLive"),
	}}))
	match := &broker.Message{Header: broker.Header{TTL: time.Minute}, ApplicationProperties: map[string]any{"userProp1": "value1"},
		Properties: broker.Properties{Present: broker.PropMessageID | broker.PropCorrelationID, MessageID: "123456", CorrelationID: "corr"}}
	miss := &broker.Message{Properties: broker.Properties{Present: broker.PropMessageID, MessageID: "123456"}}
	bd.send(t, "t", match, miss)
	if got := bd.receive(t, "t/Subscriptions/s", broker.ReceiveAndDelete, 10); len(got) != 1 || got[0].Properties.CorrelationID != "corr" {
		t.Fatalf("s got %d messages", len(got))
	}
	got := bd.receive(t, "t/Subscriptions/to", broker.ReceiveAndDelete, 10)
	if len(got) != 1 || got[0].Properties.To != "Entity" || !got[0].Properties.Has(broker.PropTo) || got[0].ApplicationProperties[broker.PropRuleName] != "r" {
		t.Fatalf("to got %+v", got)
	}
	if _, ok := got[0].ApplicationProperties["id"].([16]byte); ok {
		t.Errorf("newid() stored as a plain array, want the codec uuid type")
	}
	if got[0].ApplicationProperties["id"] == nil || got[0].ApplicationProperties["ttl"] == nil {
		t.Errorf("action values missing: %v", got[0].ApplicationProperties)
	}
}

func TestSQLEvaluationFailureIsLoggedAndDoesNotMatch(t *testing.T) {
	t.Parallel()
	var logs testkit.Buffer
	b := broker.New(broker.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	t.Cleanup(b.Stop)
	must(t, b.CreateTopic(broker.TopicConfig{Name: "t"}))
	must(t, b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s", Rules: []broker.Rule{
		sqlRule(t, "divides", "10 / qty = 5", ""),
		sqlRule(t, "retypes", "1=1", "SET sys.Label = qty"),
	}}))
	if _, err := b.Send("t", []*broker.Message{{ApplicationProperties: map[string]any{"qty": int64(0)}}}); err != nil {
		t.Fatal(err)
	}
	st, err := b.Stats("t/Subscriptions/s")
	must(t, err)
	if st.Active != 0 {
		t.Errorf("a failing filter or action selected the message: %+v", st)
	}
	for _, want := range []string{"rule=divides", "division by zero", "rule=retypes", "cannot assign long to sys.Label"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not mention %q:\n%s", want, logs.String())
		}
	}
}

// BenchmarkSQLFanOut sends to a topic whose ten subscriptions have SQL
// filters (half match) and one rule with an action.
func BenchmarkSQLFanOut(b *testing.B) {
	br := broker.New(broker.Config{})
	defer br.Stop()
	if err := br.CreateTopic(broker.TopicConfig{Name: "t", DefaultMessageTimeToLive: time.Minute}); err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		f, err := broker.NewSQLFilter(fmt.Sprintf("region = 'eu' AND qty > %d", i*10))
		if err != nil {
			b.Fatal(err)
		}
		rule := broker.Rule{Name: "r", Filter: f}
		if i == 0 {
			rule.Action, _ = broker.NewSQLAction("SET seen = 1")
		}
		if err := br.CreateSubscription("t", broker.SubscriptionConfig{Name: fmt.Sprint("s", i), Rules: []broker.Rule{rule}}); err != nil {
			b.Fatal(err)
		}
	}
	msgs := []*broker.Message{{Body: make([]byte, 64), ApplicationProperties: map[string]any{"region": "eu", "qty": int64(45)}}}
	recv := make([]*broker.Receiver, 10)
	for i := range recv {
		r, err := br.NewReceiver(fmt.Sprint("t/Subscriptions/s", i), broker.ReceiveAndDelete)
		if err != nil {
			b.Fatal(err)
		}
		recv[i] = r
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Send("t", msgs); err != nil {
			b.Fatal(err)
		}
		for _, r := range recv[:5] {
			if got, _ := r.TryReceive(1); len(got) != 1 {
				b.Fatal("matching subscription got nothing")
			}
		}
	}
}
