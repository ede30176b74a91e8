package encoding

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

type bundle struct {
	values map[string]any
}

func setup(t *testing.T) bundle {
	t.Helper()
	ts := time.UnixMilli(1700000000123).UTC()
	return bundle{values: map[string]any{
		"null":       nil,
		"true":       true,
		"false":      false,
		"ubyte":      uint8(200),
		"ushort":     uint16(65000),
		"uint0":      uint32(0),
		"smalluint":  uint32(7),
		"uint":       uint32(1 << 30),
		"ulong0":     uint64(0),
		"smallulong": uint64(9),
		"ulong":      uint64(1 << 60),
		"byte":       int8(-5),
		"short":      int16(-30000),
		"smallint":   int32(-100),
		"int":        int32(math.MinInt32),
		"smalllong":  int64(120),
		"long":       int64(math.MaxInt64),
		"float":      float32(1.5),
		"double":     3.25,
		"decimal32":  Decimal32{1, 2, 3, 4},
		"decimal64":  Decimal64{1, 2, 3, 4, 5, 6, 7, 8},
		"decimal128": Decimal128{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		"char":       Char('€'),
		"timestamp":  ts,
		"uuid":       UUID{0xbb, 0x31, 0x59, 0xcd, 0xfd, 0xfe, 0xcd, 0x4d, 0xa2, 0x26, 0xac, 0x4c, 0x2d, 0xeb, 0x5b, 0xe1},
		"vbin8":      []byte("abc"),
		"vbin32":     bytes.Repeat([]byte{7}, 300),
		"str8":       "héllo",
		"str32":      string(bytes.Repeat([]byte("x"), 70000)),
		"sym8":       Symbol("x-opt-sequence-number"),
		"sym32":      Symbol(bytes.Repeat([]byte("s"), 256)),
		"list0":      []any{},
		"list8":      []any{int64(1), "a", nil},
		"list32":     []any{bytes.Repeat([]byte{1}, 300), Map{{Key: "k", Value: int32(1)}}},
		"map8":       Map{{Key: Symbol("a"), Value: uint64(1)}, {Key: "b", Value: []any{true}}},
		"map32":      Map{{Key: []byte{1, 2}, Value: string(bytes.Repeat([]byte("y"), 300))}},
		"arrayLong":  Array{Code: TypeLong, Values: []any{int64(1), int64(-2), int64(1 << 40)}},
		"arrayTime":  Array{Code: TypeTimestamp, Values: []any{ts}},
		"arrayUUID":  Array{Code: TypeUUID, Values: []any{UUID{1}, UUID{2}}},
		"arrayStr":   Array{Code: TypeStr32, Values: []any{"a", "bb"}},
		"arraySym":   Array{Code: TypeSym32, Values: []any{Symbol("PLAIN")}},
		"arrayBool":  Array{Code: TypeBool, Values: []any{true, false}},
		"arrayList":  Array{Code: TypeList32, Values: []any{[]any{int32(1)}, []any{}}},
		"arrayMap":   Array{Code: TypeMap32, Values: []any{Map{{Key: "a", Value: nil}}}},
		"arrayDesc":  Array{Code: TypeStr32, Descriptor: uint64(0x137000000c), Values: []any{"s1"}},
		"described":  Described{Descriptor: Symbol("com.microsoft:session-filter"), Value: "sid"},
		"describedN": Described{Descriptor: uint64(0x77), Value: Map{{Key: "a", Value: "b"}}},
	}}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, v := range b.values {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			enc, err := Append(nil, v)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			got, n, err := Decode(enc)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if n != len(enc) {
				t.Fatalf("consumed %d of %d bytes", n, len(enc))
			}
			want := v
			if l, ok := v.([]any); ok && len(l) == 0 {
				want = []any{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip: got %#v, want %#v", got, want)
			}
		})
	}
}

func TestCompactEncodings(t *testing.T) {
	t.Parallel()
	_ = setup(t)
	cases := []struct {
		v    any
		want []byte
	}{
		{uint32(0), []byte{TypeUint0}},
		{uint32(5), []byte{TypeSmallUint, 5}},
		{uint64(0), []byte{TypeUlong0}},
		{uint64(255), []byte{TypeSmallUlong, 255}},
		{int32(-1), []byte{TypeSmallInt, 0xff}},
		{int64(-1), []byte{TypeSmallLong, 0xff}},
		{true, []byte{TypeBoolTrue}},
		{[]any{}, []byte{TypeList0}},
		{[]any{nil}, []byte{TypeList8, 2, 1, TypeNull}},
		{"a", []byte{TypeStr8, 1, 'a'}},
	}
	for _, c := range cases {
		got, err := Append(nil, c.v)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("Append(%#v) = % x, %v; want % x", c.v, got, err, c.want)
		}
	}
}

