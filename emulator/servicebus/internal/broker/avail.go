package broker

import "container/heap"

// availIdx values of an entry that is not in availQueue.back.
const (
	notAvailable = -1
	inFIFO       = -2
)

// availQueue holds the available (Active, unlocked) entries of a store in
// sequence-number order. Most entries arrive in increasing order (sends),
// so they go to a FIFO with O(1) push and pop; the few that come back out
// of order (released, abandoned, lock expired) go to a min-heap. The next
// entry is the smaller of the two heads.
//
// Removing an entry from the FIFO is lazy: it is marked notAvailable and
// skipped when it reaches the front. An entry is appended to the FIFO only
// if its sequence number is above the FIFO's last slot (live or stale), so
// it can never have a stale slot ahead of its live one.
type availQueue struct {
	fifo    []*entry
	head    int
	lastSeq int64 // seq of fifo[len-1]; meaningful while head < len(fifo)
	back    availHeap
}

func (q *availQueue) add(e *entry) {
	if e.availIdx != notAvailable {
		return
	}
	if q.head == len(q.fifo) || e.seq > q.lastSeq {
		e.availIdx = inFIFO
		q.fifo = append(q.fifo, e)
		q.lastSeq = e.seq
		return
	}
	heap.Push(&q.back, e)
}

func (q *availQueue) remove(e *entry) {
	switch {
	case e.availIdx == inFIFO:
		e.availIdx = notAvailable
	case e.availIdx >= 0:
		heap.Remove(&q.back, int(e.availIdx))
	}
}

// peek returns the available entry with the lowest sequence number, or nil.
func (q *availQueue) peek() *entry {
	for q.head < len(q.fifo) && q.fifo[q.head].availIdx != inFIFO {
		q.fifo[q.head] = nil
		q.head++
	}
	switch {
	case q.head == len(q.fifo):
		q.fifo, q.head = q.fifo[:0], 0
	case q.head >= 1024 && q.head*2 >= len(q.fifo):
		// Reclaim the consumed prefix; amortized O(1) per entry.
		n := copy(q.fifo, q.fifo[q.head:])
		clear(q.fifo[n:])
		q.fifo, q.head = q.fifo[:n], 0
	}
	var f *entry
	if q.head < len(q.fifo) {
		f = q.fifo[q.head]
	}
	b := q.back.peek()
	if f == nil || (b != nil && b.seq < f.seq) {
		return b
	}
	return f
}

// availHeap is a min-heap by sequence number.
type availHeap []*entry

func (h availHeap) Len() int           { return len(h) }
func (h availHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h availHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].availIdx = int32(i)
	h[j].availIdx = int32(j)
}

func (h *availHeap) Push(x any) {
	e := x.(*entry)
	e.availIdx = int32(len(*h))
	*h = append(*h, e)
}

func (h *availHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.availIdx = notAvailable
	return e
}

func (h availHeap) peek() *entry {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}
