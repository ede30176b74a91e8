package servicebus

import (
	"context"
	"time"
)

// Crash stops s as a crash would: the write-ahead log is dropped without
// writing what was not yet acknowledged, then the server stops. Tests only.
func Crash(s *Server) error {
	if s.wal != nil {
		if err := s.wal.Abandon(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Stop(ctx)
}

// SetCompactGrowth sets how much the write-ahead log grows before the
// running compaction (checked each second) rewrites it. Tests only.
func SetCompactGrowth(s *Server, n int64) { s.compactGrowth.Store(n) }

// Compactions is the number of compactions s made while running. Tests only.
func Compactions(s *Server) int64 { return s.compactions.Load() }

// BreakLog closes s's write-ahead log under it, as a failed disk would
// make it refuse appends. Tests only.
func BreakLog(s *Server) error { return s.wal.Abandon() }

// Failed reports whether s failed stop after a log failure. Tests only.
func Failed(s *Server) bool { return s.failed.Load() }

// Evict brings the stored bytes s keeps in memory within Config.HotBytes at
// once, as its loop does ten times a second; it returns the bytes in
// memory before and after. Tests only.
func Evict(s *Server) (before, after int64) { return s.evict() }

// CompactNow compacts s's write-ahead log while it serves, as the running
// compaction does. Tests only.
func CompactNow(s *Server) error { return s.wal.CompactLiveAt(s.snapshotAt) }
