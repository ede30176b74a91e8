package servicebus

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/wal"
)

// walFile is the write-ahead log's name in Config.DataDir.
const walFile = "journal.wal"

// compactCheck is how often the running compaction looks at the log: it
// compacts once the log has grown by Config.CompactGrowth since its last
// compaction and is more than twice the size it had then, so the log stays
// within about twice the live data plus CompactGrowth.
const compactCheck = time.Second

// compactLoop compacts the log while the server runs (see compactCheck).
func (s *Server) compactLoop() {
	tick := time.NewTicker(compactCheck)
	defer tick.Stop()
	base := s.wal.Size()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		size := s.wal.Size()
		if size-base < s.compactGrowth.Load() || size < 2*base {
			continue
		}
		start := time.Now()
		if err := s.wal.CompactLiveAt(s.snapshotAt); err != nil {
			s.failStop(fmt.Errorf("compacting the write-ahead log: %w", err))
			return
		}
		base = s.wal.Size()
		s.compactions.Add(1)
		s.log.Info("write-ahead log compacted", "from", size, "to", base, "took", time.Since(start))
	}
}

// journal adapts the write-ahead log to the broker's Journal: records are
// appended to the current group-commit batch, and whoever acknowledges
// them to a client waits for durability with Server.durable. Its logs are
// set while the broker's timers may already run, hence atomics.
type journal struct {
	// log takes appends: nil until recovery is over (the broker journals
	// nothing before).
	log atomic.Pointer[wal.Log]
	// read is the log cold messages are read back from: set as soon as it
	// is open, as recovery's end and the start's compaction read back the
	// messages recovered cold. Appends wait for log: one made during the
	// start's compaction (a timer's) would wait for the compaction, which
	// waits for the entity lock the appender holds.
	read atomic.Pointer[wal.Log]
	fail func(error)
}

// Append is called with an entity's lock held: fail only starts the
// fail-stop.
func (j *journal) Append(rec []byte) error {
	l := j.log.Load()
	if l == nil {
		return fmt.Errorf("journal not open: %w", wal.ErrClosed)
	}
	_, err := l.Append(rec)
	if err != nil {
		j.fail(fmt.Errorf("appending to the write-ahead log: %w", err))
	}
	return err
}

// AppendAt is Append returning the record's position (broker.ColdLog).
func (j *journal) AppendAt(rec []byte) (uint64, error) {
	l := j.log.Load()
	if l == nil {
		return 0, fmt.Errorf("journal not open: %w", wal.ErrClosed)
	}
	_, pos, err := l.AppendAt(rec)
	if err != nil {
		j.fail(fmt.Errorf("appending to the write-ahead log: %w", err))
	}
	return uint64(pos), err
}

// ReadableMark tells which positions the broker may evict (broker.ColdLog).
func (j *journal) ReadableMark() func(uint64) bool {
	l := j.log.Load()
	if l == nil {
		return func(uint64) bool { return false }
	}
	readable := l.ReadableMark()
	return func(p uint64) bool { return readable(wal.Pos(p)) }
}

// ReadAt reads a cold message's record back (broker.ColdLog); a failure is
// the log's: the server fails stop.
func (j *journal) ReadAt(pos uint64) ([]byte, error) {
	l := j.read.Load()
	if l == nil {
		return nil, fmt.Errorf("journal not open: %w", wal.ErrClosed)
	}
	rec, err := l.ReadAt(wal.Pos(pos))
	if err != nil {
		j.fail(fmt.Errorf("reading back from the write-ahead log: %w", err))
	}
	return rec, err
}

// Fail is a record read back that is not the one expected (broker.ColdLog).
func (j *journal) Fail(err error) {
	if l := j.read.Load(); l != nil {
		l.Fail(err)
	}
	j.fail(fmt.Errorf("reading back from the write-ahead log: %w", err))
}

// snapshotAt is the broker's snapshot for a compaction of the log: every
// stored message's position becomes its snapshot record's.
func (s *Server) snapshotAt(emit func(rec []byte) (wal.Pos, error)) error {
	return s.broker.SnapshotAt(func(rec []byte) (uint64, error) {
		p, err := emit(rec)
		return uint64(p), err
	})
}

// evictCheck is how often the bytes of stored messages in memory are
// brought back under Config.HotBytes.
const evictCheck = 100 * time.Millisecond

// evictLoop keeps the stored messages' bytes in memory within
// Config.HotBytes while the server runs.
func (s *Server) evictLoop() {
	tick := time.NewTicker(evictCheck)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
			s.evict()
		}
	}
}

// evict drops stored bytes past Config.HotBytes from memory (none with -1).
func (s *Server) evict() (before, after int64) {
	if s.cfg.HotBytes < 0 {
		return 0, 0
	}
	return s.broker.Evict(s.cfg.HotBytes)
}

