package servicebus

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/google/uuid"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// coldBody is message i's body: size bytes, distinct for each i and at
// each offset, so that a body read back from the wrong place (or a
// neighbour's) is seen.
func coldBody(i, size int) []byte {
	b := make([]byte, size)
	x := uint64(i)*0x9e3779b97f4a7c15 + 1
	for j := 0; j < size; j += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		copy(b[j:], w[:])
	}
	copy(b, strconv.Itoa(i)+":")
	return b
}

// coldBatch encodes messages first..first+n-1 with coldBody bodies as the
// SDK sends a batch; their message-ids are GUIDs.
func coldBatch(first, n, size int) []byte {
	var out []byte
	for i := first; i < first+n; i++ {
		b := enc.AppendDescriptor(nil, secProperties)
		b, _ = enc.AppendList(b, []any{uuid.NewString()})
		b = enc.AppendDescriptor(b, secData)
		b = enc.AppendBinary(b, coldBody(i, size))
		out = enc.AppendDescriptor(out, secData)
		out = enc.AppendBinary(out, b)
	}
	return out
}

// coldFootprint starts a durable server with HotBytes hot, queues count
// messages of size bytes through the wire decoder and the broker (SDK
// batches of 100), waits for the log, lets the server evict, and returns
// the growth of the live heap and of the resident set per message. The
// server is returned running, with the messages queued in "q".
func coldFootprint(dir string, count, size int, hot int64) (srv *Server, heapPerMsg, rssPerMsg float64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv, err = Start(ctx, Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", DataDir: dir, HotBytes: hot})
	if err != nil {
		return nil, 0, 0, err
	}
	if err := srv.CreateQueue(QueueConfig{Name: "q", DefaultMessageTimeToLive: time.Hour}); err != nil {
		return srv, 0, 0, err
	}
	const batch = 100
	var scratch sentScratch
	heap0, rss0 := heapAfterGC(), rss()
	for sent := 0; sent < count; sent += batch {
		msgs, err := scratch.decode(coldBatch(sent, min(batch, count-sent), size), batchFormat)
		if err != nil {
			return srv, 0, 0, err
		}
		_, err = srv.broker.SendOwned("q", msgs)
		scratch.reset()
		if err != nil {
			return srv, 0, 0, err
		}
		if sent%(100*batch) == 0 {
			// As acknowledged clients would, wait for the log now and
			// then, so the loop evicts while the backlog grows.
			if err := srv.wal.Sync(ctx); err != nil {
				return srv, 0, 0, err
			}
		}
	}
	if err := srv.wal.Sync(ctx); err != nil {
		return srv, 0, 0, err
	}
	start := time.Now()
	srv.evict()
	evictPass = time.Since(start)
	heap1, rss1 := heapAfterGC(), rss()
	return srv, float64(heap1-heap0) / float64(count), float64(rss1-rss0) / float64(count), nil
}

// evictPass is how long coldFootprint's last eviction pass took (a walk
// of every stored message, twice), for the log.
var evictPass time.Duration

// maxHeapPerColdMessage bounds the live heap a cold queued message costs:
// its record (136 bytes, 144 with the allocator's rounding) and its slots in
// the store's FIFO and timer heap with their spare capacity, measured at
// 200 bytes; a hot one costs 1,218 bytes (maxHeapPerStoredMessage).
const maxHeapPerColdMessage = 450

// TestColdBacklogStaysNearHotBytes queues a backlog 30 times Config.HotBytes
// in durable mode: the live heap grows by the records, not the bodies; then
// every message is received through the SDK with every byte as sent. Not
// parallel: it reads the process's heap. COLD_MESSAGES sets the count.
func TestColdBacklogStaysNearHotBytes(t *testing.T) {
	n, size := 30000, 1024
	if testing.Short() {
		n = 6000
	}
	if v, err := strconv.Atoi(os.Getenv("COLD_MESSAGES")); err == nil {
		n = v
	}
	hot := int64(n * size / 30)
	srv, heapPer, rssPer, err := coldFootprint(filepath.Join(t.TempDir(), "data"), n, size, hot)
	if srv != nil {
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Stop(ctx); err != nil {
				t.Errorf("Stop: %v", err)
			}
		}()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d queued 1 KiB messages, HotBytes %d: %.0f B heap, %.0f B RSS per message; an eviction pass took %v",
		n, hot, heapPer, rssPer, evictPass)
	// The budget itself, spread over the messages, is allowed on top.
	if limit := maxHeapPerColdMessage + float64(hot)/float64(n); heapPer > limit {
		t.Fatalf("%.0f bytes of heap per queued message with HotBytes %d, want ≤ %.0f", heapPer, hot, limit)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	r, err := client.NewReceiverForQueue("q", &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, n)
	for got := 0; got < n; {
		msgs, err := r.ReceiveMessages(ctx, min(1000, n-got), nil)
		if err != nil {
			t.Fatalf("after %d of %d: %v", got, n, err)
		}
		for _, m := range msgs {
			var i int
			if _, err := fmt.Sscanf(string(m.Body), "%d:", &i); err != nil || i < 0 || i >= n || seen[i] {
				t.Fatalf("message %d: body starts %q (%v)", got, m.Body[:min(16, len(m.Body))], err)
			}
			if want := coldBody(i, size); string(m.Body) != string(want) {
				t.Fatalf("message %d: body differs from the one sent", i)
			}
			seen[i] = true
			got++
		}
	}
}
