package encoding

import (
	"errors"
	"runtime"
	"testing"
)

// heapAllocs returns the bytes allocated on the heap by the process so far. ReadMemStats
// flushes the per-P caches, which makes it exact where runtime/metrics counts whole spans.
func heapAllocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// zeroWidthArray is an array32 of n nulls: 10 bytes on the wire whatever n is.
func zeroWidthArray(n uint32) []byte {
	return []byte{TypeArray32, 0, 0, 0, 5, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), TypeNull}
}

func TestBudgetRefusesZeroWidthAmplification(t *testing.T) {
	t.Parallel()
	in := zeroWidthArray(65536)
	if _, _, err := Decode(in); !errors.Is(err, ErrBudget) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decode of 65536 nulls in %d bytes: err = %v, want ErrBudget wrapping ErrMalformed", len(in), err)
	}
	// The same array inside a list of 200: the budget is shared by nested decoders.
	list := []byte{TypeList32, 0, 0, 0, 0, 0, 0, 0, 200}
	for range 200 {
		list = append(list, zeroWidthArray(60)...)
	}
	size := len(list) - 5
	list[1], list[2], list[3], list[4] = byte(size>>24), byte(size>>16), byte(size>>8), byte(size)
	if _, _, err := Decode(list); !errors.Is(err, ErrBudget) {
		t.Fatalf("list of 200 arrays of 60 nulls (%d bytes): err = %v, want ErrBudget", len(list), err)
	}
	// Small zero-width arrays stay legal.
	if v, _, err := Decode(zeroWidthArray(8)); err != nil || len(v.(Array).Values) != 8 {
		t.Fatalf("array of 8 nulls: %v, %v", v, err)
	}
}

func TestBudgetAdmitsDenseMaps(t *testing.T) {
	t.Parallel()
	// The densest legitimate shape: many one-letter keys with small integer values.
	m := map[string]any{}
	for i := range 2000 {
		m[string(rune('A'+i%58))+string(rune('A'+i/58))] = int32(i % 100)
	}
	b, err := AppendStringMap(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewDecoder(b).KeyedMap()
	if err != nil || len(got) != len(m) {
		t.Fatalf("KeyedMap of %d entries in %d bytes: %d entries, %v", len(m), len(b), len(got), err)
	}
	if _, _, err := Decode(b); err != nil {
		t.Fatalf("Decode: %v", err)
	}
}

// errorSlack covers building an error (formatted text, wrapping), which the budget does not
// charge, and the race detector's own allocations.
const errorSlack = 16 << 10

// checkAllocs fails when decoding in allocated more than its budget.
func checkAllocs(t *testing.T, in []byte, decode func()) {
	t.Helper()
	before := heapAllocs()
	decode()
	if got, limit := heapAllocs()-before, uint64(Budget(len(in))+errorSlack); got > limit {
		t.Fatalf("decoding %d bytes allocated %d bytes, budget %d", len(in), got, limit)
	}
}

func TestBudgetBoundsAllocation(t *testing.T) {
	// Not parallel: the allocation counter is process-wide.
	for _, in := range [][]byte{zeroWidthArray(65536), zeroWidthArray(100)} {
		checkAllocs(t, in, func() { _, _, _ = Decode(in) })
	}
}
