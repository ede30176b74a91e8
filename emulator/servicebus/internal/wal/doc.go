// Package wal is an append-only, checksummed write-ahead log file with group
// commit, the storage under the emulator's durable mode. It knows nothing of
// messages: records are opaque byte strings.
//
// # Format
//
// The log is one file. Each record is framed as
//
//	length   uint32, little-endian: payload bytes, 1 to MaxRecordSize
//	checksum uint32, little-endian: CRC-32C (Castagnoli) of the payload
//	payload  length bytes
//
// There is no file header: an empty file is an empty log.
//
// # Durability (group commit)
//
// Append copies a record into the current batch and returns it at once;
// Wait blocks until that batch is on disk. One goroutine writes each batch
// with a single write and a single fdatasync, and releases all the
// batch's waiters together; records appended while a batch is being synced
// go into the next one. So concurrent writers share fsyncs: the cost is one
// fsync per batch, not per record, and a lone writer pays one fsync of
// latency. A record is durable once Wait returned nil for it, never before.
//
// # Recovery
//
// Open reads the whole file and hands each record to the replay function in
// order. A crash can leave a torn tail: a last record cut short or whose
// checksum fails, with nothing valid after it. Such a tail was never
// acknowledged (its batch's fsync did not return), so Open truncates it and
// appends continue from there. A bad record followed by more data is not a
// torn tail: Open refuses the log with ErrCorrupt rather than silently
// dropping what follows.
//
// # Compaction
//
// Compact replaces the log with a snapshot while appends wait; CompactLive
// does it while appends go on, into the side file path.next, whose records
// follow the snapshot in the new log. Open finishes what a crash cut
// short: it drops a partial snapshot (path.compact) and reads path.next
// after the log, merging it in.
//
// # Reading back
//
// AppendAt returns a record's Pos (its file's generation and offset);
// ReadAt reads it back, checked, once ReadableMark says the flusher wrote
// it. CompactAt and CompactLiveAt give each snapshot record's Pos; the
// replaced file stays open until the compaction is over.
package wal
