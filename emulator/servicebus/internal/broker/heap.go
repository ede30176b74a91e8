package broker

import (
	"container/heap"
	"time"
)

// timerHeap orders entries by their next deadline (lock expiry, TTL expiry
// or scheduled activation, whichever applies to the entry's state).
type timerHeap []*entry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].deadlineSec == h[j].deadlineSec && h[i].deadlineNsec == h[j].deadlineNsec {
		return h[i].seq < h[j].seq
	}
	return h[i].deadlineBefore(h[j])
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].timerIdx = int32(i)
	h[j].timerIdx = int32(j)
}
func (h *timerHeap) Push(x any) {
	e := x.(*entry)
	e.timerIdx = int32(len(*h))
	*h = append(*h, e)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.timerIdx = -1
	return e
}

// set places e at deadline d, or removes it when d is zero.
func (h *timerHeap) set(e *entry, d time.Time) {
	switch {
	case d.IsZero():
		if e.timerIdx >= 0 {
			heap.Remove(h, int(e.timerIdx))
		}
		e.setDeadline(time.Time{})
	case e.timerIdx >= 0:
		if e.setDeadline(d) {
			heap.Fix(h, int(e.timerIdx))
		}
	default:
		e.setDeadline(d)
		heap.Push(h, e)
	}
}

// peek returns the entry with the earliest deadline, or nil.
func (h timerHeap) peek() *entry {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

// next returns the earliest deadline, or zero when empty.
func (h timerHeap) next() time.Time {
	if len(h) == 0 {
		return time.Time{}
	}
	return h[0].deadlineTime()
}
