package servicebus

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/uuid"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// sdkBatch encodes n messages with a 1 KiB body each as the SDK sends a
// batch (message-format 0x80013700, one data section per inner message,
// each with a GUID message-id).
func sdkBatch(n, size int) []byte {
	body := make([]byte, size)
	var out []byte
	for range n {
		b := enc.AppendDescriptor(nil, secProperties)
		b, _ = enc.AppendList(b, []any{uuid.NewString()})
		b = enc.AppendDescriptor(b, secData)
		b = enc.AppendBinary(b, body)
		out = enc.AppendDescriptor(out, secData)
		out = enc.AppendBinary(out, b)
	}
	return out
}

// storedFootprint queues count messages of size bytes, sent in SDK batches
// of 100 through the wire decoder and the broker, and returns the growth of
// the live heap and of the resident set per message.
func storedFootprint(count, size int) (heapPerMsg, rssPerMsg, garbagePerMsg float64, err error) {
	br := broker.New(broker.Config{})
	defer br.Stop()
	if err := br.CreateQueue(broker.QueueConfig{Name: "q"}); err != nil {
		return 0, 0, 0, err
	}
	const batch = 100
	tmpl := sdkBatch(batch, size)
	var payload []byte
	var scratch sentScratch
	heap0, rss0, alloc0 := heapAfterGC(), rss(), totalAlloc()
	for sent := 0; sent < count; sent += batch {
		payload = append(payload[:0], tmpl...) // one buffer, reused, as a link reuses its own
		msgs, err := scratch.decode(payload, batchFormat)
		if err != nil {
			return 0, 0, 0, err
		}
		_, err = br.SendOwned("q", msgs)
		scratch.reset()
		if err != nil {
			return 0, 0, 0, err
		}
	}
	alloc1 := totalAlloc()
	heap1, rss1 := heapAfterGC(), rss()
	if st, _ := br.Stats("q"); st.Active != count {
		return 0, 0, 0, fmt.Errorf("queued %d, want %d", st.Active, count)
	}
	garbage := float64(alloc1-alloc0) - float64(heap1-heap0)
	return float64(heap1-heap0) / float64(count), float64(rss1-rss0) / float64(count), garbage / float64(count), nil
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// maxHeapPerStoredMessage bounds the live heap of one queued 1 KiB message
// sent in an SDK batch: its stored form (1,053 bytes: the body with its
// data-section framing, the message-id as 16 bytes, a few bytes of lengths
// and flags), cut from its queue's slab; its record (entry, 136 bytes, 144
// with the allocator's rounding, the skip-list links and the journal
// position included); its slots in the store's FIFO and timer heap (8
// bytes each, plus their spare capacity). Measured at 1,218 bytes; the
// bound leaves room for allocator noise, not for a decoded Message (416
// bytes) staying alive nor for another copy of the body.
const maxHeapPerStoredMessage = 1300

// TestStoredFootprint is not parallel: it reads the process's heap and RSS.
func TestStoredFootprint(t *testing.T) {
	n := 30000
	if testing.Short() {
		n = 5000
	}
	heap, rssPer, garbage, err := storedFootprint(n, 1024)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d queued 1 KiB messages: %.0f B heap, %.0f B RSS, %.0f B garbage per message", n, heap, rssPer, garbage)
	if heap > maxHeapPerStoredMessage {
		t.Fatalf("%.0f bytes of heap per stored 1 KiB message, want ≤ %d", heap, maxHeapPerStoredMessage)
	}
}

// TestStoredMessagesOwnTheirBytes decodes an SDK batch as a link does (bodies
// and string message-ids are views of the transfer), sends it, then
// overwrites the transfer and the link's decoding state, as the next
// transfer would: what the broker stored must be unchanged, since the
// broker copies each message into a stored form of its own.
func TestStoredMessagesOwnTheirBytes(t *testing.T) {
	t.Parallel()
	br := broker.New(broker.Config{})
	defer br.Stop()
	if err := br.CreateQueue(broker.QueueConfig{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	payload := sdkBatch(3, 64)
	var scratch sentScratch
	msgs, err := scratch.decode(payload, batchFormat)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("decode: %d messages, %v", len(msgs), err)
	}
	lo, hi := uintptr(unsafe.Pointer(&payload[0])), uintptr(unsafe.Pointer(&payload[len(payload)-1]))
	inPayload := func(p *byte) bool { return uintptr(unsafe.Pointer(p)) >= lo && uintptr(unsafe.Pointer(p)) <= hi }
	var ids []string
	var bodies [][]byte
	for i, m := range msgs {
		id, ok := m.Properties.MessageID.(string)
		if !ok || len(id) != 36 || !inPayload(unsafe.StringData(id)) || !inPayload(&m.Body[0]) {
			t.Fatalf("message %d: decoding copied what it could view (id %q)", i, id)
		}
		ids = append(ids, strings.Clone(id))
		bodies = append(bodies, slices.Clone(m.Body))
	}
	if _, err := br.SendOwned("q", msgs); err != nil {
		t.Fatal(err)
	}
	scratch.reset()
	for i := range payload {
		payload[i] = 0xEE
	}
	got, err := br.Peek("q", 0, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("peek: %d messages, %v", len(got), err)
	}
	for i, m := range got {
		if m.Properties.MessageID != ids[i] || !bytes.Equal(m.Body, bodies[i]) {
			t.Fatalf("message %d changed with its transfer buffer: id %v", i, m.Properties.MessageID)
		}
		if inPayload(&m.Body[0]) {
			t.Fatalf("message %d: stored body is a view of the transfer", i)
		}
	}
}
