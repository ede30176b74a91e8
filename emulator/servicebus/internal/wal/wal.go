package wal

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// MaxRecordSize bounds one record's payload; it also bounds what a corrupt
// length field can make Open allocate.
const MaxRecordSize = 64 << 20

const frameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Log is an open write-ahead log file. Append and Wait are safe for
// concurrent use.
type Log struct {
	f    *os.File
	path string

	mu      sync.Mutex
	cond    *sync.Cond // signals the flusher: a batch has records, or closing
	cur     *Batch     // collecting records
	last    *Batch     // the batch the flusher is writing or wrote last (nil: none yet)
	pausing bool       // Compact: the flusher must not take a new batch
	idle    *sync.Cond // signals Compact: the flusher finished a batch
	closing bool       // Close: flush what is pending, then stop
	abandon bool       // Abandon: stop without writing what is pending
	err     error      // first write or sync error; the log is unusable after it
	written int64      // bytes in the file (Size)
	gen     uint32     // generation of f (Pos)
	end     int64      // offset in f after the last record appended, pending ones included
	synced  int64      // offset in f up to which records are written and synced

	// rmu guards files, the generations ReadAt can read: f's, and while a
	// compaction runs the old file and the snapshot being written.
	rmu     sync.RWMutex
	files   map[uint32]*genFile
	lastGen uint32
	// readErr is the first failed read-back (ReadAt, Fail): the log then
	// refuses appends as after a failed write. Atomic, because a read
	// may fail under mu (a compaction's snapshot reads).
	readErr atomic.Pointer[error]

	done chan struct{} // closed when the flusher has exited
	once sync.Once
}

// Batch is a group of records written with one write and one fsync.
type Batch struct {
	buf  []byte
	done chan struct{} // closed once the batch is durable or failed
	err  error         // set before done is closed
}

// Wait blocks until the batch is durable, failed, or ctx ends.
func (b *Batch) Wait(ctx context.Context) error {
	select { // a durable batch answers even under a done ctx
	case <-b.done:
		return b.err
	default:
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the write-ahead log: %w", ctx.Err())
	}
}

func newBatch() *Batch { return &Batch{done: make(chan struct{})} }

// Open opens (creating it if needed, with mode 0600) the log file at path,
// replays its records in order through replay (which must not keep the
// slice it is given), truncates a torn tail, and starts the group-commit
// writer. replay may be nil. An error from replay stops Open and is
// returned wrapped.
func Open(path string, replay func(rec []byte) error) (*Log, error) {
	if replay == nil {
		return OpenAt(path, nil)
	}
	return OpenAt(path, func(rec []byte, _ Pos) error { return replay(rec) })
}

// OpenAt is Open whose replay also gets each record's position, for ReadAt
// on the Log it returns, so that a caller can keep a position instead of a
// record it may need again. The positions are those of the file opened
// (records of an unfinished live compaction's side file are given the
// positions they get once merged into it); they stay readable until the
// Log's first compaction, which must replace them (as any position from
// before a compaction). They cannot be read during the replay: the Log
// does not exist yet.
func OpenAt(path string, replay func(rec []byte, pos Pos) error) (*Log, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening write-ahead log: %w", err)
	}
	// The file's directory entry must be durable too, or a crash right
	// after creation could lose the whole file.
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	// A compaction cut short leaves its unfinished snapshot (ignored: the
	// log is complete without it) and maybe the records appended while it
	// ran, in path.next, which follow the log's.
	if err := os.Remove(path + compactSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		f.Close()
		return nil, fmt.Errorf("removing an unfinished compaction: %w", err)
	}
	// An opened log is the first generation; positions are its offsets.
	const gen = 1
	var at func(rec []byte, off int64) error
	if replay != nil {
		at = func(rec []byte, off int64) error { return replay(rec, makePos(gen, off)) }
	}
	end, err := readFrames(f, 0, at)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("replaying %s: %w", path, err)
	}
	if end, err = mergeNext(f, end, path+nextSuffix, at); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(end); err != nil {
		f.Close()
		return nil, fmt.Errorf("truncating the torn tail of %s: %w", path, err)
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seeking in %s: %w", path, err)
	}
	l := &Log{f: f, path: path, cur: newBatch(), done: make(chan struct{}), written: end,
		gen: gen, lastGen: gen, end: end, synced: end, files: map[uint32]*genFile{gen: {f: f}}}
	l.cond = sync.NewCond(&l.mu)
	l.idle = sync.NewCond(&l.mu)
	go l.flusher()
	return l, nil
}

