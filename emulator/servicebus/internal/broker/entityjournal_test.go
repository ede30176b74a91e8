package broker_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/clock"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// TestRecoveryOfEntityRecordsOfTheFirstFormat recovers entity records as
// the first durable version wrote them (testdata/entity-records-v1.hex,
// one record a line in hex: queue "oldq" updated and SendDisabled, topic
// "oldt", subscription "olds" with a SQL rule with an action and a
// correlation rule, $Default removed), which have no administration
// properties, times or SQL parameters.
func TestRecoveryOfEntityRecordsOfTheFirstFormat(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/entity-records-v1.hex")
	must(t, err)
	old := &memJournal{}
	for line := range strings.FieldsSeq(string(data)) {
		rec, err := hex.DecodeString(line)
		must(t, err)
		must(t, old.Append(rec))
	}
	c := clock.NewFake(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	b, _, j2 := restartJournal(t, c, old)
	for i, b := range []*broker.Broker{b, nil} {
		if i == 1 { // the snapshot written in the new format
			b, _ = restart(t, c, j2)
		}
		q, err := b.QueueSettings("oldq")
		must(t, err)
		if q.LockDuration != 45*time.Second || q.MaxDeliveryCount != 4 || q.MaxSizeInMegabytes != 2048 {
			t.Fatalf("restart %d: oldq settings %+v", i+1, q)
		}
		info, err := b.EntityInfo("oldq")
		must(t, err)
		if info.Status != broker.StatusSendDisabled || len(info.Properties) != 0 || !info.CreatedAt.Equal(c.Now()) {
			t.Fatalf("restart %d: oldq status %v, properties %q, created %v; want SendDisabled, none, the recovery's time",
				i+1, info.Status, info.Properties, info.CreatedAt)
		}
		tp, err := b.TopicSettings("oldt")
		must(t, err)
		if tp.DefaultMessageTimeToLive != 2*time.Hour {
			t.Fatalf("restart %d: oldt settings %+v", i+1, tp)
		}
		s, err := b.SubscriptionSettings("oldt", "olds")
		must(t, err)
		if s.MaxDeliveryCount != 2 || s.ForwardDeadLetteredTo != "oldq" || len(s.Rules) != 2 {
			t.Fatalf("restart %d: olds settings %+v", i+1, s)
		}
		for _, r := range s.Rules {
			switch f := r.Filter.(type) {
			case *broker.SQLFilter:
				if r.Name != "red" || f.Expression() != "color = 'red'" || r.Action == nil || r.Action.Expression() != "SET seen = 1" {
					t.Fatalf("restart %d: rule %+v", i+1, r)
				}
			case *broker.CorrelationFilter:
				if r.Name != "corr" || f.CorrelationID != "cid" || !reflect.DeepEqual(f.Properties, map[string]any{"n": int64(5)}) {
					t.Fatalf("restart %d: rule %+v", i+1, r)
				}
			default:
				t.Fatalf("restart %d: rule %+v", i+1, r)
			}
		}
	}
}

// TestRecoveryKeepsAdministrationPropertiesTimesAndSQLParameters: what the
// administration API stores with an entity or rule, the entity's times and
// the @parameters of SQL filters and actions survive a restart, from the
// records and from the snapshot.
func TestRecoveryKeepsAdministrationPropertiesTimesAndSQLParameters(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := clock.NewFake(created)
	j := &memJournal{}
	b := durableSetup(t, c, j)
	must(t, b.CreateQueue(broker.QueueConfig{Name: "pq"}))
	c.Advance(time.Minute)
	must(t, b.SetStatusAndProperties("pq", broker.StatusReceiveDisabled, []byte(`{"UserMetadata":"m"}`)))
	must(t, b.SetStatusAndProperties("t", broker.StatusActive, []byte(`{"a":1}`)))
	if err := b.SetStatusAndProperties("t", broker.StatusActive, []byte(`{not json`)); err == nil {
		t.Fatal("properties that are not JSON: accepted")
	}
	at := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	params := map[string]any{"@s": "red", "@n": int64(3), "@x": 2.5, "@ok": true, "@at": at}
	f, err := broker.NewSQLFilterWithParameters("color = @s AND n >= @n AND x < @x AND ok = @ok AND at < @at", params)
	must(t, err)
	a, err := broker.NewSQLActionWithParameters("SET tag = @tag", map[string]any{"@tag": "p"})
	must(t, err)
	must(t, b.AddRule("t", "s", broker.Rule{Name: "p", Filter: f, Action: a, Properties: []byte(`{"Created":"x"}`)}))
	want, err := b.EntityInfo("pq")
	must(t, err)
	c.Advance(time.Hour) // the restart's time differs from the entities'

	_, _, j2 := restartJournal(t, c, j)
	for i, j := range []*memJournal{j, j2} {
		b2, _ := restart(t, c, j)
		got, err := b2.EntityInfo("pq")
		must(t, err)
		if got.Status != broker.StatusReceiveDisabled || !bytes.Equal(got.Properties, want.Properties) ||
			!got.CreatedAt.Equal(created) || !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Fatalf("restart %d: pq %v %q created %v updated %v; want %v %q %v %v", i+1, got.Status, got.Properties,
				got.CreatedAt, got.UpdatedAt, want.Status, want.Properties, created, want.UpdatedAt)
		}
		if ti, err := b2.EntityInfo("t"); err != nil || string(ti.Properties) != `{"a":1}` {
			t.Fatalf("restart %d: topic properties %q, %v", i+1, ti.Properties, err)
		}
		rules, err := b2.Rules("t", "s")
		must(t, err)
		var r broker.Rule
		for _, x := range rules {
			if x.Name == "p" {
				r = x
			}
		}
		sf, ok := r.Filter.(*broker.SQLFilter)
		if !ok || !reflect.DeepEqual(sf.Parameters(), params) || r.Action == nil ||
			!reflect.DeepEqual(r.Action.Parameters(), map[string]any{"@tag": "p"}) || string(r.Properties) != `{"Created":"x"}` {
			t.Fatalf("restart %d: rule %+v", i+1, r)
		}
	}
}