func TestDecodeWideForms(t *testing.T) {
	t.Parallel()
	_ = setup(t)
	cases := []struct {
		in   []byte
		want any
	}{
		{[]byte{TypeBool, 1}, true},
		{[]byte{TypeUint, 0, 0, 0, 5}, uint32(5)},
		{[]byte{TypeUlong, 0, 0, 0, 0, 0, 0, 0, 5}, uint64(5)},
		{[]byte{TypeInt, 0xff, 0xff, 0xff, 0xff}, int32(-1)},
		{[]byte{TypeLong, 0, 0, 0, 0, 0, 0, 0, 1}, int64(1)},
		{[]byte{TypeStr32, 0, 0, 0, 1, 'z'}, "z"},
		{[]byte{TypeSym32, 0, 0, 0, 1, 'z'}, Symbol("z")},
		{[]byte{TypeVbin32, 0, 0, 0, 1, 9}, []byte{9}},
		{[]byte{TypeList32, 0, 0, 0, 5, 0, 0, 0, 1, TypeNull}, []any{nil}},
		{[]byte{TypeMap32, 0, 0, 0, 7, 0, 0, 0, 2, TypeStr8, 0, TypeNull}, Map{{Key: "", Value: nil}}},
		{[]byte{TypeArray8, 5, 2, TypeSym8, 1, 'a', 0}, Array{Code: TypeSym32, Values: []any{Symbol("a"), Symbol("")}}},
		{[]byte{TypeArray8, 4, 2, TypeSmallUint, 1, 2}, Array{Code: TypeUint, Values: []any{uint32(1), uint32(2)}}},
	}
	for _, c := range cases {
		got, _, err := Decode(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Decode(% x) = %#v, %v; want %#v", c.in, got, err, c.want)
		}
	}
}

func TestDecodeRejectsLyingLengths(t *testing.T) {
	t.Parallel()
	_ = setup(t)
	cases := [][]byte{
		{},
		{TypeStr32, 0xff, 0xff, 0xff, 0xff, 'a'},
		{TypeList32, 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4},
		{TypeMap8, 2, 1, TypeNull},
		{TypeArray32, 0, 0, 0, 5, 0x7f, 0xff, 0xff, 0xff, TypeNull},
		{TypeList8, 0, 0},
		{0x01},
		{TypeBool, 7},
		bytes.Repeat([]byte{TypeDescribed}, 1000),
		bytes.Repeat([]byte{TypeList8, 0xff, 1}, 100),
	}
	for _, in := range cases {
		if _, _, err := Decode(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(% x): err = %v, want ErrMalformed", in, err)
		}
	}
}

func TestAppendRejectsUnknownType(t *testing.T) {
	t.Parallel()
	_ = setup(t)
	if _, err := Append(nil, struct{}{}); !errors.Is(err, ErrUnsupportedType) {
		t.Fatalf("err = %v, want ErrUnsupportedType", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range setup(&testing.T{}).values {
		b, err := Append(nil, v)
		if err == nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Add(zeroWidthArray(65536))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkAllocs(t, in, func() { _, _, _ = Decode(in) })
		v, n, err := Decode(in)
		if err != nil {
			return
		}
		if n > len(in) {
			t.Fatalf("consumed %d of %d", n, len(in))
		}
		// Whatever decodes must encode again, and encoding must be stable across a second round trip.
		out, err := Append(nil, v)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", v, err)
		}
		v2, _, err := Decode(out)
		if err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		out2, err := Append(nil, v2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("unstable encoding: % x vs % x (%v)", out, out2, err)
		}
	})
}

