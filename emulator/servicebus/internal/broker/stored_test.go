package broker

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// TestStoredFormRoundTrip encodes messages with every client-supplied
// field in the stored form and checks that decoding gives them back
// exactly, compact message-ids included (and ids that only look compact,
// which must be kept as they are).
func TestStoredFormRoundTrip(t *testing.T) {
	t.Parallel()
	for i, m := range storedCases() {
		data, err := encodeStored(&m, nil)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if len(data) != cap(data) {
			t.Fatalf("case %d: stored form of %d bytes has capacity %d", i, len(data), cap(data))
		}
		var got Message
		if err := decodeStored(data, &got); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("case %d: round trip\n got %+v\nwant %+v", i, got, m)
		}
		if storedBodyLen(data) != len(m.Body) {
			t.Fatalf("case %d: body length %d, want %d", i, storedBodyLen(data), len(m.Body))
		}
	}
}

// TestSnapshotRecordFromStoredForm: the put record a snapshot writes
// straight from the stored form (its maps copied undecoded) decodes to the
// same message as the record of the decoded message, with every
// client-supplied and broker-owned field set, maps empty, absent and with
// many keys.
func TestSnapshotRecordFromStoredForm(t *testing.T) {
	t.Parallel()
	cases := storedCases()
	many := cases[len(cases)-1]
	many.ApplicationProperties = map[string]any{}
	for k := range 300 { // past 255 bytes: a map32
		many.ApplicationProperties[strings.Repeat("k", k%7)+string(rune('a'+k%26))+strings.Repeat("x", k/26)] = int64(k)
	}
	many.DeliveryAnnotations = map[string]any{}
	cases = append(cases, many)
	for i, m := range cases {
		m.SequenceNumber, m.EnqueueSequenceNumber = 42+int64(i), 40
		m.EnqueuedTime = time.Unix(1700000000, 5).UTC()
		m.DeliveryCount, m.State, m.TimeToLive = 3, StateDeferred, time.Hour
		m.DeadLetterSource, m.forwardHops = "src", 2
		e, err := newEntry(&m, nil)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		want, err := enc.AppendList(nil, messageRecord("q/$deadletterqueue", e.message(e.data)))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		got, err := appendMessageRecord([]byte("garbage"), "q/$deadletterqueue", e, e.data)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		sameRecord(t, i, "appendMessageRecord", "stored form", want, got)
		if len(m.ApplicationProperties) < 2 && len(m.Annotations) < 2 && len(m.DeliveryAnnotations) < 2 && string(got[7:]) != string(want) {
			t.Fatalf("case %d: records differ (no map order to explain it)", i)
		}
	}
}

// storedCases are messages with every client-supplied field, compact
// message-ids and ids that only look compact.
func storedCases() []Message {
	full := Message{
		Header:              Header{Durable: true, Priority: 7, TTL: 90 * time.Second},
		DeliveryAnnotations: map[string]any{"x-da": "v"},
		Annotations:         map[string]any{"x-opt-custom": int64(3), "x-list": []any{"a", int32(1)}},
		Properties: Properties{
			Present: PropMessageID | PropUserID | PropTo | PropSubject | PropReplyTo | PropCorrelationID |
				PropContentType | PropContentEncoding | PropAbsoluteExpiryTime | PropCreationTime | PropGroupID |
				PropGroupSequence | PropReplyToGroupID,
			MessageID: "id-1", UserID: []byte{1, 2, 3}, To: "to", Subject: "subject", ReplyTo: "reply",
			CorrelationID: enc.UUID{1, 2}, ContentType: "text/plain", ContentEncoding: "gzip",
			AbsoluteExpiryTime: 1700000000123, CreationTime: 1600000000456, GroupID: "session",
			GroupSequence: 42, ReplyToGroupID: "reply-session",
		},
		ApplicationProperties: map[string]any{"s": "v", "n": int64(-5), "f": 2.5, "b": true, "t": time.UnixMilli(1700000000000).UTC(),
			"bin": []byte("raw"), "d": enc.Described{Descriptor: enc.Symbol("com.microsoft:uri"), Value: "http://x"}},
		Body:                 []byte("\x00Su\xa0\x05hello"),
		ScheduledEnqueueTime: time.Unix(1800000000, 123456789).UTC(),
		PartitionKey:         "pk",
	}
	ids := []any{
		"0123456789abcdef0123456789abcdef",      // compact hex
		"0123456789ABCDEF0123456789ABCDEF",      // upper case: kept as is
		"0123456789abcdef0123456789abcdeg",      // not hex
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8",  // compact GUID
		"6BA7B810-9DAD-11D1-80B4-00C04FD430C8",  // upper case: kept as is
		"{6ba7b810-9dad-11d1-80b4-00c04fd430c}", // braces
		uint64(7), enc.UUID{9}, []byte("binary-id"), "", strings.Repeat("x", 300),
	}
	cases := []Message{{}, {Body: []byte("\x00Sw\xa1\x01x")}, full}
	for _, id := range ids {
		m := full
		m.Properties.MessageID = id
		cases = append(cases, m)
	}
	return cases
}

