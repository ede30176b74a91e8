//go:build unix

package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/wal"
)

// BenchmarkStartup times what a durable server does at start-up: the log's
// recovery (wal.OpenAt with Recovery.ApplyAt, Finish), the start's
// compaction (CompactAt with SnapshotAt) and the first eviction, over a log
// of STARTUP_MESSAGES (default 200,000) 1 KiB messages in one queue, with
// the server's default budget of stored bytes in memory (256 MiB: every
// message hot) or STARTUP_HOT_BYTES (past which messages are recovered
// cold and the compaction reads them back). The log is written once,
// outside the timing; each iteration recovers a copy of it.
func BenchmarkStartup(b *testing.B) {
	n, hot := 200_000, 256<<20
	if s := os.Getenv("STARTUP_MESSAGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	if s := os.Getenv("STARTUP_HOT_BYTES"); s != "" {
		var err error
		if hot, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "src.wal")
	l, err := wal.Open(src, nil)
	if err != nil {
		b.Fatal(err)
	}
	br := New(Config{Journal: &walJournal{l: l}})
	if err := br.CreateQueue(QueueConfig{Name: "q"}); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	for i := 0; i < n; i += 100 {
		msgs := make([]*Message, 0, 100)
		for k := range 100 {
			m := &Message{Body: body, ApplicationProperties: map[string]any{"i": int64(i + k)}}
			m.Properties.MessageID, m.Properties.Present = fmt.Sprintf("m-%d", i+k), PropMessageID
			msgs = append(msgs, m)
		}
		if _, err := br.Send("q", msgs); err != nil {
			b.Fatal(err)
		}
	}
	br.Stop()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	var cpu time.Duration
	for range b.N {
		b.StopTimer()
		path := filepath.Join(dir, "journal.wal")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cpu0 := cpuTime(b)
		j := &walJournal{}
		br := New(Config{Journal: j}) // the queue comes back from its record
		r := br.NewRecovery()
		r.SetHotBytes(int64(hot))
		l, err := wal.OpenAt(path, func(rec []byte, p wal.Pos) error { return r.ApplyAt(rec, uint64(p)) })
		if err != nil {
			b.Fatal(err)
		}
		j.l = l // Finish and the snapshot read cold messages back
		if st := r.Finish(); st.Messages != n {
			b.Fatalf("recovered %d messages, want %d", st.Messages, n)
		}
		if err := l.CompactAt(func(emit func([]byte) (wal.Pos, error)) error {
			return br.SnapshotAt(func(rec []byte) (uint64, error) {
				p, err := emit(rec)
				return uint64(p), err
			})
		}); err != nil {
			b.Fatal(err)
		}
		br.Evict(int64(hot))
		cpu += cpuTime(b) - cpu0
		b.StopTimer()
		br.Stop()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time counts the collector's work too, and is what a loaded
	// machine changes least.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
