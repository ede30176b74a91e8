package servicebus_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/orderflow/orderflow/emulator/servicebus"
)

// Rule management over $management at the wire level (go-amqp), encoded as the JavaScript and
// .NET SDKs encode it: add-rule {rule-name, rule-description}, remove-rule {rule-name},
// enumerate-rules {top, skip} answered with described rule-description lists.

const (
	descRuleDescription   = uint64(0x0000013700000004)
	descEmptyRuleAction   = uint64(0x0000013700000005)
	descSQLRuleAction     = uint64(0x0000013700000006)
	descSQLFilter         = uint64(0x0000001370000006)
	descTrueFilter        = uint64(0x0000001370000007)
	descCorrelationFilter = uint64(0x0000001370000009)
)

// described unpacks go-amqp's decoded described value (an internal type) by reflection.
func described(t *testing.T, v any) (uint64, []any) {
	t.Helper()
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct || !rv.FieldByName("Descriptor").IsValid() {
		t.Fatalf("%#v is not a described value", v)
	}
	code, ok := rv.FieldByName("Descriptor").Interface().(uint64)
	list, ok2 := rv.FieldByName("Value").Interface().([]any)
	if !ok || !ok2 {
		t.Fatalf("described value %#v: want ulong descriptor and list", v)
	}
	return code, list
}

type ruleCall struct {
	t   *testing.T
	ctx context.Context
	s   *amqp.Session
	sub string // topic/Subscriptions/sub
}

func (r ruleCall) do(op string, body map[string]any) (int32, *amqp.Message) {
	r.t.Helper()
	code, _, resp, err := rpcCall(r.ctx, r.s, r.sub+"/$management", map[string]any{"operation": op}, body)
	if err != nil {
		r.t.Fatalf("%s: %v", op, err)
	}
	return code, resp
}

