package dashboard

import (
	"slices"
	"testing"
)

func TestRingKeepsTheNewest(t *testing.T) {
	r := ring[int]{max: 3}
	var got []int
	for i := range 5 {
		if old, ok := r.push(i); ok != (i >= 3) || (ok && old != i-3) {
			t.Errorf("push(%d) dropped %d, %v", i, old, ok)
		}
	}
	r.each(func(v int) { got = append(got, v) })
	if !slices.Equal(got, []int{2, 3, 4}) {
		t.Errorf("ring holds %v, want [2 3 4] oldest first", got)
	}
}