// File names next to the log: a compaction's snapshot being written, and
// the records appended while a running compaction builds it.
const (
	compactSuffix = ".compact"
	nextSuffix    = ".next"
)

// mergeNext replays the records of next (if it exists) after the log's,
// appends them to f at end, syncs f and removes next. A crash after the
// append but before the removal replays them twice at the next start,
// which the journal's records allow (each states a whole state, so
// applying a sequence again ends in the same state). replay gets each
// record's offset in f once merged.
func mergeNext(f *os.File, end int64, next string, replay func(rec []byte, off int64) error) (int64, error) {
	nf, err := os.Open(next)
	if errors.Is(err, os.ErrNotExist) {
		return end, nil
	}
	if err != nil {
		return end, fmt.Errorf("opening %s: %w", next, err)
	}
	defer nf.Close()
	n, err := readFrames(nf, end, replay)
	if err != nil {
		return end, fmt.Errorf("replaying %s: %w", next, err)
	}
	if err := f.Truncate(end); err != nil {
		return end, fmt.Errorf("truncating before merging %s: %w", next, err)
	}
	if _, err := nf.Seek(0, io.SeekStart); err != nil {
		return end, err
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return end, err
	}
	if _, err := io.CopyN(f, nf, n); err != nil {
		return end, fmt.Errorf("merging %s: %w", next, err)
	}
	if err := fdatasync(f); err != nil {
		return end, fmt.Errorf("syncing after merging %s: %w", next, err)
	}
	if err := os.Remove(next); err != nil {
		return end, fmt.Errorf("removing %s: %w", next, err)
	}
	return end + n, syncDir(filepath.Dir(next))
}

// Read replays the records of r in order through fn (which must not keep
// the slice) and returns the offset just after the last valid record. A
// torn tail (a short or failing last record with nothing after it) ends the
// log without error; a failing record with more data after it is
// ErrCorrupt.
func Read(r io.Reader, fn func(rec []byte) error) (int64, error) {
	if fn == nil {
		return readFrames(r, 0, nil)
	}
	return readFrames(r, 0, func(rec []byte, _ int64) error { return fn(rec) })
}

// readFrames is Read whose fn also gets each record's offset plus base
// (where r's first byte is or will be in the log's file).
func readFrames(r io.Reader, base int64, fn func(rec []byte, off int64) error) (int64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var off int64
	var hdr [frameHeader]byte
	var buf []byte
	for {
		n, err := io.ReadFull(br, hdr[:])
		if err == io.EOF {
			return off, nil
		}
		if err != nil { // short header: torn tail
			return off, nil
		}
		size := binary.LittleEndian.Uint32(hdr[0:4])
		sum := binary.LittleEndian.Uint32(hdr[4:8])
		if size == 0 || size > MaxRecordSize {
			return off, tornOrCorrupt(br, off, fmt.Sprintf("record length %d", size))
		}
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(br, buf); err != nil {
			return off, nil // short payload: torn tail
		}
		if crc32.Checksum(buf, castagnoli) != sum {
			return off, tornOrCorrupt(br, off, "checksum mismatch")
		}
		if fn != nil {
			if err := fn(buf, base+off); err != nil {
				return off, fmt.Errorf("record at offset %d: %w", off, err)
			}
		}
		off += int64(n) + int64(size)
	}
}

