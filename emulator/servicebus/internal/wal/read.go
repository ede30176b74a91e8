package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
)

// Pos is where a record is in the log, for ReadAt: the generation of the
// file it is in (the log's file changes at each compaction) and its frame's
// offset there. The zero Pos is no position.
type Pos uint64

const posOffBits = 48 // offsets up to 256 TiB; 65,535 generations before they wrap

func makePos(gen uint32, off int64) Pos { return Pos(uint64(gen)<<posOffBits | uint64(off)) }

func (p Pos) gen() uint32 { return uint32(p >> posOffBits) }
func (p Pos) off() int64  { return int64(p & (1<<posOffBits - 1)) }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.gen(), p.off()) }

// genFile is a generation ReadAt can read: an open file, or (the side file
// of a finished live compaction) an alias for a range of another one.
type genFile struct {
	f     *os.File
	w     *frameWriter // the snapshot being written: flushed before a read
	alias uint32       // when not 0, the generation holding this one's records
	base  int64        // ...from this offset
}

// frameWriter writes a snapshot's frames through a buffer that ReadAt
// flushes when it needs what is in it, so a position emit returned is
// readable at once.
type frameWriter struct {
	mu      sync.Mutex
	f       *os.File
	buf     []byte
	flushed int64
}

func (w *frameWriter) emit(rec []byte) (Pos, error) {
	if len(rec) == 0 || len(rec) > MaxRecordSize {
		return 0, fmt.Errorf("snapshot record of %d bytes: %w", len(rec), ErrTooLarge)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	off := w.flushed + int64(len(w.buf))
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(rec)))
	w.buf = binary.LittleEndian.AppendUint32(w.buf, crc32.Checksum(rec, castagnoli))
	w.buf = append(w.buf, rec...)
	if len(w.buf) >= 1<<20 {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
	}
	return Pos(off), nil // the generation is added by building's emit
}

func (w *frameWriter) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.f.Write(w.buf)
	w.flushed += int64(n)
	w.buf = w.buf[:0]
	if err != nil {
		return fmt.Errorf("writing the compacted log: %w", err)
	}
	return nil
}

func (w *frameWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

// copyFrom appends r's bytes (the side file's frames) after the snapshot.
func (w *frameWriter) copyFrom(r io.Reader) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.flushLocked(); err != nil {
		return err
	}
	n, err := io.Copy(w.f, r)
	w.flushed += n
	if err != nil {
		return fmt.Errorf("merging the side file: %w", err)
	}
	return nil
}

// size is the offset after the last frame emitted.
func (w *frameWriter) size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushed + int64(len(w.buf))
}

// building registers f, a snapshot about to be written, as a new
// generation, and returns its writer and generation.
func (l *Log) building(f *os.File) (*positionedWriter, uint32) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	g := l.nextGen()
	w := &frameWriter{f: f, buf: make([]byte, 0, 1<<20)}
	l.files[g] = &genFile{f: f, w: w}
	return &positionedWriter{frameWriter: w, gen: g}, g
}

// positionedWriter is a frameWriter whose emit returns whole positions.
type positionedWriter struct {
	*frameWriter
	gen uint32
}

func (w *positionedWriter) emit(rec []byte) (Pos, error) {
	off, err := w.frameWriter.emit(rec)
	if err != nil {
		return 0, err
	}
	return makePos(w.gen, int64(off)), nil
}

// nextGen numbers a new generation, with rmu held. Numbers wrap after
// 65,535 (a Pos has 16 bits for them); only the last two or three are
// ever open.
func (l *Log) nextGen() uint32 {
	l.lastGen = l.lastGen%(1<<(64-posOffBits)-1) + 1
	return l.lastGen
}

// switchTo makes gen (a finished snapshot, now the log's file) the current
// generation, with mu held: the generations in aliases become ranges of it
// from the given offsets, every other one is closed (the caller replaced
// its positions).
func (l *Log) switchTo(gen uint32, aliases map[uint32]int64) error {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	var errs []error
	for g, gf := range l.files {
		if g == gen {
			gf.w = nil
			continue
		}
		if gf.f != nil {
			errs = append(errs, gf.f.Close())
		}
		delete(l.files, g)
		if base, ok := aliases[g]; ok {
			l.files[g] = &genFile{alias: gen, base: base}
		}
	}
	l.gen = gen
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing the replaced log: %w", err)
	}
	return nil
}

// dropGen forgets a snapshot that failed (its file is closed).
func (l *Log) dropGen(gen uint32) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if gf := l.files[gen]; gf != nil {
		_ = gf.f.Close() // the snapshot's error is what matters
		delete(l.files, gen)
	}
}

func (l *Log) closeFiles() error {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	var errs []error
	for _, gf := range l.files {
		if gf.f != nil {
			errs = append(errs, gf.f.Close())
		}
	}
	clear(l.files) // a compaction still running finds an empty map
	return errors.Join(errs...)
}

