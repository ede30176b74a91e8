package servicebus_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"
	"github.com/orderflow/orderflow/emulator/servicebus"
)

// sameFields compares two structs of the same type field by field (pointers
// dereferenced) and reports each field that differs. Forwarding URLs are
// compared without their host, which names the server's port.
func sameFields(t *testing.T, what string, want, got any) {
	t.Helper()
	wv, gv := reflect.Indirect(reflect.ValueOf(want)), reflect.Indirect(reflect.ValueOf(got))
	for i := range wv.NumField() {
		w, g := wv.Field(i).Interface(), gv.Field(i).Interface()
		if strings.HasPrefix(wv.Type().Field(i).Name, "Forward") {
			w, g = withoutHost(w), withoutHost(g)
		}
		if !reflect.DeepEqual(w, g) {
			t.Errorf("%s.%s: want %v, got %v", what, wv.Type().Field(i).Name, deref(w), deref(g))
		}
	}
}

// succeeds returns a check of an administration call's result that ends
// the test on an error.
func succeeds(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func withoutHost(v any) any {
	if s, ok := deref(v).(string); ok {
		if rest, ok := strings.CutPrefix(s, "sb://"); ok {
			_, path, _ := strings.Cut(rest, "/")
			return path
		}
	}
	return v
}

func deref(v any) any {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return rv.Elem().Interface()
	}
	return v
}

// sentFields checks that every field set in sent reads back as sent: the
// values the test chose really were stored, so the comparison after the
// restart compares non-default values. ForwardTo fields read back as URLs
// ending in the name.
func sentFields(t *testing.T, what string, sent, got any) {
	t.Helper()
	sv, gv := reflect.Indirect(reflect.ValueOf(sent)), reflect.Indirect(reflect.ValueOf(got))
	for i := range sv.NumField() {
		f := sv.Field(i)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		name := sv.Type().Field(i).Name
		s, g := f.Elem().Interface(), deref(gv.Field(i).Interface())
		if strings.HasPrefix(name, "Forward") {
			if gs, _ := g.(string); strings.HasSuffix(gs, "/"+s.(string)) {
				continue
			}
		}
		if !reflect.DeepEqual(s, g) {
			t.Errorf("%s.%s: sent %v, read back %v", what, name, s, g)
		}
	}
}