// tornOrCorrupt decides what a bad record at off is: the torn tail of the
// last batch if nothing but zeros follows it (file systems may extend a
// file with zeros before the data reaches it), corruption otherwise.
func tornOrCorrupt(rest *bufio.Reader, off int64, what string) error {
	for {
		b, err := rest.ReadByte()
		if err != nil {
			return nil
		}
		if b != 0 {
			return fmt.Errorf("%s at offset %d with data after it: %w", what, off, ErrCorrupt)
		}
	}
}

// Append adds rec to the current batch and returns the batch; rec is copied.
// The record is durable once the batch's Wait returns nil.
func (l *Log) Append(rec []byte) (*Batch, error) {
	b, _, err := l.AppendAt(rec)
	return b, err
}

// AppendAt is Append that also returns where the record will be, for
// ReadAt once Readable says the flusher wrote it.
func (l *Log) AppendAt(rec []byte) (*Batch, Pos, error) {
	if len(rec) > MaxRecordSize {
		return nil, 0, fmt.Errorf("record of %d bytes: %w", len(rec), ErrTooLarge)
	}
	if len(rec) == 0 {
		// A zero header would read back as an empty record, so zero-filled
		// tails could not be told from data.
		return nil, 0, fmt.Errorf("empty record: %w", ErrEmpty)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing || l.abandon {
		return nil, 0, ErrClosed
	}
	l.takeReadErr()
	if l.err != nil {
		return nil, 0, l.err
	}
	pos := makePos(l.gen, l.end)
	l.end += frameHeader + int64(len(rec))
	b := l.cur
	b.buf = binary.LittleEndian.AppendUint32(b.buf, uint32(len(rec)))
	b.buf = binary.LittleEndian.AppendUint32(b.buf, crc32.Checksum(rec, castagnoli))
	b.buf = append(b.buf, rec...)
	l.cond.Signal()
	return b, pos, nil
}

// flusher writes and syncs one batch at a time.
func (l *Log) flusher() {
	defer close(l.done)
	for {
		l.mu.Lock()
		for (len(l.cur.buf) == 0 || l.pausing) && !l.closing && !l.abandon {
			l.cond.Wait()
		}
		b := l.cur
		if l.abandon || (l.closing && len(b.buf) == 0) {
			l.mu.Unlock()
			b.err = ErrClosed
			close(b.done)
			return
		}
		l.cur, l.last = newBatch(), b
		f := l.f
		l.mu.Unlock()

		err := write(f, b.buf)
		l.mu.Lock()
		if err != nil {
			err = fmt.Errorf("writing %s: %w", l.path, err)
			l.err = err
		} else {
			l.written += int64(len(b.buf))
			l.synced += int64(len(b.buf))
		}
		b.err = err
		close(b.done)
		l.idle.Broadcast()
		l.mu.Unlock()
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening the log's directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing the log's directory: %w", err)
	}
	return nil
}

func write(f *os.File, p []byte) error {
	if _, err := f.Write(p); err != nil {
		return err
	}
	return fdatasync(f)
}

// Sync waits until every record appended before the call is durable. It
// is how a caller that made several appends (or does not hold their
// batches) acknowledges them all at once; batches are written in order, so
// the last one is enough.
func (l *Log) Sync(ctx context.Context) error {
	b := l.Barrier()
	if b == nil {
		return nil
	}
	return b.Wait(ctx)
}

// Barrier returns the batch whose durability implies that of every record
// appended before the call (nil when there is nothing to wait for), for
// callers that wait elsewhere than where they appended.
//
// Once a write failed (or the log is closed), appends are refused and
// Barrier returns a batch that reports the failure: the refused records
// are not on disk, and nothing-to-wait-for would acknowledge them.
func (l *Log) Barrier() *Batch {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.takeReadErr()
	if err := l.err; err != nil || l.closing || l.abandon {
		if err == nil {
			err = ErrClosed
		}
		b := &Batch{done: make(chan struct{}), err: err}
		close(b.done)
		return b
	}
	if len(l.cur.buf) > 0 {
		return l.cur
	}
	if l.last != nil && !isDone(l.last) {
		return l.last
	}
	return nil
}

// Compact replaces the log with a snapshot: the records snapshot gives to
// emit, which must stand for every record appended so far (the caller
// keeps appends out, or includes them, while it runs). It flushes what is
// pending, writes the snapshot to a temporary file, syncs it and renames it
// over the log, so a crash at any point leaves either the old log or the
// new one. Appends wait meanwhile. An error leaves the old log in use.
func (l *Log) Compact(snapshot func(emit func(rec []byte) error) error) error {
	return l.CompactAt(func(emit func(rec []byte) (Pos, error)) error {
		return snapshot(dropPos(emit))
	})
}

// CompactAt is Compact whose emit returns each snapshot record's position,
// readable with ReadAt at once. Once it returned nil, the positions of the
// log's previous file are no longer readable: the caller must have
// replaced every position it keeps (by the snapshot's).
func (l *Log) CompactAt(snapshot func(emit func(rec []byte) (Pos, error)) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.resume()
	// The old log is complete before it is replaced.
	if err := l.pause(); err != nil {
		return err
	}
	tmp := l.path + compactSuffix
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("creating the compacted log: %w", err)
	}
	w, gen := l.building(f)
	err = snapshot(w.emit)
	if err == nil {
		err = w.flush()
	}
	if err == nil {
		err = fdatasync(f)
	}
	if err == nil {
		err = os.Rename(tmp, l.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(l.path))
	}
	if err != nil {
		// The old log stays in use; a left-over temporary file is only
		// untidy (Open removes it), so its removal's error goes with the
		// cause.
		l.dropGen(gen)
		return fmt.Errorf("compacting %s: %w", l.path, errors.Join(err, os.Remove(tmp)))
	}
	size := w.size()
	l.f, l.written, l.end, l.synced = f, size, size, size
	if _, err := f.Seek(size, io.SeekStart); err != nil { // appends go on after the snapshot
		return err
	}
	return l.switchTo(gen, nil)
}

