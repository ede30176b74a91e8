package broker_test

import (
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// setupTopic returns a broker with topic "t" and one subscription "s"
// holding rules.
func setupTopic(t *testing.T, rules ...broker.Rule) *broker.Broker {
	t.Helper()
	b := broker.New(broker.Config{})
	t.Cleanup(b.Stop)
	if err := b.CreateTopic(broker.TopicConfig{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateSubscription("t", broker.SubscriptionConfig{Name: "s", Rules: rules}); err != nil {
		t.Fatal(err)
	}
	return b
}

func fullMessage() *broker.Message {
	return &broker.Message{
		Properties: broker.Properties{
			Present: broker.PropMessageID | broker.PropCorrelationID | broker.PropTo | broker.PropReplyTo |
				broker.PropSubject | broker.PropGroupID | broker.PropReplyToGroupID | broker.PropContentType,
			MessageID: "mid", CorrelationID: "cid", To: "to", ReplyTo: "rt", Subject: "subj",
			GroupID: "sess", ReplyToGroupID: "rsess", ContentType: "application/json",
		},
		ApplicationProperties: map[string]any{"s": "v", "n": int32(7), "f": 2.5, "b": true, "u": uint64(1 << 40)},
	}
}

func TestCorrelationFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter broker.CorrelationFilter
		mutate func(m *broker.Message)
		want   bool
	}{
		{"empty filter matches all", broker.CorrelationFilter{}, nil, true},
		{"CorrelationId", broker.CorrelationFilter{CorrelationID: "cid"}, nil, true},
		{"CorrelationId differs", broker.CorrelationFilter{CorrelationID: "CID"}, nil, false},
		{"MessageId", broker.CorrelationFilter{MessageID: "mid"}, nil, true},
		{"MessageId uuid", broker.CorrelationFilter{MessageID: "00000000-0000-0000-0000-000000000001"},
			func(m *broker.Message) { m.Properties.MessageID = uuid.UUID{15: 1} }, true},
		{"MessageId ulong", broker.CorrelationFilter{MessageID: "42"},
			func(m *broker.Message) { m.Properties.MessageID = uint64(42) }, true},
		{"To", broker.CorrelationFilter{To: "to"}, nil, true},
		{"ReplyTo", broker.CorrelationFilter{ReplyTo: "rt"}, nil, true},
		{"Label", broker.CorrelationFilter{Subject: "subj"}, nil, true},
		{"Label differs", broker.CorrelationFilter{Subject: "other"}, nil, false},
		{"SessionId", broker.CorrelationFilter{SessionID: "sess"}, nil, true},
		{"ReplyToSessionId", broker.CorrelationFilter{ReplyToSessionID: "rsess"}, nil, true},
		{"ContentType", broker.CorrelationFilter{ContentType: "application/json"}, nil, true},
		{"ContentType absent", broker.CorrelationFilter{ContentType: "application/json"},
			func(m *broker.Message) { m.Properties.Present &^= broker.PropContentType }, false},
		{"all fields", broker.CorrelationFilter{CorrelationID: "cid", MessageID: "mid", To: "to", ReplyTo: "rt", Subject: "subj",
			SessionID: "sess", ReplyToSessionID: "rsess", ContentType: "application/json",
			Properties: map[string]any{"s": "v", "n": int64(7)}}, nil, true},
		{"all fields but one", broker.CorrelationFilter{CorrelationID: "cid", MessageID: "mid", To: "nope"}, nil, false},
		{"property string", broker.CorrelationFilter{Properties: map[string]any{"s": "v"}}, nil, true},
		{"property string case", broker.CorrelationFilter{Properties: map[string]any{"s": "V"}}, nil, false},
		{"property int across types", broker.CorrelationFilter{Properties: map[string]any{"n": float64(7)}}, nil, true},
		{"property float", broker.CorrelationFilter{Properties: map[string]any{"f": float32(2.5)}}, nil, true},
		{"property bool", broker.CorrelationFilter{Properties: map[string]any{"b": true}}, nil, true},
		{"property uint vs int", broker.CorrelationFilter{Properties: map[string]any{"u": int64(1 << 40)}}, nil, true},
		{"property missing", broker.CorrelationFilter{Properties: map[string]any{"missing": "v"}}, nil, false},
		{"property string vs number", broker.CorrelationFilter{Properties: map[string]any{"n": "7"}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := fullMessage()
			if tt.mutate != nil {
				tt.mutate(m)
			}
			if got := tt.filter.Match(m); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
			// Same through a topic: delivered to the subscription iff it matches.
			b := setupTopic(t, broker.Rule{Name: "r", Filter: &tt.filter})
			if _, err := b.Send("t", []*broker.Message{m}); err != nil {
				t.Fatal(err)
			}
			st, err := b.Stats("t/Subscriptions/s")
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Active == 1; got != tt.want {
				t.Errorf("delivered = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValueEqual(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		a, b any
		want bool
	}{
		{int8(-1), int64(-1), true},
		{int64(-1), uint64(math.MaxUint64), false},
		{uint8(255), int16(255), true},
		{float64(1 << 53), int64(1<<53 + 1), false},
		{float64(3), uint32(3), true},
		{float64(3.5), int32(3), false},
		{math.NaN(), math.NaN(), false},
		{"a", "a", true},
		{"a", []byte("a"), false},
		{[]byte("ab"), []byte("ab"), true},
		{true, true, true},
		{true, 1, false},
		{nil, nil, true},
		{nil, "x", false},
		{now, now, true},
		{uuid.UUID{1}, uuid.UUID{1}, true},
		{uuid.UUID{1}, uuid.UUID{2}, false},
		{[]any{"x"}, []any{"x"}, true},
	}
	for _, tt := range tests {
		if got := broker.ValueEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("ValueEqual(%#v, %#v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := broker.ValueEqual(tt.b, tt.a); got != tt.want {
			t.Errorf("ValueEqual(%#v, %#v) = %v, want %v (reversed)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestTopicFanOut(t *testing.T) {
	t.Parallel()
	json := &broker.CorrelationFilter{ContentType: "application/json"}
	b := setupTopic(t,
		broker.Rule{Name: "json", Filter: json},
		broker.Rule{Name: "prop", Filter: &broker.CorrelationFilter{Properties: map[string]any{"s": "v"}}},
	)
	if err := b.CreateSubscription("t", broker.SubscriptionConfig{Name: "all", DefaultMessageTimeToLive: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateSubscription("t", broker.SubscriptionConfig{Name: "none", Rules: []broker.Rule{
		{Name: "x", Filter: &broker.CorrelationFilter{Subject: "never"}}}}); err != nil {
		t.Fatal(err)
	}
	both := fullMessage()      // matches both rules of s: delivered once
	plain := &broker.Message{} // only the default rule of "all"
	seqs, err := b.Send("t", []*broker.Message{both, plain})
	if err != nil {
		t.Fatal(err)
	}
	if seqs[0] != 1 || seqs[1] != 2 {
		t.Fatalf("seqs %v", seqs)
	}
	counts := map[string]int{"s": 1, "all": 2, "none": 0}
	for sub, want := range counts {
		p, err := b.Peek("t/Subscriptions/"+sub, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != want {
			t.Errorf("%s: %d messages, want %d", sub, len(p), want)
		}
		if sub == "all" && (p[0].SequenceNumber != 1 || p[0].TimeToLive != time.Minute) {
			t.Errorf("all: seq %d ttl %v", p[0].SequenceNumber, p[0].TimeToLive)
		}
	}
	// Copies are independent: completing in one subscription leaves the other.
	r, err := b.NewReceiver("t/Subscriptions/s", broker.ReceiveAndDelete)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.TryReceive(5); len(got) != 1 {
		t.Fatalf("s: got %d", len(got))
	}
	if st, _ := b.Stats("t/Subscriptions/all"); st.Active != 2 {
		t.Errorf("all after s consumed: %+v", st)
	}
}