// failStop stops serving AMQP once the write-ahead log failed: the broker's
// memory is then ahead of the disk (a change whose record was refused is
// applied in memory, and its client is told it failed), so the emulator
// closes every AMQP connection with amqp:internal-error, accepts no new one
// and reports unhealthy, rather than deliver what the client was told was
// rejected or lose it at the next start. A restart recovers the durable
// state. Called at most once in effect; it never blocks (the journal calls
// it under an entity's lock).
func (s *Server) failStop(err error) {
	s.failOnce.Do(func() {
		s.failed.Store(true)
		s.log.Error("write-ahead log failed: the emulator stops serving AMQP (fail-stop); restart it to recover", "err", err)
		if !s.track(1) {
			return // stopping anyway
		}
		go func() {
			defer s.wg.Done()
			for _, ln := range []net.Listener{s.ln, s.amqpsLn} {
				if ln != nil {
					_ = ln.Close()
				}
			}
			s.mu.Lock()
			conns := make([]*conn, 0, len(s.conns))
			for c := range s.conns {
				conns = append(conns, c)
			}
			s.mu.Unlock()
			for _, c := range conns {
				c.shutdown(&connError{Condition: CondInternalError, Description: "the emulator's write-ahead log failed: " + err.Error()})
			}
		}()
	})
}

// recover opens the log in dir, rebuilds the broker's messages from it and
// replaces it with a snapshot of the rebuilt state, which is the log's
// compaction: the log holds what changed since the last start. Messages
// past Config.HotBytes are recovered cold (their log positions only), so
// the memory recovery needs is about that of the server after it; jr reads
// them back from the log as soon as it is open, for Finish and the
// snapshot. A failed read-back fails the start (the log refuses the
// compaction), leaving the log as it was.
func (s *Server) recover(dir string, r *broker.Recovery, jr *journal) (*wal.Log, error) {
	start := time.Now()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		r.Finish()
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	if s.cfg.HotBytes > 0 {
		r.SetHotBytes(s.cfg.HotBytes)
	}
	wl, err := wal.OpenAt(filepath.Join(dir, walFile), func(rec []byte, p wal.Pos) error {
		return r.ApplyAt(rec, uint64(p))
	})
	if err != nil {
		r.Finish()
		return nil, fmt.Errorf("recovering from %s: %w", dir, err)
	}
	jr.read.Store(wl)
	st := r.Finish()
	if err := wl.CompactAt(s.snapshotAt); err != nil {
		_ = wl.Close() // the compaction's error is the one to report
		return nil, fmt.Errorf("compacting the log in %s: %w", dir, err)
	}
	// Decoding the log made garbage about the size of the log; give it back
	// to the system now rather than keep it as the process's high-water mark.
	debug.FreeOSMemory()
	s.log.Info("recovered from the write-ahead log", "dir", dir, "messages", st.Messages,
		"lockedAtCrash", st.Locked, "orphans", st.Orphans, "took", time.Since(start))
	return wl, nil
}

// afterDurable calls then once every change made so far is on disk (at
// once without DataDir), from another goroutine when it has to wait, so
// that a connection's read loop goes on while the fsync runs and the
// acknowledgements of many clients share it.
func (s *Server) afterDurable(then func(error)) {
	if err := s.failedErr(); err != nil {
		then(err)
		return
	}
	var b *wal.Batch
	if s.wal != nil {
		b = s.wal.Barrier()
	}
	if b == nil {
		then(nil)
		return
	}
	s.wg.Go(func() {
		if err := b.Wait(s.ctx); err != nil {
			if s.ctx.Err() == nil {
				s.failStop(err)
			}
			then(fmt.Errorf("making the change durable: %w", err))
			return
		}
		then(nil)
	})
}

// durable waits until every change made so far is on disk, so that the
// acknowledgement the caller is about to send cannot be lost by a crash.
// Without DataDir it returns at once.
func (s *Server) durable() error {
	if s.wal == nil {
		return nil
	}
	if err := s.failedErr(); err != nil {
		return err
	}
	if err := s.wal.Sync(s.ctx); err != nil {
		if s.ctx.Err() == nil {
			s.failStop(err)
		}
		return fmt.Errorf("making the change durable: %w", err)
	}
	return nil
}

// failedErr is the error of every acknowledgement after a fail-stop: a
// record the log refused (too large, say) leaves nothing to wait for, yet
// the change is not durable.
func (s *Server) failedErr() error {
	if s.failed.Load() {
		return fmt.Errorf("making the change durable: %w", ErrLogFailed)
	}
	return nil
}