// ReadableMark returns a test of whether a position (from AppendAt) is
// readable now: its record was written and synced by the flusher. It is a
// snapshot of the log's state, so that a caller testing many positions
// takes the log's lock once; a position it answers true for stays
// readable until a compaction replaced it. Positions a running compaction
// emitted answer false until it is over.
func (l *Log) ReadableMark() func(Pos) bool {
	l.mu.Lock()
	gen, synced := l.gen, l.synced
	l.mu.Unlock()
	l.rmu.RLock()
	aliases := map[uint32]int64{}
	for g, gf := range l.files {
		if gf.alias == gen {
			aliases[g] = gf.base
		}
	}
	l.rmu.RUnlock()
	return func(p Pos) bool {
		g, off := p.gen(), p.off()
		if base, ok := aliases[g]; ok {
			g, off = gen, base+off
		}
		return p != 0 && g == gen && off < synced
	}
}

// ReadAt returns the payload of the record at p, checked against its
// checksum: p must come from AppendAt (once ReadableMark says so) or a
// compaction's emit. An error (ErrUnreadable, or the system's) means the
// record could not be read back whole; it never returns other bytes. The
// log has then failed: it refuses appends, as after a failed write.
func (l *Log) ReadAt(p Pos) ([]byte, error) {
	rec, err := l.readAt(p)
	if err != nil {
		l.Fail(err)
	}
	return rec, err
}

// Fail makes the log refuse appends (and Barrier and Sync report err) as
// after a failed write: for a caller whose record read back is not what
// it expected. Safe to call anywhere, under a compaction's snapshot too.
func (l *Log) Fail(err error) {
	err = fmt.Errorf("reading back from %s: %w", l.path, err)
	l.readErr.CompareAndSwap(nil, &err)
}

// takeReadErr makes a failed read-back the log's error; mu is held.
func (l *Log) takeReadErr() {
	if p := l.readErr.Load(); p != nil && l.err == nil {
		l.err = *p
	}
}

func (l *Log) readAt(p Pos) ([]byte, error) {
	l.rmu.RLock()
	defer l.rmu.RUnlock()
	g, off := p.gen(), p.off()
	gf := l.files[g]
	if gf != nil && gf.alias != 0 {
		g, off = gf.alias, off+gf.base
		gf = l.files[g]
	}
	if gf == nil || gf.f == nil {
		return nil, fmt.Errorf("record at %v: its file is no longer open: %w", p, ErrUnreadable)
	}
	// One read for the header and, unless the record is large, the
	// payload: a read is a system call, and a compaction of a cold backlog
	// makes one per message.
	ahead := readAheads.Get().(*[frameHeader + readAhead]byte)
	defer readAheads.Put(ahead)
	hdr := ahead[:frameHeader]
	n, err := readSome(gf, ahead[:], off)
	if err == nil && n < frameHeader {
		err = fmt.Errorf("short read: %w", ErrUnreadable)
	}
	if err != nil {
		return nil, fmt.Errorf("record at %v: %w", p, err)
	}
	size := binary.LittleEndian.Uint32(hdr[0:4])
	if size == 0 || size > MaxRecordSize {
		return nil, fmt.Errorf("record at %v: length %d: %w", p, size, ErrUnreadable)
	}
	buf := make([]byte, size)
	got := copy(buf, ahead[frameHeader:n])
	if got < len(buf) {
		if err := readFrom(gf, buf[got:], off+frameHeader+int64(got)); err != nil {
			return nil, fmt.Errorf("record at %v: %w", p, err)
		}
	}
	if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
		return nil, fmt.Errorf("record at %v: checksum mismatch: %w", p, ErrUnreadable)
	}
	return buf, nil
}

// readAhead is how much of a record's payload ReadAt reads with its header.
const readAhead = 4 << 10

var readAheads = sync.Pool{New: func() any { return new([frameHeader + readAhead]byte) }}

// readSome reads what it can of b from gf at off: the file may end before
// b does. From a snapshot being written, it reads the header only (so as
// not to flush its buffer for bytes past the record).
func readSome(gf *genFile, b []byte, off int64) (int, error) {
	if gf.w != nil {
		b = b[:frameHeader]
		return len(b), readFrom(gf, b, off)
	}
	n, err := gf.f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("reading the log: %w", err)
	}
	return n, nil
}

// readFrom fills b from gf at off, flushing a snapshot's buffer first when
// b lies past what it wrote.
func readFrom(gf *genFile, b []byte, off int64) error {
	if w := gf.w; w != nil {
		w.mu.Lock()
		var err error
		if off+int64(len(b)) > w.flushed {
			err = w.flushLocked()
		}
		w.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if _, err := gf.f.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("short read: %w", ErrUnreadable)
		}
		return fmt.Errorf("reading the log: %w", err)
	}
	return nil
}