func TestRuleManagementWire(t *testing.T) {
	t.Parallel()
	srv, ctx := startServer(t, servicebus.Config{HTTPAddr: "-"})
	stopAtCleanup(t, srv)
	topic := uniqueName(t)
	if err := srv.CreateTopic(servicebus.TopicConfig{Name: topic}); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateSubscription(topic, servicebus.SubscriptionConfig{Name: "s"}); err != nil {
		t.Fatal(err)
	}
	sub := topic + "/Subscriptions/s"
	s := authorizedSession(t, ctx, srv, topic)
	r := ruleCall{t: t, ctx: ctx, s: s, sub: sub}

	add := func(name string, desc map[string]any) int32 {
		code, _ := r.do("com.microsoft:add-rule", map[string]any{"rule-name": name, "rule-description": desc})
		return code
	}
	if c := add("vip", map[string]any{
		"sql-filter":      map[string]any{"expression": "tier = 'gold' AND amount > 10"},
		"sql-rule-action": map[string]any{"expression": "SET sys.Subject = 'vip'"},
	}); c != 200 {
		t.Fatalf("add sql rule: %d", c)
	}
	if c := add("eu", map[string]any{"correlation-filter": map[string]any{
		"correlation-id": nil, "label": "order", "properties": map[string]any{"region": "eu", "priority": int64(1)},
	}}); c != 200 {
		t.Fatalf("add correlation rule: %d", c)
	}
	for name, c := range map[string]struct {
		rule string
		desc map[string]any
		want int32
	}{
		"duplicate name":      {"eu", map[string]any{"sql-filter": map[string]any{"expression": "1=1"}}, 409},
		"bad sql":             {"bad", map[string]any{"sql-filter": map[string]any{"expression": "tier = = 1"}}, 400},
		"bad action":          {"bad", map[string]any{"sql-filter": map[string]any{"expression": "1=1"}, "sql-rule-action": map[string]any{"expression": "DROP TABLE"}}, 400},
		"no filter":           {"bad", map[string]any{}, 400},
		"empty correlation":   {"bad", map[string]any{"correlation-filter": map[string]any{}}, 400},
		"no name":             {"", map[string]any{"sql-filter": map[string]any{"expression": "1=1"}}, 400},
		"name too long":       {string(make([]byte, 51)), map[string]any{"sql-filter": map[string]any{"expression": "1=1"}}, 400},
		"map-valued property": {"bad", map[string]any{"correlation-filter": map[string]any{"properties": map[string]any{"x": map[string]any{}}}}, 400},
	} {
		if got := add(c.rule, c.desc); got != c.want {
			t.Errorf("%s: add-rule %d, want %d", name, got, c.want)
		}
	}

	code, resp := r.do("com.microsoft:enumerate-rules", map[string]any{"top": int32(100), "skip": int32(0)})
	if code != 200 {
		t.Fatalf("enumerate-rules: %d", code)
	}
	body, _ := resp.Value.(map[string]any)
	list, _ := body["rules"].([]any)
	if len(list) != 3 {
		t.Fatalf("enumerate-rules: %d rules, want 3 ($Default, vip, eu): %#v", len(list), body)
	}
	type seen struct {
		name           string
		filter, action uint64
		fields         []any
		actionFields   []any
	}
	var got []seen
	for _, item := range list {
		entry, _ := item.(map[string]any)
		code, fields := described(t, entry["rule-description"])
		if code != descRuleDescription || len(fields) < 3 {
			t.Fatalf("rule-description %#x %#v", code, fields)
		}
		fc, ff := described(t, fields[0])
		ac, af := described(t, fields[1])
		got = append(got, seen{name: fields[2].(string), filter: fc, action: ac, fields: ff, actionFields: af})
	}
	if got[0].name != "$Default" || got[0].filter != descTrueFilter || got[0].action != descEmptyRuleAction {
		t.Errorf("$Default: %+v", got[0])
	}
	if got[1].name != "vip" || got[1].filter != descSQLFilter || got[1].fields[0] != "tier = 'gold' AND amount > 10" ||
		got[1].action != descSQLRuleAction || got[1].actionFields[0] != "SET sys.Subject = 'vip'" {
		t.Errorf("vip: %+v", got[1])
	}
	if got[2].name != "eu" || got[2].filter != descCorrelationFilter || len(got[2].fields) != 9 ||
		got[2].fields[0] != nil || got[2].fields[4] != "order" || got[2].action != descEmptyRuleAction {
		t.Errorf("eu: %+v", got[2])
	} else if props, _ := got[2].fields[8].(map[string]any); props["region"] != "eu" || props["priority"] != int64(1) {
		t.Errorf("eu properties: %#v", got[2].fields[8])
	}
	// Paging: skip and top.
	_, resp = r.do("com.microsoft:enumerate-rules", map[string]any{"top": int32(1), "skip": int32(1)})
	if page, _ := resp.Value.(map[string]any)["rules"].([]any); len(page) != 1 {
		t.Fatalf("top 1 skip 1: %d rules", len(page))
	}
	if code, _ := r.do("com.microsoft:enumerate-rules", map[string]any{"top": int32(10), "skip": int32(3)}); code != 204 {
		t.Fatalf("enumerate past the end: %d, want 204", code)
	}

	// The rules route: without $Default only vip (with its action) and eu select messages.
	if code, _ := r.do("com.microsoft:remove-rule", map[string]any{"rule-name": "$Default"}); code != 200 {
		t.Fatalf("remove $Default: %d", code)
	}
	if code, _ := r.do("com.microsoft:remove-rule", map[string]any{"rule-name": "$Default"}); code != 404 {
		t.Fatalf("remove twice: %d, want 404", code)
	}
	snd, err := s.NewSender(ctx, topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string, subject string, props map[string]any) {
		m := amqp.NewMessage([]byte(body))
		m.Properties = &amqp.MessageProperties{Subject: &subject}
		m.ApplicationProperties = props
		if err := snd.Send(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	send("gold", "x", map[string]any{"tier": "gold", "amount": int64(20)})
	send("eu", "order", map[string]any{"region": "eu", "priority": int64(1)})
	send("none", "order", map[string]any{"region": "us", "priority": int64(1)})
	rcv, err := s.NewReceiver(ctx, sub, &amqp.ReceiverOptions{SettlementMode: amqp.ReceiverSettleModeFirst.Ptr(), Credit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for range 2 {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(m.GetData())+"/"+*m.Properties.Subject)
	}
	slices.Sort(bodies)
	if !slices.Equal(bodies, []string{"eu/order", "gold/vip"}) {
		t.Fatalf("routed %v, want [eu/order gold/vip]", bodies)
	}
	quiet, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if m, err := rcv.Receive(quiet, nil); err == nil {
		t.Fatalf("unexpected message %q", m.GetData())
	}

	// Rules belong to subscriptions only.
	q := uniqueName(t)
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: q}); err != nil {
		t.Fatal(err)
	}
	qs := authorizedSession(t, ctx, srv, q)
	if code, _ := (ruleCall{t: t, ctx: ctx, s: qs, sub: q}).do("com.microsoft:enumerate-rules", map[string]any{"top": int32(1), "skip": int32(0)}); code != 400 {
		t.Fatalf("enumerate-rules on a queue: %d, want 400", code)
	}
}
