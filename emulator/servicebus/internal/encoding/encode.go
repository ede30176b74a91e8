package encoding

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Append encodes v (see the package comment for accepted Go types) and appends it to b. It uses
// the compact encoding whenever the value fits.
func Append(b []byte, v any) ([]byte, error) {
	switch t := v.(type) {
	case nil:
		return append(b, TypeNull), nil
	case bool:
		return AppendBool(b, t), nil
	case uint8:
		return append(b, TypeUbyte, t), nil
	case uint16:
		return binary.BigEndian.AppendUint16(append(b, TypeUshort), t), nil
	case uint32:
		return AppendUint(b, t), nil
	case uint64:
		return AppendUlong(b, t), nil
	case uint:
		return AppendUlong(b, uint64(t)), nil
	case int8:
		return append(b, TypeByte, byte(t)), nil
	case int16:
		return binary.BigEndian.AppendUint16(append(b, TypeShort), uint16(t)), nil
	case int32:
		return AppendInt(b, t), nil
	case int64:
		return AppendLong(b, t), nil
	case int:
		return AppendLong(b, int64(t)), nil
	case float32:
		return binary.BigEndian.AppendUint32(append(b, TypeFloat), math.Float32bits(t)), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, TypeDouble), math.Float64bits(t)), nil
	case Decimal32:
		return append(append(b, TypeDecimal32), t[:]...), nil
	case Decimal64:
		return append(append(b, TypeDecimal64), t[:]...), nil
	case Decimal128:
		return append(append(b, TypeDecimal128), t[:]...), nil
	case Char:
		return binary.BigEndian.AppendUint32(append(b, TypeChar), uint32(t)), nil
	case time.Time:
		return AppendTimestamp(b, t), nil
	case UUID:
		return AppendUUID(b, t), nil
	case []byte:
		return AppendBinary(b, t), nil
	case string:
		return AppendString(b, t), nil
	case Symbol:
		return AppendSymbol(b, string(t)), nil
	case []any:
		return AppendList(b, t)
	case Map:
		return AppendMap(b, t)
	case map[string]any:
		return AppendStringMap(b, t)
	case Array:
		return AppendArray(b, t)
	case []string:
		vals := make([]any, len(t))
		for i, s := range t {
			vals[i] = s
		}
		return AppendArray(b, Array{Code: TypeStr32, Values: vals})
	case Described:
		b = append(b, TypeDescribed)
		b, err := Append(b, t.Descriptor)
		if err != nil {
			return b, err
		}
		return Append(b, t.Value)
	case Marshaler:
		return t.AppendAMQP(b)
	default:
		return b, fmt.Errorf("encoding %T: %w", v, ErrUnsupportedType)
	}
}

// Marshaler is implemented by composite values (performatives, delivery states) that encode themselves.
type Marshaler interface {
	AppendAMQP(b []byte) ([]byte, error)
}

// AppendBool appends an AMQP boolean in its one-byte form.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, TypeBoolTrue)
	}
	return append(b, TypeBoolFalse)
}

// AppendUint appends an AMQP uint in the smallest encoding.
func AppendUint(b []byte, v uint32) []byte {
	switch {
	case v == 0:
		return append(b, TypeUint0)
	case v < 256:
		return append(b, TypeSmallUint, byte(v))
	}
	return binary.BigEndian.AppendUint32(append(b, TypeUint), v)
}

// AppendUlong appends an AMQP ulong in the smallest encoding.
func AppendUlong(b []byte, v uint64) []byte {
	switch {
	case v == 0:
		return append(b, TypeUlong0)
	case v < 256:
		return append(b, TypeSmallUlong, byte(v))
	}
	return binary.BigEndian.AppendUint64(append(b, TypeUlong), v)
}

