package servicebus

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

type msgBundle struct {
	encoded []byte // a message as the SDK sends it
}

func setup(t testing.TB) msgBundle {
	t.Helper()
	b := enc.AppendDescriptor(nil, secHeader)
	b, _ = enc.AppendList(b, []any{true, nil, uint32(60000)})
	b = enc.AppendDescriptor(b, secMessageAnnotations)
	b, _ = enc.AppendMap(b, enc.Map{
		{Key: enc.Symbol(annPartitionKey), Value: "pk"},
		{Key: enc.Symbol(annSequenceNumber), Value: int64(99)}, // broker-owned: dropped
		{Key: enc.Symbol("custom"), Value: int32(5)},
	})
	b = enc.AppendDescriptor(b, secProperties)
	b, _ = enc.AppendList(b, []any{"id-1", nil, "to", "subject", nil, "corr", enc.Symbol("text/plain"), nil,
		time.UnixMilli(0), time.UnixMilli(1700000000123)})
	b = enc.AppendDescriptor(b, secApplicationProps)
	b, _ = enc.AppendMap(b, enc.Map{{Key: "k", Value: int64(7)}})
	b = enc.AppendDescriptor(b, secData)
	b = enc.AppendBinary(b, []byte("body"))
	return msgBundle{encoded: b}
}

func TestMessageMappingRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	msgs, err := decodeSent(b.encoded, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("decodeSent: %v", err)
	}
	m := msgs[0]
	if !m.Header.Durable || m.Header.TTL != time.Minute || m.PartitionKey != "pk" || m.Properties.Subject != "subject" ||
		m.Properties.ContentType != "text/plain" || m.ApplicationProperties["k"] != int64(7) ||
		m.Properties.AbsoluteExpiryTime != 0 || m.Properties.CreationTime != 1700000000123 {
		t.Fatalf("decoded %+v", m)
	}
	if _, ok := m.Annotations[annSequenceNumber]; ok {
		t.Fatal("client x-opt-sequence-number kept")
	}
	m.SequenceNumber, m.EnqueuedTime, m.TimeToLive = 3, time.UnixMilli(1700000000000), time.Minute
	m.LockToken, m.LockedUntil, m.DeliveryCount = uuid.New(), time.UnixMilli(1700000060000), 1
	out, err := encodeDelivered(m, true)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseMessage(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.msg.Body, m.Body) || p.msg.Properties.Present != m.Properties.Present || p.msg.Annotations["custom"] != int32(5) ||
		p.msg.Properties.AbsoluteExpiryTime != 0 || p.msg.Properties.CreationTime != 1700000000123 {
		t.Fatalf("re-parsed %+v", p.msg)
	}
	if tok, ok := p.msg.DeliveryAnnotations[annLockToken].(enc.UUID); !ok || uuid.UUID(tok) != m.LockToken {
		t.Fatalf("lock token annotation %v", p.msg.DeliveryAnnotations)
	}
}

func TestBatchIsSplit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	env := enc.AppendDescriptor(nil, secData)
	env = enc.AppendBinary(env, b.encoded)
	env = enc.AppendDescriptor(env, secData)
	env = enc.AppendBinary(env, b.encoded)
	msgs, err := decodeSent(env, batchFormat)
	if err != nil || len(msgs) != 2 || msgs[1].Properties.Subject != "subject" {
		t.Fatalf("batch: %d messages, %v", len(msgs), err)
	}
	single, err := decodeSent(env, 0)
	if err != nil || len(single) != 1 {
		t.Fatalf("format 0 with two data sections must stay one message: %d, %v", len(single), err)
	}
}

func TestLockTokenDeliveryTagByteOrder(t *testing.T) {
	t.Parallel()
	_ = setup(t)
	token := uuid.MustParse("bb3159cd-fdfe-cd4d-a226-ac4c2deb5be1")
	tag := dotnetGUID(token)
	want := []byte{0xcd, 0x59, 0x31, 0xbb, 0xfe, 0xfd, 0x4d, 0xcd, 0xa2, 0x26, 0xac, 0x4c, 0x2d, 0xeb, 0x5b, 0xe1}
	if !bytes.Equal(tag[:], want) {
		t.Fatalf("tag % x, want % x", tag, want)
	}
}

// SAS verification itself is tested in internal/auth.
func TestEntityPathOf(t *testing.T) {
	t.Parallel()
	if got := entityPathOf("amqp://localhost:5673/topic/Subscriptions/sub/$management"); got != "topic/Subscriptions/sub" {
		t.Fatalf("entityPathOf = %q", got)
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add(setup(f).encoded)
	f.Add([]byte{0, 0x53, 0x75, 0xa0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		// The decoder's budget bounds what a message costs: each batch member has its own, and
		// the members together are no longer than the batch.
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		msgs, err := decodeSent(in, batchFormat)
		runtime.ReadMemStats(&after)
		if got, budget := after.TotalAlloc-before.TotalAlloc, uint64(2*enc.Budget(len(in))+16<<10); got > budget {
			t.Fatalf("decoding %d bytes allocated %d, budget %d", len(in), got, budget)
		}
		if err != nil {
			return
		}
		for _, m := range msgs {
			m.SequenceNumber, m.State = 1, broker.StateActive
			out, err := encodeDelivered(m, true)
			if err != nil {
				// Only values the codec cannot encode may fail; decoded values always can.
				t.Fatalf("encodeDelivered: %v", err)
			}
			if _, err := parseMessage(out); err != nil {
				t.Fatalf("re-parse: %v", err)
			}
		}
	})
}

func TestMissingMessageIDAssigned(t *testing.T) {
	t.Parallel()
	_ = setup(t)
	bare := enc.AppendBinary(enc.AppendDescriptor(nil, secData), []byte("x"))
	msgs, err := decodeSent(bare, 0)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := msgs[0].Properties.MessageID.(string)
	if !ok || len(id) != 32 || !msgs[0].Properties.Has(broker.PropMessageID) {
		t.Fatalf("assigned message-id %#v", msgs[0].Properties.MessageID)
	}
}

func BenchmarkEncodeDelivered(b *testing.B) {
	msgs, err := decodeSent(setup(b).encoded, 0)
	if err != nil {
		b.Fatal(err)
	}
	m := msgs[0]
	m.SequenceNumber, m.EnqueuedTime, m.LockToken, m.LockedUntil = 7, time.Now(), uuid.New(), time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeDelivered(m, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSent(b *testing.B) {
	raw := setup(b).encoded
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeSent(raw, 0); err != nil {
			b.Fatal(err)
		}
	}
}
