package wal_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/wal"
)

// keyed is what a caller of ReadAt keeps: a position per key, replaced by a
// compaction's snapshot under the same lock readers take.
type keyed struct {
	mu  sync.Mutex
	pos map[int]wal.Pos
}

func (k *keyed) read(t *testing.T, l *wal.Log, key int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p, ok := k.pos[key]
	if !ok {
		return
	}
	rec, err := l.ReadAt(p)
	if err != nil {
		t.Errorf("ReadAt(%v) for %d: %v", p, key, err)
		return
	}
	if string(rec) != fmt.Sprintf("record %d", key) {
		t.Errorf("ReadAt(%v) for %d gave %q", p, key, rec)
	}
}

// TestReadAtAcrossLiveCompactions reads records back by position while live
// compactions rewrite them (the snapshot replacing each position under the
// readers' lock) and appends go to the side file, whose positions stay
// readable after the merge; a position of a file a compaction replaced is
// ErrUnreadable, never other bytes.
func TestReadAtAcrossLiveCompactions(t *testing.T) {
	t.Parallel()
	l := openClosedAtCleanup(t)
	k := &keyed{pos: map[int]wal.Pos{}}
	appendKey := func(key int) {
		_, p, err := l.AppendAt(fmt.Appendf(nil, "record %d", key))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !l.ReadableMark()(p) {
			t.Errorf("position %v of a synced record is not readable", p)
		}
		k.mu.Lock()
		k.pos[key] = p
		k.mu.Unlock()
	}
	for key := range 200 {
		appendKey(key)
	}
	stale := k.pos[0]

	var wg sync.WaitGroup
	done := make(chan struct{})
	for r := range 3 {
		wg.Go(func() {
			for i := r; ; i = (i + 7) % 300 {
				select {
				case <-done:
					return
				default:
				}
				k.read(t, l, i)
			}
		})
	}
	next := 200
	for range 5 {
		err := l.CompactLiveAt(func(emit func([]byte) (wal.Pos, error)) error {
			// Every position kept is replaced, as the broker's snapshot
			// does; new records go to the side file meanwhile.
			for key, end := 0, next; key < end; key++ {
				if key%10 == 0 {
					appendKey(next)
					next++
				}
				k.mu.Lock()
				p, err := emit(fmt.Appendf(nil, "record %d", key))
				if err == nil {
					k.pos[key] = p
				}
				k.mu.Unlock()
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if mark := l.ReadableMark(); !mark(k.pos[next-1]) {
			t.Errorf("a record appended during the compaction is not readable after it")
		}
	}
	close(done)
	wg.Wait()
	for key := range next {
		k.read(t, l, key)
	}
	if _, err := l.ReadAt(stale); !errors.Is(err, wal.ErrUnreadable) {
		t.Fatalf("ReadAt of a position in a replaced file: %v, want ErrUnreadable", err)
	}
}

// TestFailedReadBackStopsAppends: a record that cannot be read back is a
// log failure, like a failed write: appends are refused and Sync reports
// it, so nothing after it is acknowledged.
func TestFailedReadBackStopsAppends(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, filepath.Join(t.TempDir(), "log"))
	_, p, err := l.AppendAt([]byte("record"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := wal.CloseFile(l); err != nil { // the disk goes away under the log
		t.Fatal(err)
	}
	if _, err := l.ReadAt(p); err == nil {
		t.Fatal("ReadAt from a closed file succeeded")
	}
	if _, err := l.Append([]byte("after")); err == nil {
		t.Fatal("Append after a failed read-back succeeded")
	}
	if err := l.Sync(context.Background()); err == nil {
		t.Fatal("Sync after a failed read-back reported nothing")
	}
	if err := l.Close(); err == nil {
		t.Fatal("Close after a failed read-back reported nothing")
	}
}

// TestOpenAtPositionsReadBackUntilCompacted: the positions OpenAt's replay
// gives read back as the records they were given with, those of a torn
// tail's log and of an unfinished compaction's side file (merged by Open)
// included, and keep doing so while the log's first compaction writes its
// snapshot (a caller's snapshot reads them); after it they are
// ErrUnreadable, never other bytes. A failed read-back then stops the next
// compaction, as a failed write does.
func TestOpenAtPositionsReadBackUntilCompacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	writeRecords(t, path, "old-1", "old-2", "old-3")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{200, 0, 0, 0, 1, 2, 3}); err != nil { // a torn tail
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	writeRecords(t, path+".next", "next-1", "next-2")

	got := map[wal.Pos]string{}
	var order []wal.Pos
	l, err := wal.OpenAt(path, func(rec []byte, p wal.Pos) error {
		if _, dup := got[p]; dup || p == 0 {
			t.Errorf("position %v given twice or zero", p)
		}
		got[p] = string(rec)
		order = append(order, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() }) // reports the failed read-back below
	if len(order) != 5 {
		t.Fatalf("replayed %d records, want 5", len(order))
	}
	readAll := func(when string) {
		for _, p := range order {
			rec, err := l.ReadAt(p)
			if err != nil || string(rec) != got[p] {
				t.Fatalf("%s: ReadAt(%v) = %q, %v; want %q", when, p, rec, err, got[p])
			}
		}
	}
	readAll("after Open")
	appendDurable(t, l, []byte("after"))
	readAll("after an append")

	if err := l.CompactAt(func(emit func([]byte) (wal.Pos, error)) error {
		readAll("during the compaction")
		for _, p := range order {
			if _, err := emit([]byte(got[p])); err != nil {
				return err
			}
		}
		_, err := emit([]byte("after"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range order {
		if rec, err := l.ReadAt(p); !errors.Is(err, wal.ErrUnreadable) {
			t.Fatalf("ReadAt(%v) after the compaction = %q, %v; want ErrUnreadable", p, rec, err)
		}
	}
	if err := l.Compact(func(func([]byte) error) error { return nil }); err == nil {
		t.Fatal("a compaction after a failed read-back succeeded")
	}
}

// TestOpenAtGivesEveryRecordOnceInOrder: OpenAt replays what Open replays,
// and its positions are distinct and increasing.
func TestOpenAtGivesEveryRecordOnceInOrder(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	var want []string
	for i := range 500 {
		want = append(want, fmt.Sprintf("record %d %s", i, make([]byte, i%97)))
	}
	writeRecords(t, path, want...)
	var got []string
	var last wal.Pos
	l, err := wal.OpenAt(path, func(rec []byte, p wal.Pos) error {
		if p <= last {
			t.Errorf("position %v after %v", p, last)
		}
		last = p
		got = append(got, string(rec))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("OpenAt replayed %d records, not those written", len(got))
	}
}
