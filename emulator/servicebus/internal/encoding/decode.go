package encoding

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
	"unsafe"
)

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

// Decoder reads AMQP values from a byte slice. It never panics and never allocates more than the
// input can justify: every count is checked against the bytes left, and every decoded element
// is charged against an allocation budget proportional to the input's length (Budget), shared
// by the decoders of nested compounds. Input that would decode to more fails with ErrBudget.
// Returned []byte values are copies; the input may be reused after decoding.
type Decoder struct {
	b     []byte
	off   int
	depth int
	left  *int // remaining budget, shared with the decoders of nested compounds
	own   int  // the budget of a root decoder; left points here
}

// Costs charged against the budget: upper bounds of what decoding one element allocates, so
// that the budget bounds real allocation. An element occupies an interface slot (16 bytes) and
// may box a scalar (at most 16 more); timestamps and described values box 24-32 bytes.
const (
	costElement   = 32
	costLarge     = 32 // extra for time.Time and Described boxes
	costCompound  = 32 // slice or map header of a list, map or array
	costMapEntry  = 48 // Go map bucket share of one KeyedMap entry
	budgetFactor  = 64
	budgetOverall = 512
)

// Budget is the allocation budget of decoding n input bytes: a fixed multiple of n plus a small
// constant, generous enough for any legitimate encoding (the densest, a map of one-letter keys
// and small integers, is charged about 25 times its size) and far below the 6,500-fold
// amplification of an array of zero-width elements.
func Budget(n int) int { return budgetFactor*n + budgetOverall }

// NewDecoder returns a decoder over b with the budget Budget(len(b)).
func NewDecoder(b []byte) *Decoder {
	d := &Decoder{b: b, own: Budget(len(b))}
	d.left = &d.own
	return d
}

// Reset points the decoder at b and renews its budget.
func (d *Decoder) Reset(b []byte) {
	d.b, d.off, d.depth, d.own = b, 0, 0, Budget(len(b))
	d.left = &d.own
}

// charge takes n bytes from the budget.
func (d *Decoder) charge(n int) error {
	if *d.left < n {
		return fmt.Errorf("decoding needs more than the %d bytes left of its budget at offset %d: %w", *d.left, d.off, ErrBudget)
	}
	*d.left -= n
	return nil
}

// Offset is the number of bytes consumed so far.
func (d *Decoder) Offset() int { return d.off }

// Len is the number of bytes left.
func (d *Decoder) Len() int { return len(d.b) - d.off }

// Rest returns the unread bytes (not copied).
func (d *Decoder) Rest() []byte { return d.b[d.off:] }

// Decode decodes one value from b and reports how many bytes it used.
func Decode(b []byte) (any, int, error) {
	d := NewDecoder(b)
	v, err := d.Value()
	return v, d.off, err
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrMalformed)
}

