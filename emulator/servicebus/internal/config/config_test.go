package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/config"
)

// setup parses doc, a Config.json body with one queue placeholder: the
// tests put their queue properties into a minimal valid document.
func setup(t *testing.T, queueProps string) (*config.Config, error) {
	t.Helper()
	doc := `{"UserConfig": {"Namespaces": [{"Name": "ns", "Queues": [{"Name": "q", "Properties": {` +
		queueProps + `}}], "Topics": []}], "Logging": {"Type": "Console"}}}`
	return config.Parse([]byte(doc))
}

func TestOfficialSampleLoadsWithItsSQLRule(t *testing.T) {
	t.Parallel()
	c, err := config.Load(filepath.Join("testdata", "official", "Config.json"))
	if err != nil {
		t.Fatal(err)
	}
	subs := c.Entities().Topics[0].Subscriptions
	r := subs[3].Rules[0]
	f, ok := r.Filter.(*broker.SQLFilter)
	if !ok || r.Name != "sql-filter-1" || r.Action == nil || f.Expression() != "sys.MessageId = '123456' AND userProp1 = 'value1'" {
		t.Fatalf("subscription.4 rule = %+v", r)
	}
	b := broker.New(broker.Config{})
	t.Cleanup(b.Stop)
	if err := c.Apply(b); err != nil {
		t.Fatal(err)
	}
	hit := &broker.Message{Properties: broker.Properties{Present: broker.PropMessageID, MessageID: "123456"},
		ApplicationProperties: map[string]any{"userProp1": "value1"}}
	miss := &broker.Message{Properties: broker.Properties{Present: broker.PropMessageID, MessageID: "123456"},
		ApplicationProperties: map[string]any{"userProp1": "value2"}}
	if _, err := b.Send("topic.1", []*broker.Message{hit, miss}); err != nil {
		t.Fatal(err)
	}
	rcv, err := b.NewReceiver("topic.1/Subscriptions/subscription.4", broker.ReceiveAndDelete)
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	got, err := rcv.TryReceive(10)
	if err != nil || len(got) != 1 {
		t.Fatalf("subscription.4 got %d messages (%v), want 1", len(got), err)
	}
	if got[0].Properties.To != "Entity" || got[0].ApplicationProperties[broker.PropRuleName] != "sql-filter-1" {
		t.Errorf("action not applied: To %q, properties %v", got[0].Properties.To, got[0].ApplicationProperties)
	}
}