// TestStoredFormRefusesWhatTheCodecCannotEncode: Send reports a value the
// stored form cannot hold instead of storing a message it cannot read.
func TestStoredFormRefusesWhatTheCodecCannotEncode(t *testing.T) {
	t.Parallel()
	m := &Message{ApplicationProperties: map[string]any{"c": make(chan int)}}
	if _, err := encodeStored(m, nil); err == nil {
		t.Fatal("a channel-valued property was encoded")
	}
}

// TestSlabCopiesDoNotOverlap checks that stored forms cut from one chunk
// have no spare capacity (an append cannot overwrite a neighbour) and keep
// their bytes when later ones are cut.
func TestSlabCopiesDoNotOverlap(t *testing.T) {
	t.Parallel()
	var s slab
	var got [][]byte
	for i := range 200 {
		b := []byte(strings.Repeat(string(rune('a'+i%26)), 1+i*7%900))
		c := s.copyOf(b)
		if cap(c) != len(b) {
			t.Fatalf("copy %d: capacity %d, length %d", i, cap(c), len(b))
		}
		got = append(got, c)
	}
	for i, c := range got {
		if want := strings.Repeat(string(rune('a'+i%26)), 1+i*7%900); string(c) != want {
			t.Fatalf("copy %d changed", i)
		}
	}
	big := make([]byte, slabMax+1)
	if c := s.copyOf(big); cap(c) != len(big) {
		t.Fatalf("large copy has capacity %d", cap(c))
	}
}

