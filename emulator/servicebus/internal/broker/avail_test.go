package broker

import (
	"math/rand/v2"
	"testing"
)

// availSetup returns an empty queue and a pool of entries with
// increasing sequence numbers (setup is taken by skiplist_test.go).
func availSetup(t *testing.T, n int) (*availQueue, []*entry) {
	t.Helper()
	pool := make([]*entry, n)
	for i := range pool {
		pool[i] = mustEntry(&Message{SequenceNumber: int64(i + 1)})
	}
	return &availQueue{}, pool
}

func TestAvailQueueAgainstModel(t *testing.T) {
	t.Parallel()
	q, pool := availSetup(t, 1000)
	rnd := rand.New(rand.NewPCG(3, 4))
	in := map[*entry]bool{}
	next := 0 // pool[next:] never added yet: they arrive in order, like sends
	for op := range 20000 {
		switch r := rnd.IntN(10); {
		case r < 4 && next < len(pool): // send
			q.add(pool[next])
			in[pool[next]] = true
			next++
		case r < 6 && next > 0: // a taken or removed one comes back
			e := pool[rnd.IntN(next)]
			q.add(e)
			in[e] = true
		case r < 7 && next > 0: // expiry or drop of an arbitrary one
			e := pool[rnd.IntN(next)]
			q.remove(e)
			delete(in, e)
		default: // take the first
			var want *entry
			for e := range in {
				if want == nil || e.seq < want.seq {
					want = e
				}
			}
			got := q.peek()
			if got != want {
				t.Fatalf("op %d: peek = %v, want %v", op, seqOf(got), seqOf(want))
			}
			if got != nil {
				q.remove(got)
				delete(in, got)
			}
		}
	}
}

func seqOf(e *entry) int64 {
	if e == nil {
		return 0
	}
	return e.seq
}
