package servicebus_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"
	"github.com/orderflow/orderflow/emulator/servicebus"
)

// plainHTTP is the transport that lets the Go administration client reach the
// emulator: the SDK always builds https URLs, so it switches them to http.
type plainHTTP struct{ c *http.Client }

func (p plainHTTP) Do(req *http.Request) (*http.Response, error) {
	req.URL.Scheme = "http"
	return p.c.Do(req)
}

func startAdmin(t *testing.T, cfg servicebus.Config) (*servicebus.Server, *admin.Client, context.Context) {
	t.Helper()
	cfg.HTTPAddr = "127.0.0.1:0"
	srv, ctx := startServer(t, cfg)
	stopAtCleanup(t, srv)
	return srv, newAdminClient(t, srv.AdminConnectionString()), ctx
}

func newAdminClient(t *testing.T, connStr string) *admin.Client {
	t.Helper()
	ac, err := admin.NewClientFromConnectionString(connStr, &admin.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: plainHTTP{c: &http.Client{Timeout: 10 * time.Second}},
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}})
	if err != nil {
		t.Fatalf("admin.NewClientFromConnectionString: %v", err)
	}
	return ac
}

// allPages reads every page of an admin list.
func allPages[T any](t *testing.T, ctx context.Context, p *runtime.Pager[T]) []T {
	t.Helper()
	var out []T
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("NextPage: %v", err)
		}
		out = append(out, page)
	}
	return out
}