// TestTopicCopiesShareTheStoredForm checks that a topic message fanned out
// to two subscriptions is stored once (both records point at the same
// bytes), and that dead-lettering one copy, which rewrites its stored form,
// leaves the other's unchanged.
func TestTopicCopiesShareTheStoredForm(t *testing.T) {
	t.Parallel()
	b := New(Config{})
	defer b.Stop()
	if err := b.CreateTopic(TopicConfig{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := b.CreateSubscription("t", SubscriptionConfig{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Send("t", []*Message{{Body: []byte("shared"), ApplicationProperties: map[string]any{"k": "v"}}}); err != nil {
		t.Fatal(err)
	}
	stored := func(path string) *entry {
		tg, err := b.resolve(path)
		if err != nil {
			t.Fatal(err)
		}
		tg.ent.mu.Lock()
		defer tg.ent.mu.Unlock()
		return tg.s.all.get(1)
	}
	ea, eb := stored("t/Subscriptions/a"), stored("t/Subscriptions/b")
	if ea == nil || eb == nil || ea == eb {
		t.Fatalf("records %p and %p, want two", ea, eb)
	}
	if &ea.data[0] != &eb.data[0] {
		t.Fatal("the subscription copies have a stored form each, want one shared")
	}
	r, err := b.NewReceiver("t/Subscriptions/a", PeekLock)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.TryReceive(1)
	if err != nil || len(got) != 1 {
		t.Fatalf("receive: %v, %v", got, err)
	}
	if err := b.DeadLetter("t/Subscriptions/a", got[0].LockToken, "why", "because", map[string]any{"k": "changed"}); err != nil {
		t.Fatal(err)
	}
	peeked, err := b.Peek("t/Subscriptions/b", 0, 1)
	if err != nil || len(peeked) != 1 {
		t.Fatalf("peek b: %v, %v", peeked, err)
	}
	if m := peeked[0]; m.ApplicationProperties["k"] != "v" || len(m.ApplicationProperties) != 1 || string(m.Body) != "shared" {
		t.Fatalf("b's copy changed with a's dead-lettering: %v %q", m.ApplicationProperties, m.Body)
	}
	dl, err := b.Peek("t/Subscriptions/a/$DeadLetterQueue", 0, 1)
	if err != nil || len(dl) != 1 || dl[0].ApplicationProperties["k"] != "changed" ||
		dl[0].ApplicationProperties[PropDeadLetterReason] != "why" || string(dl[0].Body) != "shared" {
		t.Fatalf("dead letter: %v, %v", dl, err)
	}
}

// TestSnapshotRecordOfAColdMessage: the record a snapshot writes for a cold
// message, its client part copied from the record read back, decodes to the
// same message as the record of the message in memory, with the broker
// fields of now, not those of the record read back; a record that is not
// the message's put is refused.
func TestSnapshotRecordOfAColdMessage(t *testing.T) {
	t.Parallel()
	for i, m := range storedCases() {
		m.SequenceNumber, m.EnqueueSequenceNumber = 42+int64(i), 42+int64(i)
		m.EnqueuedTime = time.Unix(1700000000, 5).UTC()
		m.TimeToLive = time.Minute
		old, err := enc.AppendList(nil, messageRecord("q", &m)) // as sent
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		m.EnqueueSequenceNumber = 40
		m.DeliveryCount, m.State, m.TimeToLive = 3, StateDeferred, time.Hour
		m.DeadLetterSource, m.forwardHops = "src", 2
		e, err := newEntry(&m, nil)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		want, err := enc.AppendList(nil, messageRecord("q/$deadletterqueue", e.message(e.data)))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		got, err := appendColdRecord([]byte("garbage"), "q/$deadletterqueue", e, old)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		sameRecord(t, i, "appendColdRecord", "cold record", want, got)
	}
	e, err := newEntry(&Message{SequenceNumber: 7, Body: []byte("x")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for what, rec := range map[string][]any{
		"another message": messageRecord("q", &Message{SequenceNumber: 8}),
		"a delete":        {recDel, "q", int64(7)},
		"a lock":          {recLock, "q", int64(7)},
	} {
		b, err := enc.AppendList(nil, rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := appendColdRecord(nil, "q", e, b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s read back: %v, want ErrInvalid", what, err)
		}
	}
	if _, err := appendColdRecord(nil, "q", e, []byte{0xc0, 5}); err == nil {
		t.Error("a truncated record read back was taken")
	}
}

// sameRecord checks that got, which fn appended after the 7 bytes
// "garbage", decodes to the same record as want (made from the decoded
// message); from names what fn made it from.
func sameRecord(t *testing.T, i int, fn, from string, want, got []byte) {
	t.Helper()
	if string(got[:7]) != "garbage" {
		t.Fatalf("case %d: %s overwrote what it appends to", i, fn)
	}
	wr, err := decodeRecord(want)
	if err != nil {
		t.Fatalf("case %d: %v", i, err)
	}
	gr, err := decodeRecord(got[7:])
	if err != nil {
		t.Fatalf("case %d: record from the %s: %v", i, from, err)
	}
	if !reflect.DeepEqual(gr, wr) {
		t.Fatalf("case %d: record from the %s\n got %+v\nwant %+v", i, from, gr.msg, wr.msg)
	}
}
