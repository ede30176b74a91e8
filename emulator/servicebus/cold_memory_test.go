package servicebus

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
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

	receiveColdBacklog(t, srv, n, size)
}

// receiveColdBacklog receives n messages from srv's queue "q" through the
// SDK and fails unless they are messages 0..n-1 of coldBody's, each once
// and byte for byte.
func receiveColdBacklog(t *testing.T, srv *Server, n, size int) {
	t.Helper()
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

// heapPeak is how far the heap rose during a run of peakHeapDuring: live
// is what the collector found live at the end of a cycle (each cycle
// starts once the heap has grown by about what was live at the previous
// one, so a recovery making garbage as it goes runs several), objects
// what the heap held, garbage not yet collected included.
type heapPeak struct{ live, objects uint64 }

// peakHeapDuring returns how far the heap rose above what it was after a
// collection, sampled every millisecond while fn runs.
func peakHeapDuring(fn func()) heapPeak {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	read := func() heapPeak {
		metrics.Read(s)
		return heapPeak{s[0].Value.Uint64(), s[1].Value.Uint64()}
	}
	runtime.GC()
	base := read()
	var mu sync.Mutex
	peak := base
	sample := func() {
		h := read()
		mu.Lock()
		peak.live, peak.objects = max(peak.live, h.live), max(peak.objects, h.objects)
		mu.Unlock()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	sample()
	return heapPeak{peak.live - base.live, peak.objects - base.objects}
}

// TestRecoveryStaysNearHotBytes restarts a durable server on a backlog ten
// times Config.HotBytes: the heap during recovery (the log's replay, the
// rebuild and the start's compaction, which reads cold messages back) grows
// by about the budget and the records, not by the bodies; then every
// message is received through the SDK with every byte as sent. Not
// parallel: it reads the process's heap. RECOVERY_MESSAGES sets the count.
func TestRecoveryStaysNearHotBytes(t *testing.T) {
	n, size := 40000, 1024
	if testing.Short() {
		n = 10000
	}
	if v, err := strconv.Atoi(os.Getenv("RECOVERY_MESSAGES")); err == nil {
		n = v
	}
	hot := int64(n * size / 10)
	dir := filepath.Join(t.TempDir(), "data")
	srv, _, _, err := coldFootprint(dir, n, size, hot)
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		stopErr := srv.Stop(ctx)
		cancel()
		if stopErr != nil {
			t.Fatalf("Stop: %v", stopErr)
		}
	}
	if err != nil {
		t.Fatal(err)
	}

	var took time.Duration
	peak := peakHeapDuring(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		srv, err = Start(ctx, Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", DataDir: dir, HotBytes: hot})
		took = time.Since(start)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()
	stored := int64(n) * int64(size+30) // the stored form of a 1 KiB body with a GUID message-id
	t.Logf("recovered %d queued 1 KiB messages (%d MB stored), HotBytes %d, in %v: live heap peak %.1f MB above the start's (%.0f B per message), heap objects with garbage %.1f MB",
		n, stored>>20, hot, took, float64(peak.live)/(1<<20), float64(peak.live)/float64(n), float64(peak.objects)/(1<<20))
	// What recovery keeps is the budget and a record per message
	// (maxHeapPerColdMessage covers a record, its slot in the fold's map
	// and its slots in the store), the log's reader's and the snapshot's
	// writer's buffers (1 MiB each) and slab chunks' unused tails: 4 MiB
	// of slack. The bodies are ten times the budget.
	if limit := hot + int64(n)*maxHeapPerColdMessage + 4<<20; int64(peak.live) > limit {
		t.Fatalf("the live heap rose by %d bytes during recovery with HotBytes %d, want ≤ %d (the stored backlog is %d)", peak.live, hot, limit, stored)
	}
	receiveColdBacklog(t, srv, n, size)
}