func statusOf(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func TestAdminQueueLifecycle(t *testing.T) {
	t.Parallel()
	srv, ac, ctx := startAdmin(t, servicebus.Config{})
	name := uniqueName(t)
	created, err := ac.CreateQueue(ctx, name, &admin.CreateQueueOptions{Properties: &admin.QueueProperties{
		LockDuration:                        to.Ptr("PT30S"),
		MaxDeliveryCount:                    to.Ptr[int32](7),
		DefaultMessageTimeToLive:            to.Ptr("P2D"),
		DeadLetteringOnMessageExpiration:    to.Ptr(true),
		MaxSizeInMegabytes:                  to.Ptr[int32](2048),
		AutoDeleteOnIdle:                    to.Ptr("PT1H"),
		UserMetadata:                        to.Ptr("owner=orders"),
		RequiresDuplicateDetection:          to.Ptr(true),
		DuplicateDetectionHistoryTimeWindow: to.Ptr("PT5M"),
	}})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	if got := *created.LockDuration; got != "PT30S" {
		t.Errorf("created LockDuration = %s", got)
	}
	got, err := ac.GetQueue(ctx, name, nil)
	if err != nil || got == nil {
		t.Fatalf("GetQueue = %v, %v", got, err)
	}
	p := got.QueueProperties
	checks := map[string][2]any{
		"LockDuration":       {*p.LockDuration, "PT30S"},
		"MaxDeliveryCount":   {*p.MaxDeliveryCount, int32(7)},
		"TTL":                {*p.DefaultMessageTimeToLive, "P2D"},
		"DLQOnExpiration":    {*p.DeadLetteringOnMessageExpiration, true},
		"MaxSizeInMegabytes": {*p.MaxSizeInMegabytes, int32(2048)},
		"AutoDeleteOnIdle":   {*p.AutoDeleteOnIdle, "PT1H"},
		"UserMetadata":       {*p.UserMetadata, "owner=orders"},
		"Dedup":              {*p.RequiresDuplicateDetection, true},
		"DedupWindow":        {*p.DuplicateDetectionHistoryTimeWindow, "PT5M"},
		"Status":             {*p.Status, admin.EntityStatusActive},
		"RequiresSession":    {*p.RequiresSession, false},
		"EnableBatched":      {*p.EnableBatchedOperations, true},
	}
	for k, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %v, want %v", k, v[0], v[1])
		}
	}

	// Update: everything but the creation-only settings may change.
	p.LockDuration, p.MaxDeliveryCount, p.UserMetadata = to.Ptr("PT1M"), to.Ptr[int32](3), to.Ptr("owner=billing")
	p.Status = to.Ptr(admin.EntityStatusSendDisabled)
	if _, err := ac.UpdateQueue(ctx, name, p, nil); err != nil {
		t.Fatalf("UpdateQueue: %v", err)
	}
	got, err = ac.GetQueue(ctx, name, nil)
	if err != nil || *got.LockDuration != "PT1M" || *got.MaxDeliveryCount != 3 || *got.UserMetadata != "owner=billing" ||
		*got.Status != admin.EntityStatusSendDisabled {
		t.Fatalf("after update: %+v, %v", got, err)
	}
	// SendDisabled is enforced: the data plane refuses sends until the queue is Active again.
	sender, err := newClient(t, srv).NewSender(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("x")}, nil); err == nil || !strings.Contains(err.Error(), "SendDisabled") {
		t.Errorf("send to a SendDisabled queue: %v, want a refusal naming the status", err)
	}
	p.Status = to.Ptr(admin.EntityStatusActive)
	if _, err := ac.UpdateQueue(ctx, name, p, nil); err != nil {
		t.Fatalf("UpdateQueue: %v", err)
	}
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("x")}, nil); err != nil {
		t.Errorf("send after re-activating: %v", err)
	}
	p.RequiresSession = to.Ptr(true)
	if _, err := ac.UpdateQueue(ctx, name, p, nil); statusOf(err) != http.StatusBadRequest {
		t.Errorf("changing RequiresSession: err %v, want 400", err)
	}

	// Create again: 409. Bad input: 400 with a reason.
	if _, err := ac.CreateQueue(ctx, name, nil); statusOf(err) != http.StatusConflict {
		t.Errorf("second CreateQueue: %v, want 409", err)
	}
	_, err = ac.CreateQueue(ctx, name+"-bad", &admin.CreateQueueOptions{Properties: &admin.QueueProperties{LockDuration: to.Ptr("PT10M")}})
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "LockDuration") {
		t.Errorf("LockDuration PT10M: %v, want 400 naming LockDuration", err)
	}

	// List with paging.
	var names []string
	for _, n := range []string{"a", "b", "c"} {
		if _, err := ac.CreateQueue(ctx, name+"-"+n, nil); err != nil {
			t.Fatal(err)
		}
	}
	pages := allPages(t, ctx, ac.NewListQueuesPager(&admin.ListQueuesOptions{MaxPageSize: 2}))
	for _, page := range pages {
		for _, q := range page.Queues {
			names = append(names, q.QueueName)
		}
	}
	want := []string{name, name + "-a", name + "-b", name + "-c"}
	if strings.Join(names, ",") != strings.Join(want, ",") || len(pages) < 2 {
		t.Errorf("listed %v in %d pages, want %v in at least 2", names, len(pages), want)
	}

	if _, err := ac.DeleteQueue(ctx, name, nil); err != nil {
		t.Fatalf("DeleteQueue: %v", err)
	}
	if got, err := ac.GetQueue(ctx, name, nil); got != nil || err != nil {
		t.Errorf("GetQueue after delete = %v, %v; want nil, nil (not found)", got, err)
	}
	if _, err := ac.DeleteQueue(ctx, name, nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("second DeleteQueue: %v, want 404", err)
	}
	if _, err := ac.UpdateQueue(ctx, name, p, nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("UpdateQueue of a deleted queue: %v, want 404", err)
	}
}

