package wal_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/wal"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("WAL_CRASH_CHILD") != "" {
		crashChild(os.Getenv("WAL_CRASH_CHILD"))
		return
	}
	goleak.VerifyTestMain(m)
}

func replayAll(t *testing.T, path string) [][]byte {
	t.Helper()
	var got [][]byte
	l, err := wal.Open(path, func(rec []byte) error {
		got = append(got, bytes.Clone(rec))
		return nil
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return got
}

func TestConcurrentAppendsAreReplayedInOrderOfTheirBatches(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	l := mustOpen(t, path)
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				b, err := l.Append(fmt.Appendf(nil, "%d/%d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				if err := b.Wait(t.Context()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := replayAll(t, path)
	if len(got) != writers*each {
		t.Fatalf("replayed %d records, want %d", len(got), writers*each)
	}
	next := make([]int, writers) // each writer's records come back in its order
	for _, rec := range got {
		var w, i int
		if _, err := fmt.Sscanf(string(rec), "%d/%d", &w, &i); err != nil {
			t.Fatalf("record %q: %v", rec, err)
		}
		if i != next[w] {
			t.Fatalf("writer %d: record %d after %d", w, i, next[w]-1)
		}
		next[w]++
	}
}

func TestAbandonKeepsAcknowledgedRecordsOnly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	l := mustOpen(t, path)
	for i := range 10 {
		appendDurable(t, l, []byte{byte(i)})
	}
	if err := l.Abandon(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append([]byte{99}); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("Append after Abandon: %v, want ErrClosed", err)
	}
	got := replayAll(t, path)
	if len(got) != 10 {
		t.Fatalf("replayed %d records, want the 10 acknowledged", len(got))
	}
	for i, rec := range got {
		if len(rec) != 1 || rec[0] != byte(i) {
			t.Fatalf("record %d = %v", i, rec)
		}
	}
}

func TestCloseWritesPendingRecords(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	l := mustOpen(t, path)
	b, err := l.Append([]byte("pending"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(t.Context()); err != nil {
		t.Fatalf("Wait after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := replayAll(t, path); len(got) != 1 || string(got[0]) != "pending" {
		t.Fatalf("replayed %q", got)
	}
}

func TestTornTailIsTruncatedAndAppendsContinue(t *testing.T) {
	t.Parallel()
	for name, tail := range map[string][]byte{
		"short header":  {5, 0, 0},
		"short payload": {5, 0, 0, 0, 1, 2, 3, 4, 'a', 'b'},
		"bad checksum":  {1, 0, 0, 0, 1, 2, 3, 4, 'a'},
		"zero filled":   make([]byte, 64),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "log")
			writeRecords(t, path, "one", "two")
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(tail); err != nil {
				t.Fatal(err)
			}
			f.Close()
			writeRecords(t, path, "three")
			got := replayAll(t, path)
			if want := "[one two three]"; fmt.Sprintf("%s", got) != want {
				t.Fatalf("replayed %s, want %s", got, want)
			}
		})
	}
}

func TestBadRecordBeforeValidDataIsCorruption(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	writeRecords(t, path, "one", "two", "three")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[8] ^= 0xff // first payload byte
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = wal.Open(path, nil)
	if !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
}

func TestReplayErrorStopsOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	writeRecords(t, path, "one")
	boom := errors.New("boom")
	if _, err := wal.Open(path, func([]byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Open: %v, want the replay error", err)
	}
}

func TestTooLargeRecordIsRefused(t *testing.T) {
	t.Parallel()
	l := openClosedAtCleanup(t)
	if _, err := l.Append(make([]byte, wal.MaxRecordSize+1)); !errors.Is(err, wal.ErrTooLarge) {
		t.Fatalf("Append: %v, want ErrTooLarge", err)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	t.Parallel()
	l := openClosedAtCleanup(t)
	b, err := l.Append([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Wait(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v", err)
	}
}

func mustOpen(t *testing.T, path string) *wal.Log {
	t.Helper()
	l, err := wal.Open(path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// openClosedAtCleanup opens a new log that the test's cleanup closes.
func openClosedAtCleanup(t *testing.T) *wal.Log {
	t.Helper()
	l := mustOpen(t, filepath.Join(t.TempDir(), "log"))
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// appendDurable appends rec and waits until it is durable.
func appendDurable(t *testing.T, l *wal.Log, rec []byte) {
	t.Helper()
	b, err := l.Append(rec)
	if err == nil {
		err = b.Wait(t.Context())
	}
	if err != nil {
		t.Fatalf("appending %q: %v", rec, err)
	}
}

func writeRecords(t *testing.T, path string, recs ...string) {
	t.Helper()
	l := mustOpen(t, path)
	for _, r := range recs {
		if _, err := l.Append([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSIGKILLLosesNoAcknowledgedRecord runs a child process that appends
// records from several goroutines and prints each one's number once Wait
// returned; it is killed with SIGKILL mid-stream, and every number it
// printed must be in the log.
func TestSIGKILLLosesNoAcknowledgedRecord(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "WAL_CRASH_CHILD="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[string]bool{}
		sc := bufio.NewScanner(out)
		for sc.Scan() && len(acked) < 300 {
			acked[sc.Text()] = true
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for sc.Scan() { // lines written before the kill landed
			acked[sc.Text()] = true
		}
		_ = cmd.Wait()
		if len(acked) < 300 {
			t.Fatalf("round %d: child acknowledged only %d records", round, len(acked))
		}
		inLog := map[string]bool{}
		for _, rec := range replayAll(t, path) {
			inLog[string(rec)] = true
		}
		for id := range acked {
			if !inLog[id] {
				t.Fatalf("round %d: acknowledged record %s is not in the log", round, id)
			}
		}
		t.Logf("round %d: %d acknowledged, %d in the log", round, len(acked), len(inLog))
	}
}

func crashChild(path string) {
	l, err := wal.Open(path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	pid := strconv.Itoa(os.Getpid())
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("%s-%d-%d", pid, g, i)
				b, err := l.Append([]byte(id))
				if err == nil {
					err = b.Wait(context.Background())
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintln(w, id)
				if err := w.Flush(); err != nil {
					os.Exit(2) // the parent stopped reading
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Minute) // killed long before
	os.Exit(3)
}

// BenchmarkGroupCommit measures 1 KiB appends acknowledged (Wait returned)
// per second with one writer and with 16 and 64 writers per GOMAXPROCS,
// and the records each fsync made durable.
func BenchmarkGroupCommit(b *testing.B) {
	rec := make([]byte, 1024)
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("perProc=%d", writers), func(b *testing.B) {
			l, err := wal.Open(filepath.Join(b.TempDir(), "log"), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := l.Close(); err != nil {
					b.Error(err)
				}
			})
			batches := map[*wal.Batch]bool{}
			var mu sync.Mutex
			if writers == 1 {
				b.SetParallelism(1)
				runtime.GOMAXPROCS(1)
				defer runtime.GOMAXPROCS(runtime.NumCPU())
			} else {
				b.SetParallelism(writers)
			}
			b.SetBytes(int64(len(rec)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bt, err := l.Append(rec)
					if err != nil {
						b.Fatal(err)
					}
					mu.Lock()
					batches[bt] = true
					mu.Unlock()
					if err := bt.Wait(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/float64(len(batches)), "records/fsync")
		})
	}
}

func TestSyncWaitsForEverythingAppendedBefore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	l := mustOpen(t, path)
	if err := l.Sync(t.Context()); err != nil {
		t.Fatalf("Sync on an empty log: %v", err)
	}
	var batches []*wal.Batch
	for i := range 50 {
		b, err := l.Append([]byte{byte(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, b := range batches {
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // already durable: Wait must not need to block
		if err := b.Wait(ctx); err != nil {
			t.Fatalf("record %d not durable after Sync: %v", i, err)
		}
	}
	if err := l.Abandon(); err != nil {
		t.Fatal(err)
	}
	if got := replayAll(t, path); len(got) != 50 {
		t.Fatalf("replayed %d records after Sync and a crash, want 50", len(got))
	}
}

func TestCompactReplacesTheLogWithTheSnapshot(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	l := mustOpen(t, path)
	for _, r := range []string{"a", "b", "c"} {
		if _, err := l.Append([]byte(r)); err != nil { // pending, not waited for
			t.Fatal(err)
		}
	}
	err := l.Compact(func(emit func([]byte) error) error {
		return emit([]byte("abc"))
	})
	if err != nil {
		t.Fatalf("Compact: %v", err)
	}
	appendDurable(t, l, []byte("d"))
	if err := l.Abandon(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s", replayAll(t, path)); got != "[abc d]" {
		t.Fatalf("replayed %s, want [abc d]", got)
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

func TestFailedCompactKeepsTheOldLog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	l := mustOpen(t, path)
	if _, err := l.Append([]byte("a")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := l.Compact(func(emit func([]byte) error) error {
		if err := emit([]byte("partial")); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Compact: %v, want the snapshot's error", err)
	}
	appendDurable(t, l, []byte("b"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s", replayAll(t, path)); got != "[a b]" {
		t.Fatalf("replayed %s, want [a b]", got)
	}
}

func TestCompactWhileWritersAppend(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	l := mustOpen(t, path)
	// Writers append "w/i" after each compaction has started; the snapshot
	// is a marker. Every acknowledged record appended after the last
	// compaction returned must survive, and the log must stay readable.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var afterLast []string
	compacted := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-compacted:
					id := fmt.Sprintf("%d/%d", w, i)
					b, err := l.Append([]byte(id))
					if err == nil {
						err = b.Wait(t.Context())
					}
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					afterLast = append(afterLast, id)
					mu.Unlock()
					return
				default:
				}
				b, err := l.Append(fmt.Appendf(nil, "%d/%d", w, i))
				if err == nil {
					err = b.Wait(t.Context())
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 5 {
		if err := l.Compact(func(emit func([]byte) error) error { return emit([]byte("snapshot")) }); err != nil {
			t.Fatal(err)
		}
	}
	close(compacted)
	wg.Wait()
	if err := l.Abandon(); err != nil {
		t.Fatal(err)
	}
	got := replayAll(t, path)
	seen := map[string]bool{}
	for _, r := range got {
		seen[string(r)] = true
	}
	if !seen["snapshot"] {
		t.Fatal("snapshot record missing")
	}
	for _, id := range afterLast {
		if !seen[id] {
			t.Fatalf("record %s acknowledged after the last compaction is missing", id)
		}
	}
}

// TestCompactLiveKeepsWhatIsAppendedMeanwhile: writers go on appending
// while the snapshot is built; every record appended after the snapshot
// began must follow it in the new log, acknowledged as usual.
func TestCompactLiveKeepsWhatIsAppendedMeanwhile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	l := mustOpen(t, path)
	var snapping atomic.Bool
	var mu sync.Mutex
	must := map[string]bool{} // appended after the snapshot began
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				after := snapping.Load()
				id := fmt.Sprintf("%d/%d", w, i)
				appendDurable(t, l, []byte(id))
				if after {
					mu.Lock()
					must[id] = true
					mu.Unlock()
				}
			}
		})
	}
	err := l.CompactLive(func(emit func([]byte) error) error {
		snapping.Store(true)
		time.Sleep(30 * time.Millisecond) // writers keep appending
		return emit([]byte("snapshot"))
	})
	if err != nil {
		t.Fatalf("CompactLive: %v", err)
	}
	time.Sleep(10 * time.Millisecond)
	close(done)
	wg.Wait()
	if size := l.Size(); size <= 0 {
		t.Fatalf("Size after compaction %d", size)
	}
	if err := l.Abandon(); err != nil {
		t.Fatal(err)
	}
	got := replayAll(t, path)
	if len(got) == 0 || string(got[0]) != "snapshot" {
		t.Fatalf("the new log does not start with the snapshot: %q", got[:min(3, len(got))])
	}
	inLog := map[string]bool{}
	for _, r := range got[1:] {
		inLog[string(r)] = true
	}
	if len(must) == 0 {
		t.Fatal("no record was appended while the snapshot was built: the test proved nothing")
	}
	for id := range must {
		if !inLog[id] {
			t.Fatalf("record %s, appended during the compaction, is missing", id)
		}
	}
	noCompactionLeftovers(t, path)
}

// TestOpenAfterACompactionCutShort: a crash during a running compaction
// leaves the old log, the side file with what was appended since, and a
// partial snapshot. Open reads the old log then the side file, drops the
// partial snapshot, and appends continue.
func TestOpenAfterACompactionCutShort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	writeRecords(t, path, "old-1", "old-2")
	writeRecords(t, path+".next", "next-1", "next-2")
	if err := os.WriteFile(path+".compact", []byte{9, 0, 0, 0, 1, 2}, 0o600); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, path)
	appendDurable(t, l, []byte("after"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s", replayAll(t, path)); got != "[old-1 old-2 next-1 next-2 after]" {
		t.Fatalf("replayed %s", got)
	}
	noCompactionLeftovers(t, path)
}

// noCompactionLeftovers fails the test if a compaction's side file or
// partial snapshot is left next to the log at path.
func noCompactionLeftovers(t *testing.T, path string) {
	t.Helper()
	for _, f := range []string{path + ".next", path + ".compact"} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left behind: %v", f, err)
		}
	}
}

// TestSyncAfterAFailedWriteReportsTheFailure: once a write failed, the log
// refuses appends, and a Sync or Barrier after them must report the
// failure rather than nothing-to-wait-for, or the caller would acknowledge
// a change that is not on disk.
func TestSyncAfterAFailedWriteReportsTheFailure(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, filepath.Join(t.TempDir(), "log"))
	t.Cleanup(func() { _ = l.Close() }) // reports the write's failure
	ctx := context.Background()
	if _, err := l.Append([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := wal.CloseFile(l); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(ctx); err == nil {
		t.Fatal("Sync of a failed write: nil")
	}
	if _, err := l.Append([]byte("refused")); err == nil {
		t.Fatal("Append after a failed write: nil")
	}
	if err := l.Sync(ctx); err == nil {
		t.Fatal("Sync after a refused append: nil; want the write's failure")
	}
	b := l.Barrier()
	if b == nil {
		t.Fatal("Barrier after a failed write: nil; want a batch that reports the failure")
	}
	if err := b.Wait(ctx); err == nil {
		t.Fatal("Barrier's Wait after a failed write: nil")
	}
}