func TestForwardingEntitiesApplyInDependencyOrder(t *testing.T) {
	t.Parallel()
	doc := `{"UserConfig": {"Namespaces": [{"Name": "ns",
	  "Queues": [{"Name": "in", "Properties": {"ForwardTo": "events"}}, {"Name": "sink", "Properties": {"ForwardDeadLetteredMessagesTo": "errors"}},
	             {"Name": "errors"}],
	  "Topics": [{"Name": "events", "Properties": {"RequiresDuplicateDetection": true, "DuplicateDetectionHistoryTimeWindow": "PT1M"},
	     "Subscriptions": [{"Name": "all", "Properties": {"ForwardTo": "sink"}}]}]}],
	  "Logging": {"Type": "Console"}}}`
	c, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if tc := c.Entities().Topics[0].Topic; !tc.RequiresDuplicateDetection || tc.DuplicateDetectionHistoryTimeWindow != time.Minute {
		t.Errorf("topic = %+v", tc)
	}
	b := broker.New(broker.Config{})
	t.Cleanup(b.Stop)
	if err := c.Apply(b); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Send("in", []*broker.Message{{Body: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	st, err := b.Stats("sink")
	if err != nil || st.Active != 1 {
		t.Fatalf("sink stats %+v, %v: want the message forwarded in -> events -> all -> sink", st, err)
	}
}

func TestSampleWithoutSQLLoads(t *testing.T) {
	t.Parallel()
	c, err := config.Load(filepath.Join("testdata", "sample-no-sql.json"))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Entities()
	if len(e.Queues) != 1 || len(e.Topics) != 1 || len(e.Topics[0].Subscriptions) != 4 {
		t.Fatalf("entities: %+v", e)
	}
	q := e.Queues[0]
	if q.Name != "queue.1" || q.LockDuration != time.Minute || q.MaxDeliveryCount != 3 || q.DefaultMessageTimeToLive != time.Hour {
		t.Errorf("queue: %+v", q)
	}
	subs := e.Topics[0].Subscriptions
	if f, ok := subs[0].Rules[0].Filter.(*broker.CorrelationFilter); !ok || f.ContentType != "application/json" || subs[0].Rules[0].Name != "app-prop-filter-1" {
		t.Errorf("subscription.1 rule: %+v", subs[0].Rules)
	}
	if f, ok := subs[1].Rules[0].Filter.(*broker.CorrelationFilter); !ok || f.Properties["prop1"] != "value1" {
		t.Errorf("subscription.2 rule: %+v", subs[1].Rules)
	}
	if len(subs[2].Rules) != 0 || len(subs[3].Rules) != 0 {
		t.Errorf("subscriptions 3 and 4 should have no rules (default rule): %+v %+v", subs[2].Rules, subs[3].Rules)
	}

	// And the entities work in a broker: fan-out follows the rules.
	b := broker.New(broker.Config{})
	t.Cleanup(b.Stop)
	if err := c.Apply(b); err != nil {
		t.Fatal(err)
	}
	json := &broker.Message{Properties: broker.Properties{Present: broker.PropContentType, ContentType: "application/json"}}
	prop := &broker.Message{ApplicationProperties: map[string]any{"prop1": "value1"}}
	if _, err := b.Send("TOPIC.1", []*broker.Message{json, prop}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"subscription.1": 1, "subscription.2": 1, "subscription.3": 2, "subscription.4": 2}
	for sub, n := range want {
		st, err := b.Stats("topic.1/Subscriptions/" + sub)
		if err != nil {
			t.Fatal(err)
		}
		if st.Active != n {
			t.Errorf("%s: %d messages, want %d", sub, st.Active, n)
		}
	}
	if _, err := b.Resolve("queue.1/$DeadLetterQueue"); err != nil {
		t.Error(err)
	}
	if err := c.Apply(b); !errors.Is(err, broker.ErrExists) {
		t.Errorf("second Apply: %v, want ErrExists", err)
	}
}

func TestQueueProperties(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		props string
		want  broker.QueueConfig
		err   error
		msg   string
	}{
		{name: "defaults", props: ``, want: broker.QueueConfig{Name: "q", LockDuration: time.Minute, MaxDeliveryCount: 3, DefaultMessageTimeToLive: time.Hour}},
		{name: "all set", props: `"LockDuration": "PT5S", "MaxDeliveryCount": 25, "DefaultMessageTimeToLive": "P14D",
			"DeadLetteringOnMessageExpiration": true, "DuplicateDetectionHistoryTimeWindow": "PT20S", "ForwardTo": "", "RequiresSession": false`,
			want: broker.QueueConfig{Name: "q", LockDuration: 5 * time.Second, MaxDeliveryCount: 25, DefaultMessageTimeToLive: 14 * 24 * time.Hour, DeadLetteringOnMessageExpiration: true,
				DuplicateDetectionHistoryTimeWindow: 20 * time.Second}},
		{name: "fractional seconds", props: `"LockDuration": "PT0.5S"`, want: broker.QueueConfig{Name: "q", LockDuration: 500 * time.Millisecond, MaxDeliveryCount: 3, DefaultMessageTimeToLive: time.Hour}},
		{name: "bad duration", props: `"LockDuration": "1 minute"`, err: config.ErrInvalid, msg: "queue q: LockDuration"},
		{name: "duration not a string", props: `"DefaultMessageTimeToLive": 60`, err: config.ErrInvalid, msg: "queue q: DefaultMessageTimeToLive"},
		{name: "zero duration", props: `"DefaultMessageTimeToLive": "PT0S"`, err: config.ErrInvalid, msg: "must be positive"},
		{name: "lock too long", props: `"LockDuration": "PT6M"`, err: config.ErrInvalid, msg: "PT5M"},
		{name: "max delivery zero", props: `"MaxDeliveryCount": 0`, err: config.ErrInvalid, msg: "MaxDeliveryCount 0"},
		{name: "max delivery not int", props: `"MaxDeliveryCount": 1.5`, err: config.ErrInvalid, msg: "MaxDeliveryCount"},
		{name: "sessions", props: `"RequiresSession": true`, want: broker.QueueConfig{Name: "q", LockDuration: time.Minute, MaxDeliveryCount: 3, DefaultMessageTimeToLive: time.Hour, RequiresSession: true}},
		{name: "dup detection", props: `"RequiresDuplicateDetection": true, "DuplicateDetectionHistoryTimeWindow": "PT5S"`,
			want: broker.QueueConfig{Name: "q", LockDuration: time.Minute, MaxDeliveryCount: 3, DefaultMessageTimeToLive: time.Hour, RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: 5 * time.Second}},
		{name: "forward to unknown entity", props: `"ForwardTo": "other"`, err: config.ErrInvalid, msg: `queue q: auto-forwarding destination "other" is not a queue or topic`},
		{name: "forward DLQ to unknown entity", props: `"ForwardDeadLetteredMessagesTo": "other"`, err: config.ErrInvalid, msg: `destination "other"`},
		{name: "forward to itself", props: `"ForwardTo": "Q"`, err: config.ErrInvalid, msg: "auto-forwarding loop q -> q"},
		{name: "forward from session queue", props: `"ForwardTo": "Q", "RequiresSession": true`, err: config.ErrInvalid, msg: "ForwardTo is not supported on a session-enabled entity"},
		{name: "negative window", props: `"DuplicateDetectionHistoryTimeWindow": "PT0S"`, err: config.ErrInvalid, msg: "DuplicateDetectionHistoryTimeWindow must be positive"},
		{name: "unknown field", props: `"MaxDeliveryCont": 3`, err: config.ErrInvalid, msg: "MaxDeliveryCont"},
		{name: "max size", props: `"MaxSizeInMegabytes": 5`, want: broker.QueueConfig{Name: "q", LockDuration: time.Minute, MaxDeliveryCount: 3, DefaultMessageTimeToLive: time.Hour, MaxSizeInMegabytes: 5}},
		{name: "negative max size", props: `"MaxSizeInMegabytes": -1`, err: config.ErrInvalid, msg: "queue q: MaxSizeInMegabytes -1 is outside 1..81920"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := setup(t, tt.props)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("error = %v, want %v mentioning %q", err, tt.err, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Entities().Queues[0]; got != tt.want {
				t.Errorf("queue = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDocumentErrors(t *testing.T) {
	t.Parallel()
	const sub = `{"Name": "s", "Properties": {}, "Rules": [%s]}`
	doc := func(queues, topics string) string {
		return `{"UserConfig": {"Namespaces": [{"Name": "any-name", "Queues": [` + queues + `], "Topics": [` + topics + `]}], "Logging": {"Type": "File"}}}`
	}
	tests := []struct {
		name, doc string
		err       error
		msgs      []string
	}{
		{"empty", ``, config.ErrSyntax, []string{"empty"}},
		{"not json", `{"UserConfig": [}`, config.ErrSyntax, []string{"line 1"}},
		{"trailing data", `{"UserConfig": {"Namespaces": [{"Name": "n"}]}} {}`, config.ErrSyntax, []string{"after the top-level object"}},
		{"unterminated comment", "{\n/* oops", config.ErrSyntax, []string{"line 2, column 1", "unterminated"}},
		{"no namespaces", `{"UserConfig": {"Namespaces": [], "Logging": {"Type": "File"}}}`, config.ErrInvalid, []string{"at least one namespace"}},
		{"bad logging", `{"UserConfig": {"Namespaces": [{"Name": "n"}], "Logging": {"Type": "Syslog"}}}`, config.ErrInvalid, []string{"Logging.Type"}},
		{"empty queue name", doc(`{"Name": ""}`, ``), config.ErrInvalid, []string{"queue 0: Name is required"}},
		{"bad queue name", doc(`{"Name": "-q"}`, ``), config.ErrInvalid, []string{"queue -q: Name must be"}},
		{"duplicate names across kinds", doc(`{"Name": "X"}`, `{"Name": "x", "Subscriptions": []}`), config.ErrInvalid, []string{"topic x: name already used by queue X"}},
		{"duplicate subscription", doc(``, `{"Name": "t", "Subscriptions": [{"Name": "s"}, {"Name": "S"}]}`), config.ErrInvalid, []string{"t/Subscriptions/S: defined twice"}},
		{"sql filter that does not parse", doc(``, `{"Name": "t", "Subscriptions": [`+strings.Replace(sub, "%s", `{"Name": "r1", "Properties": {"FilterType": "Sql", "SqlFilter": {"SqlExpression": "color = 'blue' AND"}}}`, 1)+`]}`),
			config.ErrInvalid, []string{`t/Subscriptions/s: rule "r1": SqlFilter.SqlExpression`, "1:19", "end of text"}},
		{"sql filter missing", doc(``, `{"Name": "t", "Subscriptions": [`+strings.Replace(sub, "%s", `{"Name": "r1", "Properties": {"FilterType": "Sql"}}`, 1)+`]}`),
			config.ErrInvalid, []string{`rule "r1": FilterType Sql needs a SqlFilter`}},
		{"bad action on correlation rule", doc(``, `{"Name": "t", "Subscriptions": [`+strings.Replace(sub, "%s", `{"Name": "r1", "Properties": {"FilterType": "Correlation", "CorrelationFilter": {"To": "x"}, "Action": {"SqlExpression": "SET sys.SequenceNumber = 1"}}}`, 1)+`]}`),
			config.ErrInvalid, []string{`rule "r1": Action.SqlExpression`, "1:5", "read-only"}},
		{"forwarding loop through a topic", doc(`{"Name": "a", "Properties": {"ForwardTo": "t"}}`, `{"Name": "t", "Subscriptions": [{"Name": "s", "Properties": {"ForwardTo": "A"}}]}`),
			config.ErrInvalid, []string{"auto-forwarding loop a -> t/Subscriptions/s -> a"}},
		{"empty correlation filter", doc(``, `{"Name": "t", "Subscriptions": [`+strings.Replace(sub, "%s", `{"Name": "r1", "Properties": {"FilterType": "Correlation", "CorrelationFilter": {}}}`, 1)+`]}`),
			config.ErrInvalid, []string{"at least one property"}},
		{"missing correlation filter", doc(``, `{"Name": "t", "Subscriptions": [`+strings.Replace(sub, "%s", `{"Name": "r1", "Properties": {"FilterType": "Correlation"}}`, 1)+`]}`),
			config.ErrInvalid, []string{"needs a CorrelationFilter"}},
		{"bad filter type", doc(``, `{"Name": "t", "Subscriptions": [`+strings.Replace(sub, "%s", `{"Name": "r1", "Properties": {"FilterType": "Regex"}}`, 1)+`]}`),
			config.ErrInvalid, []string{`FilterType "Regex"`}},
		{"object property", doc(``, `{"Name": "t", "Subscriptions": [`+strings.Replace(sub, "%s", `{"Name": "r1", "Properties": {"FilterType": "Correlation", "CorrelationFilter": {"Properties": {"p": {"a": 1}}}}}`, 1)+`]}`),
			config.ErrInvalid, []string{`property "p"`}},
		{"duplicate rule", doc(``, `{"Name": "t", "Subscriptions": [`+strings.Replace(sub, "%s", `{"Name": "r", "Properties": {"FilterType": "Correlation", "CorrelationFilter": {"To": "x"}}}, {"Name": "R", "Properties": {"FilterType": "Correlation", "CorrelationFilter": {"To": "y"}}}`, 1)+`]}`),
			config.ErrInvalid, []string{`rule "R": defined twice`}},
		{"several problems at once", doc(`{"Name": "q", "Properties": {"LockDuration": "PT6M", "MaxDeliveryCount": -1}}`, ``), config.ErrInvalid, []string{"PT5M", "MaxDeliveryCount -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Parse([]byte(tt.doc))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
			for _, m := range tt.msgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestCommentsAndValues(t *testing.T) {
	t.Parallel()
	doc := `// leading comment
{ /* block
   comment */ "UserConfig": {
    "Namespaces": [{"Name": "n", "Queues": [], "Topics": [{"Name": "t", "Subscriptions": [{"Name": "s",
      "Rules": [{"Name": "r", "Properties": {"FilterType": "correlation", "CorrelationFilter": {
        "To": "http://x//y", // a URL is not a comment
        "Label": "/* not a comment */",
        "Properties": {"i": 7, "f": 1.5, "b": true, "s": "q\"//"}}}}]}]}]}],
    "Logging": {"Type": "Console,File"}}}`
	c, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	f := c.Entities().Topics[0].Subscriptions[0].Rules[0].Filter.(*broker.CorrelationFilter)
	if f.To != "http://x//y" || f.Subject != "/* not a comment */" || f.Properties["i"] != int64(7) ||
		f.Properties["f"] != 1.5 || f.Properties["b"] != true || f.Properties["s"] != `q"//` {
		t.Errorf("filter = %+v", f)
	}
	if len(c.Entities().Topics[0].Subscriptions) != 1 || c.Entities().Topics[0].Topic.DefaultMessageTimeToLive != time.Hour {
		t.Errorf("entities = %+v", c.Entities())
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT1H", time.Hour, true},
		{"PT1M", time.Minute, true},
		{"PT20S", 20 * time.Second, true},
		{"P14D", 14 * 24 * time.Hour, true},
		{"P1W", 7 * 24 * time.Hour, true},
		{"P1Y", 365 * 24 * time.Hour, true},
		{"P1M", 30 * 24 * time.Hour, true},
		{"P1DT2H3M4.5S", 26*time.Hour + 3*time.Minute + 4500*time.Millisecond, true},
		{"PT0,25S", 250 * time.Millisecond, true},
		{"PT.5S", 500 * time.Millisecond, true},
		{"PT0S", 0, true},
		{"P", 0, false},
		{"PT", 0, false},
		{"P1DT", 0, false},
		{"1H", 0, false},
		{"PT1H1H", 0, false},
		{"PT1M1H", 0, false},
		{"PT1.5M", 0, false},
		{"P1.5D", 0, false},
		{"PT1.S", 0, false},
		{"PT1.0000000001S", 0, false},
		{"PT-1S", 0, false},
		{"-PT1S", 0, false},
		{"P1H", 0, false},
		{"PT1D", 0, false},
		{"P99999999999999D", 0, false},
		{"P1TT1S", 0, false},
		{"PT1", 0, false},
	}
	for _, tt := range tests {
		got, err := config.ParseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error = %v, want not-exist", err)
	}
}