func (d *Decoder) need(n int) ([]byte, error) {
	if n < 0 || d.Len() < n {
		return nil, malformed("need %d bytes at offset %d, have %d", n, d.off, d.Len())
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s, nil
}

func (d *Decoder) byte1() (byte, error) {
	if d.off >= len(d.b) {
		return 0, malformed("unexpected end of input at offset %d", d.off)
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

// PeekCode returns the next format code without consuming it.
func (d *Decoder) PeekCode() (byte, error) {
	if d.off >= len(d.b) {
		return 0, malformed("unexpected end of input at offset %d", d.off)
	}
	return d.b[d.off], nil
}

// Value decodes the next value into its Go representation.
func (d *Decoder) Value() (any, error) {
	code, err := d.byte1()
	if err != nil {
		return nil, err
	}
	if code == TypeDescribed {
		if err := d.charge(costLarge); err != nil {
			return nil, err
		}
		d.depth++
		defer func() { d.depth-- }()
		if d.depth > maxDepth {
			return nil, malformed("nesting deeper than %d", maxDepth)
		}
		desc, err := d.Value()
		if err != nil {
			return nil, err
		}
		v, err := d.Value()
		if err != nil {
			return nil, err
		}
		return Described{Descriptor: desc, Value: v}, nil
	}
	return d.body(code)
}

// emptyList is the decoded empty list, boxed once so that list0 elements allocate nothing.
var emptyList any = []any{}

// body decodes the value that follows constructor code, charging it to the budget.
func (d *Decoder) body(code byte) (any, error) {
	if err := d.charge(costElement); err != nil {
		return nil, err
	}
	switch code {
	case TypeNull:
		return nil, nil
	case TypeBoolTrue:
		return true, nil
	case TypeBoolFalse:
		return false, nil
	case TypeBool:
		c, err := d.byte1()
		if err != nil {
			return nil, err
		}
		if c > 1 {
			return nil, malformed("boolean byte %#x", c)
		}
		return c == 1, nil
	case TypeUbyte:
		c, err := d.byte1()
		return c, err
	case TypeByte:
		c, err := d.byte1()
		return int8(c), err
	case TypeUshort:
		return fixed(d, 2, binary.BigEndian.Uint16)
	case TypeShort:
		return fixed(d, 2, func(s []byte) int16 { return int16(binary.BigEndian.Uint16(s)) })
	case TypeUint0:
		return uint32(0), nil
	case TypeSmallUint:
		c, err := d.byte1()
		return uint32(c), err
	case TypeUint:
		return fixed(d, 4, binary.BigEndian.Uint32)
	case TypeUlong0:
		return uint64(0), nil
	case TypeSmallUlong:
		c, err := d.byte1()
		return uint64(c), err
	case TypeUlong:
		return fixed(d, 8, binary.BigEndian.Uint64)
	case TypeSmallInt:
		c, err := d.byte1()
		return int32(int8(c)), err
	case TypeInt:
		return fixed(d, 4, func(s []byte) int32 { return int32(binary.BigEndian.Uint32(s)) })
	case TypeSmallLong:
		c, err := d.byte1()
		return int64(int8(c)), err
	case TypeLong:
		return fixed(d, 8, func(s []byte) int64 { return int64(binary.BigEndian.Uint64(s)) })
	case TypeFloat:
		return fixed(d, 4, func(s []byte) float32 { return math.Float32frombits(binary.BigEndian.Uint32(s)) })
	case TypeDouble:
		return fixed(d, 8, func(s []byte) float64 { return math.Float64frombits(binary.BigEndian.Uint64(s)) })
	case TypeDecimal32:
		return fixed(d, 4, func(s []byte) Decimal32 { return Decimal32(s) })
	case TypeDecimal64:
		return fixed(d, 8, func(s []byte) Decimal64 { return Decimal64(s) })
	case TypeDecimal128:
		return fixed(d, 16, func(s []byte) Decimal128 { return Decimal128(s) })
	case TypeChar:
		return fixed(d, 4, func(s []byte) Char { return Char(binary.BigEndian.Uint32(s)) })
	case TypeTimestamp:
		if err := d.charge(costLarge); err != nil {
			return nil, err
		}
		return fixed(d, 8, func(s []byte) time.Time { return TimeFromMillis(int64(binary.BigEndian.Uint64(s))) })
	case TypeUUID:
		return fixed(d, 16, func(s []byte) UUID { return UUID(s) })
	case TypeVbin8, TypeVbin32:
		s, err := d.chargedVariable(code == TypeVbin32)
		if err != nil {
			return nil, err
		}
		out := make([]byte, len(s))
		copy(out, s)
		return out, nil
	case TypeStr8, TypeStr32:
		s, err := d.chargedVariable(code == TypeStr32)
		if err != nil {
			return nil, err
		}
		return string(s), nil
	case TypeSym8, TypeSym32:
		s, err := d.chargedVariable(code == TypeSym32)
		if err != nil {
			return nil, err
		}
		return Symbol(s), nil
	case TypeList0, TypeList8, TypeList32:
		return d.list(code)
	case TypeMap8, TypeMap32:
		return d.mapValue(code)
	case TypeArray8, TypeArray32:
		return d.array(code)
	}
	return nil, malformed("unknown format code %#x at offset %d", code, d.off-1)
}

// fixed decodes an n-byte value with conv, so that each fixed-width case of body is one line.
func fixed[T any](d *Decoder, n int, conv func([]byte) T) (any, error) {
	s, err := d.need(n)
	if err != nil {
		return nil, err
	}
	return conv(s), nil
}

// variable reads a vbin/str/sym payload (not copied).
func (d *Decoder) variable(wide bool) ([]byte, error) {
	var n int
	if wide {
		s, err := d.need(4)
		if err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint32(s))
	} else {
		c, err := d.byte1()
		if err != nil {
			return nil, err
		}
		n = int(c)
	}
	return d.need(n)
}

// chargedVariable is variable for a payload the caller copies: its length is charged.
func (d *Decoder) chargedVariable(wide bool) ([]byte, error) {
	s, err := d.variable(wide)
	if err != nil {
		return nil, err
	}
	return s, d.charge(len(s))
}

// compound reads the size and count of a list, map or array and returns a decoder restricted to
// its payload; the outer decoder skips past it.
func (d *Decoder) compound(wide bool) (Decoder, int, error) {
	return d.compoundCounted(wide, true)
}

// maxZeroWidth bounds arrays whose elements occupy no bytes (null, true, uint0...), the only
// case where a count is not bounded by the input length.
const maxZeroWidth = 1 << 16

func (d *Decoder) compoundCounted(wide, checkCount bool) (Decoder, int, error) {
	var size, count int
	if wide {
		s, err := d.need(8)
		if err != nil {
			return Decoder{}, 0, err
		}
		size, count = int(binary.BigEndian.Uint32(s)), int(binary.BigEndian.Uint32(s[4:]))
		if size < 4 {
			return Decoder{}, 0, malformed("compound size %d too small", size)
		}
		size -= 4
	} else {
		s, err := d.need(2)
		if err != nil {
			return Decoder{}, 0, err
		}
		size, count = int(s[0]), int(s[1])
		if size < 1 {
			return Decoder{}, 0, malformed("compound size %d too small", size)
		}
		size--
	}
	payload, err := d.need(size)
	if err != nil {
		return Decoder{}, 0, err
	}
	if checkCount && count > len(payload) {
		// Every list or map element needs at least one byte.
		return Decoder{}, 0, malformed("count %d exceeds %d payload bytes", count, len(payload))
	}
	if d.depth+1 > maxDepth {
		return Decoder{}, 0, malformed("nesting deeper than %d", maxDepth)
	}
	if err := d.charge(costCompound); err != nil {
		return Decoder{}, 0, err
	}
	return Decoder{b: payload, depth: d.depth + 1, left: d.left}, count, nil
}

// ListHeaderInto is ListHeader with the elements' decoder written to sub, for callers that
// decode many lists and would rather not allocate a decoder for each.
func (d *Decoder) ListHeaderInto(sub *Decoder) (int, error) {
	code, err := d.byte1()
	if err != nil {
		return 0, err
	}
	switch code {
	case TypeNull, TypeList0:
		*sub = Decoder{left: d.left}
		return 0, nil
	case TypeList8, TypeList32:
		s, n, err := d.compound(code == TypeList32)
		if err != nil {
			return 0, err
		}
		*sub = s
		return n, nil
	}
	return 0, fmt.Errorf("list expected, found %#x: %w", code, ErrType)
}

// ListHeader reads a list constructor and returns its element count and a decoder over its
// elements. A null is accepted as an empty list.
func (d *Decoder) ListHeader() (*Decoder, int, error) {
	code, err := d.byte1()
	if err != nil {
		return nil, 0, err
	}
	switch code {
	case TypeNull, TypeList0:
		return &Decoder{left: d.left}, 0, nil
	case TypeList8, TypeList32:
		sub, n, err := d.compound(code == TypeList32)
		if err != nil {
			return nil, 0, err
		}
		return &sub, n, nil
	}
	return nil, 0, fmt.Errorf("list expected, found %#x: %w", code, ErrType)
}

func (d *Decoder) list(code byte) (any, error) {
	if code == TypeList0 {
		return emptyList, nil
	}
	sub, count, err := d.compound(code == TypeList32)
	if err != nil {
		return nil, err
	}
	out := make([]any, count)
	for i := range out {
		if out[i], err = sub.Value(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *Decoder) mapValue(code byte) (any, error) {
	sub, count, err := d.compound(code == TypeMap32)
	if err != nil {
		return nil, err
	}
	if count%2 != 0 {
		return nil, malformed("map with odd element count %d", count)
	}
	out := make(Map, count/2)
	for i := range out {
		if out[i].Key, err = sub.Value(); err != nil {
			return nil, err
		}
		if out[i].Value, err = sub.Value(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *Decoder) array(code byte) (any, error) {
	sub, count, err := d.compoundCounted(code == TypeArray32, false)
	if err != nil {
		return nil, err
	}
	var a Array
	elem, err := sub.byte1()
	if err != nil {
		return nil, err
	}
	if elem == TypeDescribed {
		if a.Descriptor, err = sub.Value(); err != nil {
			return nil, err
		}
		if elem, err = sub.byte1(); err != nil {
			return nil, err
		}
		if elem == TypeDescribed {
			return nil, malformed("nested descriptor in array constructor")
		}
	}
	switch elem {
	case TypeNull, TypeBoolTrue, TypeBoolFalse, TypeUint0, TypeUlong0, TypeList0:
		if count > maxZeroWidth {
			return nil, malformed("array of %d zero-width elements", count)
		}
	default:
		if count > sub.Len() {
			return nil, malformed("array count %d exceeds %d payload bytes", count, sub.Len())
		}
	}
	// Zero-width elements cost no input: check the budget covers them before allocating their
	// slots (body charges each element as it decodes it).
	if count*costElement > *sub.left {
		return nil, fmt.Errorf("array of %d elements at offset %d: %w", count, d.off, ErrBudget)
	}
	a.Code = wideCode(elem)
	a.Values = make([]any, count)
	for i := range a.Values {
		if a.Values[i], err = sub.body(elem); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Skip consumes the next value.
func (d *Decoder) Skip() error {
	_, err := d.Value()
	return err
}

// IsNull reports whether the next value is null or the input is exhausted (trailing list fields may be omitted).
func (d *Decoder) IsNull() bool {
	return d.off >= len(d.b) || d.b[d.off] == TypeNull
}

// Uint reads a uint field; present is false for null. The typed readers decode without boxing
// values in interfaces, which keeps the per-frame path allocation-free.
func (d *Decoder) Uint() (v uint32, present bool, err error) {
	code, err := d.byte1()
	if err != nil {
		return 0, false, err
	}
	switch code {
	case TypeNull:
		return 0, false, nil
	case TypeUint0:
		return 0, true, nil
	case TypeSmallUint, TypeUbyte:
		c, err := d.byte1()
		return uint32(c), err == nil, err
	case TypeUshort:
		s, err := d.need(2)
		if err != nil {
			return 0, false, err
		}
		return uint32(binary.BigEndian.Uint16(s)), true, nil
	case TypeUint:
		s, err := d.need(4)
		if err != nil {
			return 0, false, err
		}
		return binary.BigEndian.Uint32(s), true, nil
	}
	d.off--
	return 0, false, d.typeError("uint")
}

// typeError reports the value at the current offset as the wrong type (and skips it).
func (d *Decoder) typeError(want string) error {
	x, err := d.Value()
	if err != nil {
		return err
	}
	return fmt.Errorf("%s expected, found %T: %w", want, x, ErrType)
}

// Ulong reads a ulong field (uint and smaller unsigned types are accepted too).
func (d *Decoder) Ulong() (v uint64, present bool, err error) {
	code, err := d.PeekCode()
	if err != nil {
		return 0, false, err
	}
	switch code {
	case TypeUlong0:
		d.off++
		return 0, true, nil
	case TypeSmallUlong:
		d.off++
		c, err := d.byte1()
		return uint64(c), err == nil, err
	case TypeUlong:
		d.off++
		s, err := d.need(8)
		if err != nil {
			return 0, false, err
		}
		return binary.BigEndian.Uint64(s), true, nil
	}
	u, present, err := d.Uint()
	if err != nil {
		return 0, false, fmt.Errorf("ulong: %w", err)
	}
	return uint64(u), present, nil
}

// Ubyte reads a ubyte field.
func (d *Decoder) Ubyte() (v uint8, present bool, err error) {
	code, err := d.byte1()
	if err != nil {
		return 0, false, err
	}
	switch code {
	case TypeNull:
		return 0, false, nil
	case TypeUbyte:
		c, err := d.byte1()
		return c, err == nil, err
	}
	d.off--
	return 0, false, d.typeError("ubyte")
}

// Bool reads a boolean field.
func (d *Decoder) Bool() (v bool, present bool, err error) {
	code, err := d.byte1()
	if err != nil {
		return false, false, err
	}
	switch code {
	case TypeNull:
		return false, false, nil
	case TypeBoolTrue:
		return true, true, nil
	case TypeBoolFalse:
		return false, true, nil
	case TypeBool:
		c, err := d.byte1()
		if err != nil {
			return false, false, err
		}
		if c > 1 {
			return false, false, malformed("boolean byte %#x", c)
		}
		return c == 1, true, nil
	}
	d.off--
	return false, false, d.typeError("boolean")
}

// Binary reads a binary field (a copy).
func (d *Decoder) Binary() (v []byte, present bool, err error) {
	code, err := d.byte1()
	if err != nil {
		return nil, false, err
	}
	switch code {
	case TypeNull:
		return nil, false, nil
	case TypeVbin8, TypeVbin32:
		s, err := d.chargedVariable(code == TypeVbin32)
		if err != nil {
			return nil, false, err
		}
		out := make([]byte, len(s))
		copy(out, s)
		return out, true, nil
	}
	d.off--
	return nil, false, d.typeError("binary")
}

// BinaryView reads a binary value like Binary but returns a slice of the
// decoder's input instead of a copy: it stays valid, and keeps the input
// alive, as long as the caller holds it.
func (d *Decoder) BinaryView() ([]byte, error) {
	code, err := d.byte1()
	if err != nil {
		return nil, err
	}
	if code == TypeVbin8 || code == TypeVbin32 {
		return d.variable(code == TypeVbin32)
	}
	d.off--
	return nil, d.typeError("binary")
}

// StringView reads a string value (not a symbol) like Value, but returns a
// view of the decoder's input instead of a copy: the caller must keep the
// input unmodified for as long as it holds the string, which also keeps
// the input alive. ok is false, and nothing is consumed, when the next
// value is not a string.
func (d *Decoder) StringView() (v string, ok bool, err error) {
	code, err := d.PeekCode()
	if err != nil || (code != TypeStr8 && code != TypeStr32) {
		return "", false, err
	}
	d.off++
	if err := d.charge(costElement); err != nil {
		return "", false, err
	}
	b, err := d.variable(code == TypeStr32)
	if err != nil || len(b) == 0 {
		return "", err == nil, err
	}
	return unsafe.String(&b[0], len(b)), true, nil
}

// Text reads a string or symbol field.
func (d *Decoder) Text() (v string, present bool, err error) {
	code, err := d.byte1()
	if err != nil {
		return "", false, err
	}
	switch code {
	case TypeNull:
		return "", false, nil
	case TypeStr8, TypeStr32, TypeSym8, TypeSym32:
		b, err := d.chargedVariable(code == TypeStr32 || code == TypeSym32)
		if err != nil {
			return "", false, err
		}
		return string(b), true, nil
	}
	d.off--
	return "", false, d.typeError("string")
}

// Timestamp reads a timestamp field.
func (d *Decoder) Timestamp() (v time.Time, present bool, err error) {
	code, err := d.byte1()
	if err != nil {
		return time.Time{}, false, err
	}
	switch code {
	case TypeNull:
		return time.Time{}, false, nil
	case TypeTimestamp:
		b, err := d.need(8)
		if err != nil {
			return time.Time{}, false, err
		}
		return TimeFromMillis(int64(binary.BigEndian.Uint64(b))), true, nil
	}
	d.off--
	return time.Time{}, false, d.typeError("timestamp")
}

// KeyedMap reads a map whose keys are strings or symbols (application properties,
// annotations) straight into a Go map; ulong keys, which annotations may use, become their
// decimal text. Null gives a nil map.
func (d *Decoder) KeyedMap() (map[string]any, error) {
	code, err := d.byte1()
	if err != nil {
		return nil, err
	}
	if code == TypeNull {
		return nil, nil
	}
	if code != TypeMap8 && code != TypeMap32 {
		d.off--
		return nil, d.typeError("map")
	}
	sub, count, err := d.compound(code == TypeMap32)
	if err != nil {
		return nil, err
	}
	if count%2 != 0 {
		return nil, malformed("map with odd element count %d", count)
	}
	if err := sub.charge(count / 2 * costMapEntry); err != nil {
		return nil, err
	}
	out := make(map[string]any, count/2)
	for range count / 2 {
		var key string
		kc, err := sub.PeekCode()
		if err != nil {
			return nil, err
		}
		switch kc {
		case TypeSmallUlong, TypeUlong, TypeUlong0:
			k, _, err := sub.Ulong()
			if err != nil {
				return nil, err
			}
			key = strconv.FormatUint(k, 10)
		default:
			if key, _, err = sub.Text(); err != nil {
				return nil, fmt.Errorf("map key: %w", err)
			}
		}
		if out[key], err = sub.Value(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Symbols reads a "multiple symbol" field: a single symbol or an array of symbols.
func (d *Decoder) Symbols() ([]Symbol, error) {
	x, err := d.Value()
	if err != nil || x == nil {
		return nil, err
	}
	switch t := x.(type) {
	case Symbol:
		return []Symbol{t}, nil
	case Array:
		out := make([]Symbol, 0, len(t.Values))
		for _, v := range t.Values {
			s, ok := v.(Symbol)
			if !ok {
				return nil, fmt.Errorf("symbol array holds %T: %w", v, ErrType)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("symbols expected, found %T: %w", x, ErrType)
}

// Map reads a map field; null gives a nil map.
func (d *Decoder) Map() (Map, error) {
	x, err := d.Value()
	if err != nil || x == nil {
		return nil, err
	}
	if t, ok := x.(Map); ok {
		return t, nil
	}
	return nil, fmt.Errorf("map expected, found %T: %w", x, ErrType)
}

// Descriptor reads the constructor of a described value and returns its numeric descriptor; a
// symbolic descriptor is returned as sym with code 0.
func (d *Decoder) Descriptor() (code uint64, sym Symbol, err error) {
	c, err := d.byte1()
	if err != nil {
		return 0, "", err
	}
	if c != TypeDescribed {
		return 0, "", fmt.Errorf("described type expected, found %#x: %w", c, ErrType)
	}
	x, err := d.Value()
	if err != nil {
		return 0, "", err
	}
	switch t := x.(type) {
	case uint64:
		return t, "", nil
	case Symbol:
		return 0, t, nil
	}
	return 0, "", fmt.Errorf("descriptor of type %T: %w", x, ErrType)
}