// dropPos adapts a positioned emit to the plain one.
func dropPos(emit func(rec []byte) (Pos, error)) func(rec []byte) error {
	return func(rec []byte) error {
		_, err := emit(rec)
		return err
	}
}

func isDone(b *Batch) bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// Close writes and syncs what was appended, stops the writer and closes
// the file. Idempotent.
func (l *Log) Close() error {
	return l.stop(false)
}

// Abandon stops the writer and closes the file without writing what is
// pending, as a crash would; pending Waits get ErrClosed. It exists for
// recovery tests. Idempotent (and after Close, a no-op).
func (l *Log) Abandon() error {
	return l.stop(true)
}

func (l *Log) stop(abandon bool) error {
	var err error
	l.once.Do(func() {
		l.mu.Lock()
		if abandon {
			l.abandon = true
		} else {
			l.closing = true
		}
		l.cond.Signal()
		l.mu.Unlock()
		<-l.done
		l.mu.Lock()
		werr := l.err
		l.mu.Unlock()
		err = errors.Join(werr, l.closeFiles())
	})
	return err
}

// Size returns the bytes written to the log file since it was opened or
// last compacted, for deciding when to compact.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.written
}

// drain writes the pending batch into the current file once the flusher
// is idle; mu is held and pausing set, so the flusher takes nothing new.
func (l *Log) drain() error {
	for l.last != nil && !isDone(l.last) {
		l.idle.Wait()
	}
	if l.closing || l.abandon {
		return ErrClosed
	}
	// A log whose read-back failed is not compacted either: its owner's
	// memory may miss what it could not read, which a snapshot would make
	// the whole log.
	l.takeReadErr()
	if l.err != nil {
		return l.err
	}
	if b := l.cur; len(b.buf) > 0 {
		b.err = write(l.f, b.buf)
		if b.err != nil {
			l.err = fmt.Errorf("writing %s: %w", l.path, b.err)
			b.err = l.err
		} else {
			l.written += int64(len(b.buf))
			l.synced += int64(len(b.buf))
		}
		close(b.done)
		l.cur, l.last = newBatch(), b
		return l.err
	}
	return nil
}