// AppendInt appends an AMQP int in the smallest encoding.
func AppendInt(b []byte, v int32) []byte {
	if v >= -128 && v <= 127 {
		return append(b, TypeSmallInt, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint32(append(b, TypeInt), uint32(v))
}

// AppendLong appends an AMQP long in the smallest encoding.
func AppendLong(b []byte, v int64) []byte {
	if v >= -128 && v <= 127 {
		return append(b, TypeSmallLong, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint64(append(b, TypeLong), uint64(v))
}

// AppendTimestamp appends an AMQP timestamp (milliseconds since the epoch).
func AppendTimestamp(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(append(b, TypeTimestamp), uint64(t.UnixMilli()))
}

// AppendUUID appends an AMQP uuid.
func AppendUUID(b []byte, u UUID) []byte {
	return append(append(b, TypeUUID), u[:]...)
}

// AppendBinary appends AMQP binary (vbin8 when it fits).
func AppendBinary(b []byte, v []byte) []byte {
	if len(v) < 256 {
		b = append(b, TypeVbin8, byte(len(v)))
	} else {
		b = binary.BigEndian.AppendUint32(append(b, TypeVbin32), uint32(len(v)))
	}
	return append(b, v...)
}

// AppendString appends an AMQP string (str8 when it fits).
func AppendString(b []byte, v string) []byte {
	if len(v) < 256 {
		b = append(b, TypeStr8, byte(len(v)))
	} else {
		b = binary.BigEndian.AppendUint32(append(b, TypeStr32), uint32(len(v)))
	}
	return append(b, v...)
}

// AppendSymbol appends an AMQP symbol (sym8 when it fits).
func AppendSymbol(b []byte, v string) []byte {
	if len(v) < 256 {
		b = append(b, TypeSym8, byte(len(v)))
	} else {
		b = binary.BigEndian.AppendUint32(append(b, TypeSym32), uint32(len(v)))
	}
	return append(b, v...)
}

// AppendDescriptor appends the constructor of a described type with a numeric descriptor.
func AppendDescriptor(b []byte, code uint64) []byte {
	return AppendUlong(append(b, TypeDescribed), code)
}

// BeginComposite reserves room for a list32 or map32 header and returns the offset to pass to
// EndList or EndMap once the elements are appended.
func BeginComposite(b []byte) ([]byte, int) {
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0, 0), len(b)
}

// EndList writes the header of a list started with BeginComposite holding count elements,
// shrinking it to list0 or list8 when it fits.
func EndList(b []byte, start int, count int) []byte {
	return endComposite(b, start, count, TypeList8, TypeList32, true)
}

// EndMap writes the header of a map started with BeginComposite holding count keys plus values.
func EndMap(b []byte, start int, count int) []byte {
	return endComposite(b, start, count, TypeMap8, TypeMap32, false)
}

func endComposite(b []byte, start, count int, small, wide byte, list bool) []byte {
	body := len(b) - start - 9
	if list && count == 0 {
		b[start] = TypeList0
		return b[:start+1]
	}
	if body+1 <= 255 && count <= 255 {
		b[start] = small
		b[start+1] = byte(body + 1)
		b[start+2] = byte(count)
		copy(b[start+3:], b[start+9:])
		return b[:len(b)-6]
	}
	b[start] = wide
	binary.BigEndian.PutUint32(b[start+1:], uint32(body+4))
	binary.BigEndian.PutUint32(b[start+5:], uint32(count))
	return b
}

// AppendList appends an AMQP list of arbitrary values.
func AppendList(b []byte, l []any) ([]byte, error) {
	b, start := BeginComposite(b)
	var err error
	for _, v := range l {
		if b, err = Append(b, v); err != nil {
			return b, err
		}
	}
	return EndList(b, start, len(l)), nil
}

// AppendMap appends an AMQP map in pair order.
func AppendMap(b []byte, m Map) ([]byte, error) {
	b, start := BeginComposite(b)
	var err error
	for _, p := range m {
		if b, err = Append(b, p.Key); err != nil {
			return b, err
		}
		if b, err = Append(b, p.Value); err != nil {
			return b, err
		}
	}
	return EndMap(b, start, 2*len(m)), nil
}

// AppendStringMap appends a map whose keys are AMQP strings. Go map order is random; AMQP maps
// are unordered, so that is acceptable.
func AppendStringMap(b []byte, m map[string]any) ([]byte, error) {
	b, start := BeginComposite(b)
	var err error
	for k, v := range m {
		b = AppendString(b, k)
		if b, err = Append(b, v); err != nil {
			return b, err
		}
	}
	return EndMap(b, start, 2*len(m)), nil
}

// AppendSymbolMap appends a map whose keys are AMQP symbols (annotations, link properties).
func AppendSymbolMap(b []byte, m map[string]any) ([]byte, error) {
	b, start := BeginComposite(b)
	var err error
	for k, v := range m {
		b = AppendSymbol(b, k)
		if b, err = Append(b, v); err != nil {
			return b, err
		}
	}
	return EndMap(b, start, 2*len(m)), nil
}

// AppendArray appends an AMQP array; each element uses the wide form of a.Code.
func AppendArray(b []byte, a Array) ([]byte, error) {
	start := len(b)
	b = append(b, TypeArray32, 0, 0, 0, 0, 0, 0, 0, 0)
	if a.Descriptor != nil {
		var err error
		b = append(b, TypeDescribed)
		if b, err = Append(b, a.Descriptor); err != nil {
			return b, err
		}
	}
	code := wideCode(a.Code)
	b = append(b, code)
	for _, v := range a.Values {
		var err error
		if b, err = appendBody(b, code, v); err != nil {
			return b, err
		}
	}
	binary.BigEndian.PutUint32(b[start+1:], uint32(len(b)-start-5))
	binary.BigEndian.PutUint32(b[start+5:], uint32(len(a.Values)))
	return b, nil
}

// wideCode maps a compact format code to the fixed-width code that array elements need.
func wideCode(c byte) byte {
	switch c {
	case TypeBoolTrue, TypeBoolFalse:
		return TypeBool
	case TypeSmallUint, TypeUint0:
		return TypeUint
	case TypeSmallUlong, TypeUlong0:
		return TypeUlong
	case TypeSmallInt:
		return TypeInt
	case TypeSmallLong:
		return TypeLong
	case TypeVbin8:
		return TypeVbin32
	case TypeStr8:
		return TypeStr32
	case TypeSym8:
		return TypeSym32
	case TypeList0, TypeList8:
		return TypeList32
	case TypeMap8:
		return TypeMap32
	case TypeArray8:
		return TypeArray32
	}
	return c
}

// appendBody appends v without its constructor in the wide encoding code.
func appendBody(b []byte, code byte, v any) ([]byte, error) {
	bad := func() ([]byte, error) {
		return b, fmt.Errorf("array element %T for code %#x: %w", v, code, ErrUnsupportedType)
	}
	switch code {
	case TypeNull:
		if v != nil {
			return bad()
		}
		return b, nil
	case TypeBool:
		t, ok := v.(bool)
		if !ok {
			return bad()
		}
		if t {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case TypeUbyte, TypeByte:
		switch t := v.(type) {
		case uint8:
			return append(b, t), nil
		case int8:
			return append(b, byte(t)), nil
		}
		return bad()
	case TypeUshort, TypeShort:
		switch t := v.(type) {
		case uint16:
			return binary.BigEndian.AppendUint16(b, t), nil
		case int16:
			return binary.BigEndian.AppendUint16(b, uint16(t)), nil
		}
		return bad()
	case TypeUint, TypeInt, TypeFloat, TypeChar:
		switch t := v.(type) {
		case uint32:
			return binary.BigEndian.AppendUint32(b, t), nil
		case int32:
			return binary.BigEndian.AppendUint32(b, uint32(t)), nil
		case float32:
			return binary.BigEndian.AppendUint32(b, math.Float32bits(t)), nil
		case Char:
			return binary.BigEndian.AppendUint32(b, uint32(t)), nil
		}
		return bad()
	case TypeUlong, TypeLong, TypeDouble, TypeTimestamp:
		switch t := v.(type) {
		case uint64:
			return binary.BigEndian.AppendUint64(b, t), nil
		case int64:
			return binary.BigEndian.AppendUint64(b, uint64(t)), nil
		case float64:
			return binary.BigEndian.AppendUint64(b, math.Float64bits(t)), nil
		case time.Time:
			return binary.BigEndian.AppendUint64(b, uint64(t.UnixMilli())), nil
		}
		return bad()
	case TypeDecimal32:
		t, ok := v.(Decimal32)
		if !ok {
			return bad()
		}
		return append(b, t[:]...), nil
	case TypeDecimal64:
		t, ok := v.(Decimal64)
		if !ok {
			return bad()
		}
		return append(b, t[:]...), nil
	case TypeDecimal128:
		t, ok := v.(Decimal128)
		if !ok {
			return bad()
		}
		return append(b, t[:]...), nil
	case TypeUUID:
		t, ok := v.(UUID)
		if !ok {
			return bad()
		}
		return append(b, t[:]...), nil
	case TypeVbin32, TypeStr32, TypeSym32:
		var s []byte
		switch t := v.(type) {
		case []byte:
			s = t
		case string:
			s = []byte(t)
		case Symbol:
			s = []byte(t)
		default:
			return bad()
		}
		return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...), nil
	case TypeList32, TypeMap32, TypeArray32:
		// Encode with a constructor, then drop it: the wide composite forms all start with size+count.
		var enc []byte
		var err error
		switch t := v.(type) {
		case []any:
			if code != TypeList32 {
				return bad()
			}
			enc, err = AppendList(nil, t)
		case Map:
			if code != TypeMap32 {
				return bad()
			}
			enc, err = AppendMap(nil, t)
		case Array:
			if code != TypeArray32 {
				return bad()
			}
			enc, err = AppendArray(nil, t)
		default:
			return bad()
		}
		if err != nil {
			return b, err
		}
		return append(b, widen(enc)[1:]...), nil
	}
	return bad()
}

// widen re-encodes a compact list/map header in its 32-bit form.
func widen(enc []byte) []byte {
	switch enc[0] {
	case TypeList0:
		return []byte{TypeList32, 0, 0, 0, 4, 0, 0, 0, 0}
	case TypeList8, TypeMap8:
		size, count := uint32(enc[1]), uint32(enc[2])
		out := make([]byte, 0, len(enc)+6)
		out = append(out, enc[0]+0x10)
		out = binary.BigEndian.AppendUint32(out, size+3)
		out = binary.BigEndian.AppendUint32(out, count)
		return append(out, enc[3:]...)
	}
	return enc
}
