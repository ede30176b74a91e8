package wal_test

import (
	"bytes"
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/wal"
)

// FuzzRead checks that any file content reads without panicking, that the
// valid prefix Read reports is within the input and reads back as the same
// records, and that truncating to it leaves a log with nothing to drop.
func FuzzRead(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0x30, 0x43, 0xd0, 0xc1, 'a'})    // valid "a"
	f.Add([]byte{1, 0, 0, 0, 0x30, 0x43, 0xd0, 0xc1, 'a', 5}) // torn tail
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 'a', 1, 0, 0, 0})    // bad checksum, data after
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs [][]byte
		off, err := wal.Read(bytes.NewReader(data), func(rec []byte) error {
			recs = append(recs, bytes.Clone(rec))
			return nil
		})
		if off < 0 || off > int64(len(data)) {
			t.Fatalf("offset %d outside 0..%d", off, len(data))
		}
		var again [][]byte
		off2, err2 := wal.Read(bytes.NewReader(data[:off]), func(rec []byte) error {
			again = append(again, bytes.Clone(rec))
			return nil
		})
		if err2 != nil || off2 != off {
			t.Fatalf("valid prefix reads as %d, %v; want %d, nil", off2, err2, off)
		}
		if err == nil && len(again) != len(recs) {
			t.Fatalf("prefix has %d records, the log %d", len(again), len(recs))
		}
		for i := range again {
			if !bytes.Equal(again[i], recs[i]) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}