// TestDurableRestartKeepsEveryAdministrationProperty creates and updates
// queues, a topic, subscriptions and rules through the Go administration
// client with every property the API takes set to a non-default value, then
// crashes the emulator and compares what the restarted one reports, field by
// field, creation and update times included.
func TestDurableRestartKeepsEveryAdministrationProperty(t *testing.T) {
	t.Parallel()
	cfg := durableConfig(t)
	srv, ac, ctx := startAdmin(t, cfg)
	must := succeeds(t)
	must(ac.CreateQueue(ctx, "dest", nil))

	// Two queues between them set every property: a session-enabled entity
	// cannot have ForwardTo.
	queues := map[string]admin.QueueProperties{
		"qa": {
			LockDuration: ptr("PT45S"), MaxSizeInMegabytes: ptr(int32(2048)), RequiresDuplicateDetection: ptr(true),
			RequiresSession: ptr(true), DefaultMessageTimeToLive: ptr("PT2H"), DeadLetteringOnMessageExpiration: ptr(true),
			DuplicateDetectionHistoryTimeWindow: ptr("PT5M"), MaxDeliveryCount: ptr(int32(7)), EnableBatchedOperations: ptr(false),
			Status: ptr(admin.EntityStatusReceiveDisabled), AutoDeleteOnIdle: ptr("PT2H30M"), EnablePartitioning: ptr(true),
			ForwardDeadLetteredMessagesTo: ptr("dest"), UserMetadata: ptr("queue a's metadata"),
			MaxMessageSizeInKilobytes: ptr(int64(1024)),
		},
		"qb": {
			LockDuration: ptr("PT20S"), MaxDeliveryCount: ptr(int32(3)), ForwardTo: ptr("dest"),
			Status: ptr(admin.EntityStatusSendDisabled), AutoDeleteOnIdle: ptr("PT10M"), UserMetadata: ptr("queue b"),
			EnableBatchedOperations: ptr(false), MaxMessageSizeInKilobytes: ptr(int64(512)),
		},
	}
	for name, p := range queues {
		// Created with other values, then updated to these: both journal.
		must(ac.CreateQueue(ctx, name, &admin.CreateQueueOptions{Properties: &admin.QueueProperties{
			RequiresSession: p.RequiresSession, RequiresDuplicateDetection: p.RequiresDuplicateDetection,
			EnablePartitioning: p.EnablePartitioning, UserMetadata: ptr("first"), AutoDeleteOnIdle: ptr("PT6M")}}))
		must(ac.UpdateQueue(ctx, name, p, nil))
	}
	topic := admin.TopicProperties{
		MaxSizeInMegabytes: ptr(int32(3072)), RequiresDuplicateDetection: ptr(true), DefaultMessageTimeToLive: ptr("P3D"),
		DuplicateDetectionHistoryTimeWindow: ptr("PT3M"), EnableBatchedOperations: ptr(false),
		Status: ptr(admin.EntityStatusSendDisabled), AutoDeleteOnIdle: ptr("P1D"), EnablePartitioning: ptr(true),
		SupportOrdering: ptr(false), UserMetadata: ptr("the topic"), MaxMessageSizeInKilobytes: ptr(int64(2048)),
	}
	must(ac.CreateTopic(ctx, "tp", &admin.CreateTopicOptions{Properties: &admin.TopicProperties{
		RequiresDuplicateDetection: ptr(true), EnablePartitioning: ptr(true), UserMetadata: ptr("first")}}))
	must(ac.UpdateTopic(ctx, "tp", topic, nil))

	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// The Go client sends no Status for a subscription (its description
	// writer leaves it out), so that one is not set here.
	subs := map[string]admin.SubscriptionProperties{
		"sa": {
			LockDuration: ptr("PT1M30S"), RequiresSession: ptr(true), DefaultMessageTimeToLive: ptr("PT50M"),
			DeadLetteringOnMessageExpiration: ptr(true), EnableDeadLetteringOnFilterEvaluationExceptions: ptr(true),
			MaxDeliveryCount: ptr(int32(2)), AutoDeleteOnIdle: ptr("PT7M"),
			ForwardDeadLetteredMessagesTo: ptr("dest"), EnableBatchedOperations: ptr(false), UserMetadata: ptr("sub a"),
		},
		"sb": {ForwardTo: ptr("dest"), UserMetadata: ptr("sub b"), AutoDeleteOnIdle: ptr("PT8M")},
	}
	for name, p := range subs {
		must(ac.CreateSubscription(ctx, "tp", name, &admin.CreateSubscriptionOptions{Properties: &admin.SubscriptionProperties{
			RequiresSession: p.RequiresSession, UserMetadata: ptr("first"),
			DefaultRule: &admin.RuleProperties{Name: "$Default",
				Filter: &admin.SQLFilter{Expression: "user.n > @min", Parameters: map[string]any{"@min": int64(3)}},
				Action: &admin.SQLAction{Expression: "SET user.tag = @tag", Parameters: map[string]any{"@tag": name}}}}}))
		must(ac.UpdateSubscription(ctx, "tp", name, p, nil))
	}
	// Rules of a plain subscription, which also shows that the parameters
	// still filter after the restart.
	must(ac.CreateSubscription(ctx, "tp", "plain", nil))
	rules := map[string]admin.RuleProperties{
		"params": {Name: "params",
			Filter: &admin.SQLFilter{Expression: "user.color = @c AND user.n >= @n AND user.x < @x AND user.ok = @ok AND user.at < @at",
				Parameters: map[string]any{"@c": "red", "@n": int64(2), "@x": 2.5, "@ok": true, "@at": created}},
			Action: &admin.SQLAction{Expression: "SET user.seen = @s", Parameters: map[string]any{"@s": "yes"}}},
		"corr": {Name: "corr", Filter: &admin.CorrelationFilter{CorrelationID: ptr("cid"), Subject: ptr("label"),
			ApplicationProperties: map[string]any{"k": "v", "n": int64(5)}}},
	}
	must(ac.CreateRule(ctx, "tp", "plain", &admin.CreateRuleOptions{Name: ptr("params"),
		Filter: &admin.SQLFilter{Expression: "user.color = @c", Parameters: map[string]any{"@c": "blue"}}}))
	must(ac.UpdateRule(ctx, "tp", "plain", rules["params"]))
	must(ac.CreateRule(ctx, "tp", "plain", &admin.CreateRuleOptions{Name: ptr("corr"), Filter: rules["corr"].Filter}))
	must(ac.DeleteRule(ctx, "tp", "plain", "$Default", nil))

	type snapshot struct {
		queues  map[string]*admin.GetQueueResponse
		qtimes  map[string]*admin.GetQueueRuntimePropertiesResponse
		topic   *admin.GetTopicResponse
		ttimes  *admin.GetTopicRuntimePropertiesResponse
		subs    map[string]*admin.GetSubscriptionResponse
		stimes  map[string]*admin.GetSubscriptionRuntimePropertiesResponse
		rules   map[string]*admin.GetRuleResponse
		dflRule map[string]*admin.GetRuleResponse
	}
	read := func(ctx context.Context, ac *admin.Client) snapshot {
		t.Helper()
		s := snapshot{queues: map[string]*admin.GetQueueResponse{}, qtimes: map[string]*admin.GetQueueRuntimePropertiesResponse{},
			subs: map[string]*admin.GetSubscriptionResponse{}, stimes: map[string]*admin.GetSubscriptionRuntimePropertiesResponse{},
			rules: map[string]*admin.GetRuleResponse{}, dflRule: map[string]*admin.GetRuleResponse{}}
		var err error
		for name := range queues {
			if s.queues[name], err = ac.GetQueue(ctx, name, nil); err != nil || s.queues[name] == nil {
				t.Fatalf("GetQueue %s: %v, %v", name, s.queues[name], err)
			}
			if s.qtimes[name], err = ac.GetQueueRuntimeProperties(ctx, name, nil); err != nil || s.qtimes[name] == nil {
				t.Fatalf("GetQueueRuntimeProperties %s: %v", name, err)
			}
		}
		if s.topic, err = ac.GetTopic(ctx, "tp", nil); err != nil || s.topic == nil {
			t.Fatalf("GetTopic: %v", err)
		}
		if s.ttimes, err = ac.GetTopicRuntimeProperties(ctx, "tp", nil); err != nil || s.ttimes == nil {
			t.Fatalf("GetTopicRuntimeProperties: %v", err)
		}
		for name := range subs {
			if s.subs[name], err = ac.GetSubscription(ctx, "tp", name, nil); err != nil || s.subs[name] == nil {
				t.Fatalf("GetSubscription %s: %v", name, err)
			}
			if s.stimes[name], err = ac.GetSubscriptionRuntimeProperties(ctx, "tp", name, nil); err != nil || s.stimes[name] == nil {
				t.Fatalf("GetSubscriptionRuntimeProperties %s: %v", name, err)
			}
			if s.dflRule[name], err = ac.GetRule(ctx, "tp", name, "$Default", nil); err != nil || s.dflRule[name] == nil {
				t.Fatalf("GetRule %s/$Default: %v", name, err)
			}
		}
		for name := range rules {
			if s.rules[name], err = ac.GetRule(ctx, "tp", "plain", name, nil); err != nil || s.rules[name] == nil {
				t.Fatalf("GetRule %s: %v", name, err)
			}
		}
		return s
	}
	before := read(ctx, ac)
	for name, p := range queues {
		sentFields(t, "queue "+name, &p, &before.queues[name].QueueProperties)
	}
	sentFields(t, "topic", &topic, &before.topic.TopicProperties)
	for name, p := range subs {
		sentFields(t, "subscription "+name, &p, &before.subs[name].SubscriptionProperties)
	}
	for name, r := range rules {
		sameFields(t, "rule "+name, &r, &before.rules[name].RuleProperties)
	}
	if t.Failed() {
		t.Fatal("the properties set do not read back before the restart")
	}

	time.Sleep(10 * time.Millisecond) // a restart that reset the times would show
	if err := servicebus.Crash(srv); err != nil {
		t.Fatal(err)
	}
	srv2, ac2, ctx2 := startAdmin(t, cfg)
	after := read(ctx2, ac2)
	for name := range queues {
		sameFields(t, "queue "+name, &before.queues[name].QueueProperties, &after.queues[name].QueueProperties)
		sameTimes(t, "queue "+name, before.qtimes[name].CreatedAt, before.qtimes[name].UpdatedAt,
			after.qtimes[name].CreatedAt, after.qtimes[name].UpdatedAt)
	}
	sameFields(t, "topic", &before.topic.TopicProperties, &after.topic.TopicProperties)
	sameTimes(t, "topic", before.ttimes.CreatedAt, before.ttimes.UpdatedAt, after.ttimes.CreatedAt, after.ttimes.UpdatedAt)
	for name := range subs {
		sameFields(t, "subscription "+name, &before.subs[name].SubscriptionProperties, &after.subs[name].SubscriptionProperties)
		sameTimes(t, "subscription "+name, before.stimes[name].CreatedAt, before.stimes[name].UpdatedAt,
			after.stimes[name].CreatedAt, after.stimes[name].UpdatedAt)
		sameFields(t, "subscription "+name+" $Default", &before.dflRule[name].RuleProperties, &after.dflRule[name].RuleProperties)
	}
	for name := range rules {
		sameFields(t, "rule "+name, &before.rules[name].RuleProperties, &after.rules[name].RuleProperties)
	}

	// The parameterized filter still selects with its parameters.
	if _, err := ac2.UpdateTopic(ctx2, "tp", admin.TopicProperties{RequiresDuplicateDetection: ptr(true),
		EnablePartitioning: ptr(true), Status: ptr(admin.EntityStatusActive)}, nil); err != nil {
		t.Fatal(err)
	}
	sender, err := newClient(t, srv2).NewSender("tp", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, color := range []string{"blue", "red"} {
		if err := sender.SendMessage(ctx2, &azservicebus.Message{MessageID: ptr(color), Body: []byte(color),
			ApplicationProperties: map[string]any{"color": color, "n": int64(2 + i), "x": 1.5, "ok": true,
				"at": created.Add(-time.Hour)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	r, err := newClient(t, srv2).NewReceiverForSubscription("tp", "plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := receiveN(t, ctx2, r, 1)
	if string(got[0].Body) != "red" || got[0].ApplicationProperties["seen"] != "yes" {
		t.Fatalf("parameterized rule after the restart routed %q with %v; want red with seen=yes",
			got[0].Body, got[0].ApplicationProperties)
	}
}

func sameTimes(t *testing.T, what string, created, updated, created2, updated2 time.Time) {
	t.Helper()
	if created.IsZero() || !created.Equal(created2) || !updated.Equal(updated2) {
		t.Errorf("%s: CreatedAt/UpdatedAt %v/%v before the restart, %v/%v after", what, created, updated, created2, updated2)
	}
}

// TestDurableAdministrationRefusesChangesAfterAFailStop: the change the log
// fails on is answered 503, not acknowledged (a deletion included); from
// then on the administration API answers every request 503: a change would
// be made in memory only, and a read could show the change that was
// refused. The restart has the changes acknowledged before, and none after.
func TestDurableAdministrationRefusesChangesAfterAFailStop(t *testing.T) {
	t.Parallel()
	cfg := durableConfig(t)
	srv, ac, ctx := startAdmin(t, cfg)
	must := succeeds(t)
	must(ac.CreateQueue(ctx, "before", nil))
	must(ac.CreateQueue(ctx, "doomed", nil))
	if err := servicebus.BreakLog(srv); err != nil {
		t.Fatal(err)
	}
	// The next journaled change fails the log: the server fails stop.
	var re *azcore.ResponseError
	if _, err := ac.DeleteQueue(ctx, "doomed", nil); !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a deletion with a broken log: %v; want 503", err)
	}
	if !servicebus.Failed(srv) {
		t.Fatal("server did not fail stop after the log failed")
	}
	changes := map[string]func() error{
		"create queue": func() error { _, err := ac.CreateQueue(ctx, "after", nil); return err },
		"update queue": func() error {
			_, err := ac.UpdateQueue(ctx, "before", admin.QueueProperties{UserMetadata: ptr("x")}, nil)
			return err
		},
		"delete queue":        func() error { _, err := ac.DeleteQueue(ctx, "before", nil); return err },
		"create topic":        func() error { _, err := ac.CreateTopic(ctx, "after-t", nil); return err },
		"create subscription": func() error { _, err := ac.CreateSubscription(ctx, "t", "after-s", nil); return err },
		"create rule": func() error {
			_, err := ac.CreateRule(ctx, "t", "s", &admin.CreateRuleOptions{Name: ptr("after-r")})
			return err
		},
		"delete rule": func() error { _, err := ac.DeleteRule(ctx, "t", "s", "$Default", nil); return err },
	}
	changes["get queue"] = func() error { _, err := ac.GetQueue(ctx, "before", nil); return err }
	changes["list queues"] = func() error {
		_, err := ac.NewListQueuesPager(nil).NextPage(ctx)
		return err
	}
	changes["get rule"] = func() error { _, err := ac.GetRule(ctx, "t", "s", "$Default", nil); return err }
	for what, call := range changes {
		var re *azcore.ResponseError
		if err := call(); !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable ||
			!strings.Contains(re.Error(), "<Code>503</Code>") {
			t.Errorf("%s after the fail-stop: %v; want a 503 Service Bus error", what, err)
		}
	}
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = srv.Stop(stopCtx) // reports the log's failure

	_, ac2, ctx2 := startAdmin(t, cfg)
	q, err := ac2.GetQueue(ctx2, "before", nil)
	if err != nil || q == nil || q.UserMetadata != nil {
		t.Fatalf("GetQueue after the restart: %+v, %v; want the queue, unchanged", q, err)
	}
	if q, err := ac2.GetQueue(ctx2, "doomed", nil); err != nil || q == nil {
		t.Fatalf("GetQueue doomed after the restart: %+v, %v; want the queue, whose deletion was refused", q, err)
	}
	for _, name := range []string{"after"} {
		if q, err := ac2.GetQueue(ctx2, name, nil); err != nil || q != nil {
			t.Errorf("GetQueue %s after the restart: %+v, %v; want not found", name, q, err)
		}
	}
	if r, err := ac2.GetRule(ctx2, "t", "s", "$Default", nil); err != nil || r == nil {
		t.Fatalf("GetRule $Default after the restart: %v, %v", r, err)
	}
}
