package wal_test

import (
	"context"
	"errors"
	"fmt"
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