func BenchmarkDecodeAnnotations(b *testing.B) {
	m := Map{
		{Key: Symbol("x-opt-sequence-number"), Value: int64(12345)},
		{Key: Symbol("x-opt-enqueued-time"), Value: time.UnixMilli(1700000000000).UTC()},
		{Key: Symbol("x-opt-locked-until"), Value: time.UnixMilli(1700000060000).UTC()},
	}
	enc, _ := Append(nil, m)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

var errNotString = errors.New("not a string")

func TestStringViewIsAView(t *testing.T) {
	t.Parallel()
	in := mustAppend(t, "message-id")
	d := NewDecoder(in)
	v, ok, err := d.StringView()
	if err != nil || !ok || v != "message-id" || d.Len() != 0 {
		t.Fatalf("StringView = %q, %v, %v; %d bytes left", v, ok, err, d.Len())
	}
	in[len(in)-1] = 'D' // a view sees the input change; a copy would not
	if v != "message-iD" {
		t.Fatalf("StringView returned a copy: %q", v)
	}
	for _, other := range []any{Symbol("sym"), uint64(7), []byte("bin"), nil} {
		d := NewDecoder(mustAppend(t, other))
		if v, ok, err := d.StringView(); ok || err != nil || v != "" || d.Offset() != 0 {
			t.Errorf("StringView of %T = %q, %v, %v after %d bytes; want nothing read", other, v, ok, err, d.Offset())
		}
	}
}

// mustAppend encodes v or fails the test.
func mustAppend(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzTypedReaders runs every typed field reader over arbitrary input: none may panic, and a
// successful read must agree with the generic decoder on how many bytes it used.
func FuzzTypedReaders(f *testing.F) {
	for _, v := range setup(&testing.T{}).values {
		if b, err := Append(nil, v); err == nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		_, want, generr := Decode(in)
		readers := map[string]func(d *Decoder) error{
			"Uint":      func(d *Decoder) error { _, _, err := d.Uint(); return err },
			"Ulong":     func(d *Decoder) error { _, _, err := d.Ulong(); return err },
			"Ubyte":     func(d *Decoder) error { _, _, err := d.Ubyte(); return err },
			"Bool":      func(d *Decoder) error { _, _, err := d.Bool(); return err },
			"Binary":    func(d *Decoder) error { _, _, err := d.Binary(); return err },
			"Text":      func(d *Decoder) error { _, _, err := d.Text(); return err },
			"Timestamp": func(d *Decoder) error { _, _, err := d.Timestamp(); return err },
			"KeyedMap":  func(d *Decoder) error { _, err := d.KeyedMap(); return err },
			"Symbols":   func(d *Decoder) error { _, err := d.Symbols(); return err },
			"Map":       func(d *Decoder) error { _, err := d.Map(); return err },
			"StringView": func(d *Decoder) error {
				v, ok, err := d.StringView()
				if err == nil && !ok {
					if d.Offset() != 0 {
						t.Fatalf("StringView consumed %d bytes of a non-string", d.Offset())
					}
					return errNotString
				}
				if g, _, _ := Decode(in); err == nil && g != v {
					t.Fatalf("StringView %q, generic decode %q", v, g)
				}
				return err
			},
		}
		for name, read := range readers {
			d := NewDecoder(in)
			if err := read(d); err == nil {
				if generr != nil || d.Offset() != want {
					t.Fatalf("%s consumed %d bytes; generic decode: %d, %v", name, d.Offset(), want, generr)
				}
			}
		}
	})
}

// TestListHeaderIntoMatchesListHeader checks that ListHeaderInto reads what
// ListHeader reads (null and list0 as empty lists, list8 and list32), into
// a caller's decoder, and refuses what is not a list.
func TestListHeaderIntoMatchesListHeader(t *testing.T) {
	t.Parallel()
	wide := make([]any, 300)
	for i := range wide {
		wide[i] = uint32(i)
	}
	for i, l := range [][]any{nil, {}, {"a", uint32(7)}, wide} {
		var b []byte
		var err error
		if l == nil {
			b = []byte{TypeNull}
		} else if b, err = AppendList(nil, l); err != nil {
			t.Fatal(err)
		}
		b = append(b, TypeBoolTrue) // what follows the list
		d1, d2 := NewDecoder(b), NewDecoder(b)
		want, n1, err1 := d1.ListHeader()
		var got Decoder
		n2, err2 := d2.ListHeaderInto(&got)
		if err1 != nil || err2 != nil || n1 != n2 || n2 != len(l) || d1.Offset() != d2.Offset() {
			t.Fatalf("list %d: ListHeader %d, %v; ListHeaderInto %d, %v", i, n1, err1, n2, err2)
		}
		for j := range n2 {
			v1, _ := want.Value()
			v2, err := got.Value()
			if err != nil || v1 != v2 {
				t.Fatalf("list %d element %d: %v, %v; want %v", i, j, v2, err, v1)
			}
		}
		if v, err := d2.Value(); err != nil || v != true {
			t.Fatalf("list %d: after the list %v, %v", i, v, err)
		}
	}
	var sub Decoder
	if _, err := NewDecoder([]byte{TypeBoolTrue}).ListHeaderInto(&sub); err == nil {
		t.Fatal("a boolean was read as a list")
	}
}
