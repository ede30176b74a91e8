package broker

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// setup returns an empty skip list and the model it is checked against.
func setup(t *testing.T) (*skiplist, map[int64]bool) {
	t.Helper()
	return newSkiplist(), map[int64]bool{}
}

func TestSkiplistAgainstModel(t *testing.T) {
	t.Parallel()
	l, model := setup(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		k := rnd.Int64N(2000)
		switch rnd.IntN(3) {
		case 0, 1:
			l.insert(k, &entry{seq: k})
			model[k] = true
		case 2:
			if got := l.remove(k); got != model[k] {
				t.Fatalf("op %d: remove(%d) = %v, want %v", i, k, got, model[k])
			}
			delete(model, k)
		}
		if l.len() != len(model) {
			t.Fatalf("op %d: len %d, want %d", i, l.len(), len(model))
		}
	}
	want := slices.Sorted(func(yield func(int64) bool) {
		for k := range model {
			if !yield(k) {
				return
			}
		}
	})
	for _, from := range []int64{0, 1, 999, 1999, 2000} {
		var got []int64
		l.ascend(from, func(e *entry) bool { got = append(got, e.seq); return true })
		i, _ := slices.BinarySearch(want, from)
		if !slices.Equal(got, want[i:]) {
			t.Fatalf("ascend(%d): %d keys, want %d", from, len(got), len(want[i:]))
		}
	}
	for k := range int64(2000) {
		if (l.get(k) != nil) != model[k] {
			t.Fatalf("get(%d) presence wrong", k)
		}
	}
}
