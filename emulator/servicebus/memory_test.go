package servicebus

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
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
func storedFootprint(count, size int) (heapPerMsg, rssPerMsg float64, err error) {
	br := broker.New(broker.Config{})
	defer br.Stop()
	if err := br.CreateQueue(broker.QueueConfig{Name: "q"}); err != nil {
		return 0, 0, err
	}
	const batch = 100
	tmpl := sdkBatch(batch, size)
	heap0, rss0 := heapAfterGC(), rss()
	for sent := 0; sent < count; sent += batch {
		payload := append([]byte(nil), tmpl...) // each transfer has its own buffer, as in link.onTransfer
		msgs, err := decodeSent(payload, batchFormat)
		if err != nil {
			return 0, 0, err
		}
		if _, err := br.SendOwned("q", msgs); err != nil {
			return 0, 0, err
		}
	}
	heap1, rss1 := heapAfterGC(), rss()
	if st, _ := br.Stats("q"); st.Active != count {
		return 0, 0, fmt.Errorf("queued %d, want %d", st.Active, count)
	}
	return float64(heap1-heap0) / float64(count), float64(rss1-rss0) / float64(count), nil
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
// sent in an SDK batch: the body's bytes (shared with the transfer buffer),
// the decoded message, its entry and index nodes. Measured at 1955 bytes;
// the bound leaves room for allocator noise, not for another copy of the
// body.
const maxHeapPerStoredMessage = 2300

// TestStoredFootprint is not parallel: it reads the process's heap and RSS.
func TestStoredFootprint(t *testing.T) {
	n := 30000
	if testing.Short() {
		n = 5000
	}
	heap, rssPer, err := storedFootprint(n, 1024)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d queued 1 KiB messages: %.0f B heap, %.0f B RSS per message", n, heap, rssPer)
	if heap > maxHeapPerStoredMessage {
		t.Fatalf("%.0f bytes of heap per stored 1 KiB message, want ≤ %d", heap, maxHeapPerStoredMessage)
	}
}

// TestBatchBodiesShareTheTransferBuffer checks that decoding a batch keeps
// each inner message's body as a slice of the transfer, not a copy.
func TestBatchBodiesShareTheTransferBuffer(t *testing.T) {
	t.Parallel()
	payload := sdkBatch(3, 64)
	msgs, err := decodeSent(payload, batchFormat)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("decodeSent: %d messages, %v", len(msgs), err)
	}
	lo, hi := &payload[0], &payload[len(payload)-1]
	for i, m := range msgs {
		b := &m.Body[0]
		if uintptr(unsafe.Pointer(b)) < uintptr(unsafe.Pointer(lo)) || uintptr(unsafe.Pointer(b)) > uintptr(unsafe.Pointer(hi)) {
			t.Fatalf("message %d: body is a copy, not a slice of the transfer", i)
		}
	}
}