// pause stops the flusher and drains; resume undoes it. Both with mu held.
func (l *Log) pause() error {
	l.pausing = true
	return l.drain()
}

func (l *Log) resume() {
	l.pausing = false
	l.cond.Signal()
}

// CompactLive replaces the log with a snapshot like Compact, but without
// holding appends back while snapshot runs: the snapshot may take the
// caller's locks, under which others append. snapshot is called once
// appends go to a side file, whose records follow the snapshot in the new
// log; it must stand for every record appended before it was called, and
// may include some appended while it runs, provided applying those again
// on top of it ends in the same state (the emulator's records state whole
// states, so they do). A crash at any point leaves the
// log whole: Open replays the old log and the side file, or the new log.
func (l *Log) CompactLive(snapshot func(emit func(rec []byte) error) error) error {
	return l.CompactLiveAt(func(emit func(rec []byte) (Pos, error)) error {
		return snapshot(dropPos(emit))
	})
}

// CompactLiveAt is CompactLive whose emit returns each snapshot record's
// position, readable with ReadAt at once. Positions of records appended
// while it runs stay readable after it; those of the log's previous file
// do not once it returned nil, so snapshot must replace every position the
// caller keeps from before it was called (it is called after the switch to
// the side file, so a record appended before that is in the old file).
func (l *Log) CompactLiveAt(snapshot func(emit func(rec []byte) (Pos, error)) error) error {
	next := l.path + nextSuffix
	nf, err := os.OpenFile(next, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", next, err)
	}
	if err := syncDir(filepath.Dir(next)); err != nil {
		nf.Close()
		return err
	}
	// Switch appends to the side file. The old file stays open for ReadAt
	// until the snapshot replaced the positions in it.
	l.mu.Lock()
	if err := l.pause(); err != nil {
		l.resume()
		l.mu.Unlock()
		return errors.Join(err, nf.Close(), os.Remove(next))
	}
	l.rmu.Lock()
	nextGen := l.nextGen()
	l.files[nextGen] = &genFile{f: nf}
	l.rmu.Unlock()
	l.f, l.gen, l.end, l.synced = nf, nextGen, 0, 0
	l.resume()
	l.mu.Unlock()

	// Build the snapshot while appends go on.
	tmp := l.path + compactSuffix
	cf, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("creating the compacted log: %w", err)
	}
	w, gen := l.building(cf)
	err = snapshot(w.emit)
	if err == nil {
		err = w.flush()
	}

	// Then, with appends held back, add what went to the side file and
	// put the result in place of the log.
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.resume()
	if err == nil {
		err = l.pause()
	}
	base := w.size()
	if err == nil {
		if _, err = nf.Seek(0, io.SeekStart); err == nil {
			err = w.copyFrom(nf)
		}
	}
	if err == nil {
		err = fdatasync(cf)
	}
	if err == nil {
		err = os.Rename(tmp, l.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(l.path))
	}
	if err != nil {
		// The log on disk stays whole (the old file, then the side file,
		// which Open reads), but this Log stops: a further compaction
		// would truncate the side file. Fail-stop, like a failed write.
		// The snapshot's file stays open for ReadAt, which gives only
		// what was written to it.
		err = fmt.Errorf("compacting %s: %w", l.path, errors.Join(err, os.Remove(tmp)))
		if l.err == nil {
			l.err = err
		}
		return err
	}
	size := w.size()
	if _, err := cf.Seek(size, io.SeekStart); err != nil {
		return err
	}
	l.f, l.written, l.end, l.synced = cf, size, size, size
	// The side file's records are now in cf after the snapshot.
	if err := l.switchTo(gen, map[uint32]int64{nextGen: base}); err != nil {
		return err
	}
	if err := os.Remove(next); err != nil {
		return fmt.Errorf("removing %s after compaction: %w", next, err)
	}
	return syncDir(filepath.Dir(l.path))
}
