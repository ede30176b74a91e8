package broker

import "sync"

// slab hands out the stored forms of a queue's or topic's messages
// (entry.data) from shared chunks. A stored form of 1 KiB of body is a
// little over 1 KiB, which Go's allocator would round up to its next size
// class (1,152 bytes: 7% more); cut from a chunk it costs its exact size.
// The price: a chunk is freed only when none of its messages is stored any
// more, so a message that stays (deferred, say) while the ones sent with
// it are consumed keeps up to a chunk alive. Messages of one entity tend
// to be consumed in the order they were sent, so chunks are freed whole;
// the chunk is small enough for what one message can pin not to matter.
type slab struct {
	mu   sync.Mutex
	free []byte // the unused tail of the current chunk
}

const (
	// slabChunk is a multiple of the allocator's page (8 KiB), so a chunk
	// wastes nothing either.
	slabChunk = 32 << 10
	// slabMax is the largest stored form cut from a chunk; larger ones get
	// an allocation of their own (their rounding is small relative to
	// their size), as does everything when s is nil.
	slabMax = slabChunk / 8
)

// copyOf returns a copy of b with no spare capacity: appending to it
// cannot write over a neighbour.
func (s *slab) copyOf(b []byte) []byte {
	if s == nil || len(b) > slabMax {
		return append(make([]byte, 0, len(b)), b...)
	}
	s.mu.Lock()
	if len(s.free) < len(b) {
		s.free = make([]byte, slabChunk)
	}
	c := s.free[:len(b):len(b)]
	s.free = s.free[len(b):]
	s.mu.Unlock()
	copy(c, b)
	return c
}