func TestAdminTopicSubscriptionRuleLifecycle(t *testing.T) {
	t.Parallel()
	srv, ac, ctx := startAdmin(t, servicebus.Config{})
	topic := uniqueName(t)
	if _, err := ac.CreateTopic(ctx, topic, &admin.CreateTopicOptions{Properties: &admin.TopicProperties{
		DefaultMessageTimeToLive: to.Ptr("PT2H"), MaxSizeInMegabytes: to.Ptr[int32](1024), EnablePartitioning: to.Ptr(true),
		EnableBatchedOperations: to.Ptr(false), SupportOrdering: to.Ptr(false), MaxMessageSizeInKilobytes: to.Ptr[int64](1024),
	}}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	tp, err := ac.GetTopic(ctx, topic, nil)
	if err != nil || tp == nil || *tp.DefaultMessageTimeToLive != "PT2H" || !*tp.EnablePartitioning || *tp.EnableBatchedOperations ||
		*tp.SupportOrdering || *tp.MaxMessageSizeInKilobytes != 1024 {
		t.Fatalf("GetTopic = %+v, %v", tp, err)
	}
	changed := tp.TopicProperties
	changed.EnablePartitioning = to.Ptr(false)
	if _, err := ac.UpdateTopic(ctx, topic, changed, nil); statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "EnablePartitioning") {
		t.Errorf("changing EnablePartitioning: %v, want 400 naming it", err)
	}
	tp.TopicProperties.DefaultMessageTimeToLive = to.Ptr("PT3H")
	tp.TopicProperties.UserMetadata = to.Ptr("events")
	if _, err := ac.UpdateTopic(ctx, topic, tp.TopicProperties, nil); err != nil {
		t.Fatalf("UpdateTopic: %v", err)
	}
	if tp, _ = ac.GetTopic(ctx, topic, nil); *tp.DefaultMessageTimeToLive != "PT3H" || *tp.UserMetadata != "events" {
		t.Errorf("after UpdateTopic: %+v", tp.TopicProperties)
	}

	// A subscription created with a correlation default rule, then rules managed one by one.
	fwd := uniqueName(t) + "-fwd"
	if _, err := ac.CreateQueue(ctx, fwd, nil); err != nil {
		t.Fatal(err)
	}
	_, err = ac.CreateSubscription(ctx, topic, "red", &admin.CreateSubscriptionOptions{Properties: &admin.SubscriptionProperties{
		LockDuration: to.Ptr("PT45S"), MaxDeliveryCount: to.Ptr[int32](4), AutoDeleteOnIdle: to.Ptr("P7D"),
		EnableDeadLetteringOnFilterEvaluationExceptions: to.Ptr(true), ForwardTo: to.Ptr(fwd), UserMetadata: to.Ptr("reds"),
		DefaultRule: &admin.RuleProperties{Name: "only-red", Filter: &admin.CorrelationFilter{
			ApplicationProperties: map[string]any{"color": "red", "size": int64(3)}}},
	}})
	if err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}
	sub, err := ac.GetSubscription(ctx, topic, "red", nil)
	if err != nil || sub == nil || *sub.LockDuration != "PT45S" || *sub.MaxDeliveryCount != 4 || *sub.AutoDeleteOnIdle != "P7D" ||
		!*sub.EnableDeadLetteringOnFilterEvaluationExceptions || *sub.ForwardTo != "sb://"+srv.HTTPAddr()+"/"+fwd || *sub.UserMetadata != "reds" {
		t.Fatalf("GetSubscription = %+v, %v", sub, err)
	}
	sub.SubscriptionProperties.ForwardTo = nil // the routing checks below receive from the subscription
	sub.SubscriptionProperties.ForwardDeadLetteredMessagesTo = to.Ptr(fwd)
	sub.SubscriptionProperties.MaxDeliveryCount = to.Ptr[int32](9)
	if _, err := ac.UpdateSubscription(ctx, topic, "red", sub.SubscriptionProperties, nil); err != nil {
		t.Fatalf("UpdateSubscription: %v", err)
	}
	sub, _ = ac.GetSubscription(ctx, topic, "red", nil)
	if *sub.MaxDeliveryCount != 9 || !strings.HasSuffix(*sub.ForwardDeadLetteredMessagesTo, "/"+fwd) {
		t.Errorf("after UpdateSubscription: %+v", sub.SubscriptionProperties)
	}

	rule, err := ac.GetRule(ctx, topic, "red", "only-red", nil)
	if err != nil || rule == nil {
		t.Fatalf("GetRule = %v, %v", rule, err)
	}
	cf, ok := rule.Filter.(*admin.CorrelationFilter)
	if !ok || cf.ApplicationProperties["color"] != "red" || cf.ApplicationProperties["size"] != int64(3) {
		t.Errorf("default rule filter = %#v", rule.Filter)
	}
	if _, err := ac.CreateRule(ctx, topic, "red", &admin.CreateRuleOptions{Name: to.Ptr("big"),
		Filter: &admin.SQLFilter{Expression: "size > 10"}, Action: &admin.SQLAction{Expression: "SET big = TRUE"}}); err != nil {
		t.Fatalf("CreateRule: %v", err)
	}
	if _, err := ac.CreateRule(ctx, topic, "red", &admin.CreateRuleOptions{Name: to.Ptr("big"),
		Filter: &admin.SQLFilter{Expression: "1=1"}}); statusOf(err) != http.StatusConflict {
		t.Errorf("duplicate CreateRule: %v, want 409", err)
	}
	if _, err := ac.CreateRule(ctx, topic, "red", &admin.CreateRuleOptions{Name: to.Ptr("broken"),
		Filter: &admin.SQLFilter{Expression: "size >"}}); statusOf(err) != http.StatusBadRequest {
		t.Errorf("CreateRule with a bad SQL filter: %v, want 400", err)
	}
	if _, err := ac.UpdateRule(ctx, topic, "red", admin.RuleProperties{Name: "big", Filter: &admin.SQLFilter{Expression: "size > 20"}}); err != nil {
		t.Fatalf("UpdateRule: %v", err)
	}
	var ruleNames []string
	for _, page := range allPages(t, ctx, ac.NewListRulesPager(topic, "red", nil)) {
		for _, r := range page.Rules {
			ruleNames = append(ruleNames, r.Name)
			if r.Name == "big" {
				if f, ok := r.Filter.(*admin.SQLFilter); !ok || f.Expression != "size > 20" || r.Action != nil {
					t.Errorf("updated rule = %#v / %#v", r.Filter, r.Action)
				}
			}
		}
	}
	if strings.Join(ruleNames, ",") != "only-red,big" {
		t.Errorf("rules = %v", ruleNames)
	}

	// The rules route: only-red takes color=red, big takes size > 20.
	client := newClient(t, srv)
	sender, err := client.NewSender(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, props := range []map[string]any{{"color": "red", "size": int64(3)}, {"color": "blue", "size": int64(30)}, {"color": "blue", "size": int64(1)}} {
		if err := sender.SendMessage(ctx, &azservicebus.Message{ApplicationProperties: props}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ac.DeleteRule(ctx, topic, "red", "only-red", nil); err != nil {
		t.Fatalf("DeleteRule: %v", err)
	}
	if _, err := ac.DeleteRule(ctx, topic, "red", "only-red", nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("second DeleteRule: %v, want 404", err)
	}
	rt, err := ac.GetSubscriptionRuntimeProperties(ctx, topic, "red", nil)
	if err != nil || rt == nil || rt.ActiveMessageCount != 2 || rt.TotalMessageCount != 2 {
		t.Errorf("subscription runtime = %+v, %v; want 2 active (one per matching rule)", rt, err)
	}
	trt, err := ac.GetTopicRuntimeProperties(ctx, topic, nil)
	if err != nil || trt.SubscriptionCount != 1 || trt.CreatedAt.IsZero() {
		t.Errorf("topic runtime = %+v, %v", trt, err)
	}

	var subs []string
	for _, page := range allPages(t, ctx, ac.NewListSubscriptionsPager(topic, nil)) {
		for _, s := range page.Subscriptions {
			subs = append(subs, s.SubscriptionName)
		}
	}
	if strings.Join(subs, ",") != "red" {
		t.Errorf("subscriptions = %v", subs)
	}
	var topics []string
	for _, page := range allPages(t, ctx, ac.NewListTopicsPager(nil)) {
		for _, tp := range page.Topics {
			topics = append(topics, tp.TopicName)
		}
	}
	if strings.Join(topics, ",") != topic {
		t.Errorf("topics = %v", topics)
	}
	if _, err := ac.DeleteSubscription(ctx, topic, "red", nil); err != nil {
		t.Fatalf("DeleteSubscription: %v", err)
	}
	if s, err := ac.GetSubscription(ctx, topic, "red", nil); s != nil || err != nil {
		t.Errorf("GetSubscription after delete = %v, %v", s, err)
	}
	if _, err := ac.DeleteTopic(ctx, topic, nil); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if _, err := ac.CreateSubscription(ctx, topic, "late", nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("CreateSubscription on a deleted topic: %v, want 404", err)
	}
}

// TestAdminRuntimeCounts sends, settles and schedules messages and reads the counts back.
func TestAdminRuntimeCounts(t *testing.T) {
	t.Parallel()
	srv, ac, ctx := startAdmin(t, servicebus.Config{})
	q := uniqueName(t)
	if _, err := ac.CreateQueue(ctx, q, nil); err != nil {
		t.Fatal(err)
	}
	client := newClient(t, srv)
	sender, err := client.NewSender(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	const sent, completed, deadLettered, deferred, scheduled = 10, 3, 2, 1, 4
	for range sent {
		if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("0123456789")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for range scheduled {
		if _, err := sender.ScheduleMessages(ctx, []*azservicebus.Message{{Body: []byte("later")}}, time.Now().Add(time.Hour), nil); err != nil {
			t.Fatal(err)
		}
	}
	receiver, err := client.NewReceiverForQueue(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := receiveN(t, ctx, receiver, completed+deadLettered+deferred)
	for i, m := range msgs {
		switch {
		case i < completed:
			err = receiver.CompleteMessage(ctx, m, nil)
		case i < completed+deadLettered:
			err = receiver.DeadLetterMessage(ctx, m, nil)
		default:
			err = receiver.DeferMessage(ctx, m, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	rt, err := ac.GetQueueRuntimeProperties(ctx, q, nil)
	if err != nil || rt == nil {
		t.Fatalf("GetQueueRuntimeProperties = %v, %v", rt, err)
	}
	wantActive := int32(sent - completed - deadLettered)
	if rt.ActiveMessageCount != wantActive || rt.DeadLetterMessageCount != deadLettered || rt.ScheduledMessageCount != scheduled ||
		rt.TransferMessageCount != 0 || rt.TransferDeadLetterMessageCount != 0 ||
		rt.TotalMessageCount != int64(wantActive)+deadLettered+scheduled {
		t.Errorf("runtime = %+v; want active %d, dead-letter %d, scheduled %d", rt.QueueRuntimeProperties, wantActive, deadLettered, scheduled)
	}
	if wantSize := int64(sent-completed) * 10; rt.SizeInBytes < wantSize {
		t.Errorf("SizeInBytes = %d, want at least %d", rt.SizeInBytes, wantSize)
	}
	if rt.CreatedAt.IsZero() || rt.AccessedAt.Before(rt.CreatedAt) || time.Since(rt.AccessedAt) > time.Minute {
		t.Errorf("timestamps: created %v, accessed %v", rt.CreatedAt, rt.AccessedAt)
	}
	found := false
	for _, page := range allPages(t, ctx, ac.NewListQueuesRuntimePropertiesPager(nil)) {
		for _, it := range page.QueueRuntimeProperties {
			found = found || (it.QueueName == q && it.ActiveMessageCount == wantActive)
		}
	}
	if !found {
		t.Errorf("the runtime list has no %s with %d active messages", q, wantActive)
	}
	// A message that auto-forwarding cannot deliver counts as a transfer dead letter.
	dest, fwd := q+"-dest", q+"-fwd"
	if _, err := ac.CreateQueue(ctx, dest, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateQueue(ctx, fwd, &admin.CreateQueueOptions{Properties: &admin.QueueProperties{ForwardTo: to.Ptr(dest)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.DeleteQueue(ctx, dest, nil); err != nil {
		t.Fatal(err)
	}
	fs, err := client.NewSender(fwd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.SendMessage(ctx, &azservicebus.Message{Body: []byte("lost")}, nil); err != nil {
		t.Fatal(err)
	}
	frt, err := ac.GetQueueRuntimeProperties(ctx, fwd, nil)
	if err != nil || frt.TransferDeadLetterMessageCount != 1 || frt.DeadLetterMessageCount != 0 || frt.ActiveMessageCount != 0 || frt.TotalMessageCount != 1 {
		t.Errorf("forwarding queue runtime = %+v, %v; want one transfer dead letter", frt, err)
	}

	ns, err := ac.GetNamespaceProperties(ctx, nil)
	if err != nil || ns.Name != "127.0.0.1" || ns.SKU != "Standard" {
		t.Errorf("namespace = %+v, %v", ns, err)
	}
}

// TestAdminAuthorization: like Service Bus, every request needs a valid SAS token.
func TestAdminAuthorization(t *testing.T) {
	t.Parallel()
	srv, ac, ctx := startAdmin(t, servicebus.Config{Policies: []servicebus.SharedAccessPolicy{
		{Name: servicebus.DefaultKeyName, PrimaryKey: servicebus.DefaultKey, Rights: servicebus.Manage | servicebus.Send | servicebus.Listen},
		{Name: "sender", PrimaryKey: "send-key", Rights: servicebus.Send | servicebus.Listen},
	}})
	wrongKey := strings.Replace(srv.AdminConnectionString(), "SharedAccessKey=SAS_KEY_VALUE", "SharedAccessKey=wrong", 1)
	bad := newAdminClient(t, wrongKey)
	if _, err := bad.CreateQueue(ctx, uniqueName(t), nil); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("CreateQueue with a wrong key: %v, want 401", err)
	}
	// A valid key without the Manage claim cannot manage, not even read.
	q := uniqueName(t)
	if _, err := ac.CreateQueue(ctx, q, nil); err != nil {
		t.Fatal(err)
	}
	sendOnly := strings.NewReplacer("SharedAccessKeyName="+servicebus.DefaultKeyName, "SharedAccessKeyName=sender",
		"SharedAccessKey="+servicebus.DefaultKey, "SharedAccessKey=send-key").Replace(srv.AdminConnectionString())
	limited := newAdminClient(t, sendOnly)
	if _, err := limited.GetQueue(ctx, q, nil); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("GetQueue with a Send/Listen policy: %v, want 401", err)
	}
	if _, err := limited.DeleteQueue(ctx, q, nil); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("DeleteQueue with a Send/Listen policy: %v, want 401", err)
	}
	resp, err := http.Get("http://" + srv.HTTPAddr() + "/$Resources/Queues")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
		t.Errorf("GET without a token: %d %s, want 401 application/xml", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestAdminSQLParameters: SQL filter and action parameters are applied and reported back.
func TestAdminSQLParameters(t *testing.T) {
	t.Parallel()
	srv, ac, ctx := startAdmin(t, servicebus.Config{})
	topic := uniqueName(t)
	if _, err := ac.CreateTopic(ctx, topic, nil); err != nil {
		t.Fatal(err)
	}
	_, err := ac.CreateSubscription(ctx, topic, "big", &admin.CreateSubscriptionOptions{Properties: &admin.SubscriptionProperties{
		DefaultRule: &admin.RuleProperties{Name: "big",
			Filter: &admin.SQLFilter{Expression: "size > @min", Parameters: map[string]any{"@min": int64(10)}},
			Action: &admin.SQLAction{Expression: "SET tag = @tag", Parameters: map[string]any{"@tag": "large"}}},
	}})
	if err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}
	rule, err := ac.GetRule(ctx, topic, "big", "big", nil)
	if err != nil || rule == nil {
		t.Fatalf("GetRule = %v, %v", rule, err)
	}
	f, ok := rule.Filter.(*admin.SQLFilter)
	a, aok := rule.Action.(*admin.SQLAction)
	if !ok || f.Parameters["@min"] != int64(10) || !aok || a.Parameters["@tag"] != "large" {
		t.Errorf("rule = %#v / %#v", rule.Filter, rule.Action)
	}
	_, err = ac.CreateRule(ctx, topic, "big", &admin.CreateRuleOptions{Name: to.Ptr("undefined"),
		Filter: &admin.SQLFilter{Expression: "size > @nope"}})
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "@nope") {
		t.Errorf("filter with an undefined parameter: %v, want 400 naming it", err)
	}

	client := newClient(t, srv)
	sender, err := client.NewSender(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{5, 20} {
		if err := sender.SendMessage(ctx, &azservicebus.Message{ApplicationProperties: map[string]any{"size": size}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	receiver, err := client.NewReceiverForSubscription(topic, "big", &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	if err != nil {
		t.Fatal(err)
	}
	got := receiveN(t, ctx, receiver, 1)
	if got[0].ApplicationProperties["size"] != int64(20) || got[0].ApplicationProperties["tag"] != "large" {
		t.Errorf("received %v, want size 20 tagged large", got[0].ApplicationProperties)
	}
	rt, err := ac.GetSubscriptionRuntimeProperties(ctx, topic, "big", nil)
	if err != nil || rt.TotalMessageCount != 0 {
		t.Errorf("after receiving: %+v, %v (the size 5 message must not have matched)", rt, err)
	}
}

// TestAdminSeesConfigEntities: entities of a Config.json are listed and described with the
// properties the file gave them (the official schema's defaults for the rest).
func TestAdminSeesConfigEntities(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, `{"UserConfig": {"Namespaces": [{"Name": "sbemulatorns",
	  "Queues": [{"Name": "from-config", "Properties": {"LockDuration": "PT20S", "RequiresSession": true}}],
	  "Topics": [{"Name": "events", "Properties": {}, "Subscriptions": [{"Name": "sql", "Properties": {},
	    "Rules": [{"Name": "cheap", "Properties": {"FilterType": "Sql", "SqlFilter": {"SqlExpression": "price < 10"},
	      "Action": {"SqlExpression": "SET cheap = TRUE"}}}]}]}]}],
	  "Logging": {"Type": "Console"}}}`)
	_, ac, ctx := startAdmin(t, servicebus.Config{ConfigPath: cfg})
	q, err := ac.GetQueue(ctx, "from-config", nil)
	if err != nil || q == nil || *q.LockDuration != "PT20S" || !*q.RequiresSession || *q.MaxDeliveryCount != 3 || *q.DefaultMessageTimeToLive != "PT1H" {
		t.Fatalf("GetQueue = %+v, %v; want the file's LockDuration and RequiresSession, the schema's MaxDeliveryCount 3 and TTL PT1H", q, err)
	}
	rule, err := ac.GetRule(ctx, "events", "sql", "cheap", nil)
	if err != nil || rule == nil {
		t.Fatalf("GetRule = %v, %v", rule, err)
	}
	f, ok := rule.Filter.(*admin.SQLFilter)
	a, aok := rule.Action.(*admin.SQLAction)
	if !ok || f.Expression != "price < 10" || !aok || a.Expression != "SET cheap = TRUE" {
		t.Errorf("rule = %#v / %#v", rule.Filter, rule.Action)
	}
}

// TestAdminAllowAnonymous: with AllowAnonymous the administration API needs no token either.
func TestAdminAllowAnonymous(t *testing.T) {
	t.Parallel()
	srv, _, _ := startAdmin(t, servicebus.Config{AllowAnonymous: true})
	resp, err := http.Get("http://" + srv.HTTPAddr() + "/$Resources/Queues")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET without a token under AllowAnonymous: %d, want 200", resp.StatusCode)
	}
}

// TestAdminListsBeyondOnePage: the SDK's pager gets every entity when there are more than a
// default page (100), with and without a page size.
func TestAdminListsBeyondOnePage(t *testing.T) {
	t.Parallel()
	srv, ac, ctx := startAdmin(t, servicebus.Config{})
	const n = 130
	for i := range n {
		if err := srv.CreateQueue(servicebus.QueueConfig{Name: fmt.Sprintf("q-%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range []int32{0, 7, 500} {
		var names []string
		for _, page := range allPages(t, ctx, ac.NewListQueuesPager(&admin.ListQueuesOptions{MaxPageSize: size})) {
			for _, q := range page.Queues {
				names = append(names, q.QueueName)
			}
		}
		if len(names) != n || names[0] != "q-000" || names[n-1] != fmt.Sprintf("q-%03d", n-1) {
			t.Errorf("MaxPageSize %d: listed %d queues (%v ... ), want %d in order", size, len(names), names[:min(3, len(names))], n)
		}
	}
}
