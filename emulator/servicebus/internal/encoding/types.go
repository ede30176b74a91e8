// Package encoding is the AMQP 1.0 type system codec (OASIS AMQP 1.0 part 1).
//
// Go representation of each AMQP type, used by both the decoder and the encoder:
//
//	null         nil
//	boolean      bool            (0x41 true, 0x42 false, 0x56 one byte)
//	ubyte        uint8
//	ushort       uint16
//	uint         uint32          (0x70, 0x52 smalluint, 0x43 uint0)
//	ulong        uint64          (0x80, 0x53 smallulong, 0x44 ulong0)
//	byte         int8
//	short        int16
//	int          int32           (0x71, 0x54 smallint)
//	long         int64           (0x81, 0x55 smalllong)
//	float        float32
//	double       float64
//	decimal32    Decimal32       (opaque IEEE 754 bytes)
//	decimal64    Decimal64
//	decimal128   Decimal128
//	char         Char            (UTF-32 code point)
//	timestamp    time.Time       (milliseconds since the Unix epoch, UTC)
//	uuid         UUID            (16 bytes, RFC 4122 order as on the wire)
//	binary       []byte
//	string       string
//	symbol       Symbol
//	list         []any
//	map          Map             (ordered pairs; keys may be any AMQP value)
//	array        Array
//	described    Described       (descriptor plus value)
//
// The encoder also accepts the Go types int (as long), uint (as ulong), map[string]any (a map with
// string keys) and []string (an array of string) for convenience.
package encoding

import "time"

// Symbol is an AMQP symbol: an ASCII string used for names and keys.
type Symbol string

// UUID is an AMQP uuid in wire (RFC 4122, big-endian) byte order.
type UUID [16]byte

// Char is an AMQP char: one UTF-32BE code point.
type Char rune

// Decimal32 holds the raw IEEE 754 decimal32 bytes; the emulator never does arithmetic on them.
type Decimal32 [4]byte

// Decimal64 holds the raw IEEE 754 decimal64 bytes.
type Decimal64 [8]byte

// Decimal128 holds the raw IEEE 754 decimal128 bytes.
type Decimal128 [16]byte

// Described is a described type that the codec does not interpret further.
type Described struct {
	Descriptor any // usually uint64 or Symbol
	Value      any
}

// Pair is one key/value entry of a Map.
type Pair struct {
	Key   any
	Value any
}

// Map is an AMQP map kept as ordered pairs, because AMQP keys may be values Go cannot hash (binary, lists).
type Map []Pair

// Get returns the value whose key is the string or symbol k.
func (m Map) Get(k string) (any, bool) {
	for _, p := range m {
		switch key := p.Key.(type) {
		case string:
			if key == k {
				return p.Value, true
			}
		case Symbol:
			if string(key) == k {
				return p.Value, true
			}
		}
	}
	return nil, false
}

// Array is an AMQP array: every element shares one constructor.
type Array struct {
	// Code is the element type's format code in its wide form (e.g. TypeLong); for described
	// elements it is the code of the underlying value.
	Code byte
	// Descriptor is non-nil when elements are described; each element is then the bare value.
	Descriptor any
	// Values are the elements in their Go representation.
	Values []any
}

// Format codes (part 1, section 1.6).
const (
	TypeDescribed  byte = 0x00
	TypeNull       byte = 0x40
	TypeBoolTrue   byte = 0x41
	TypeBoolFalse  byte = 0x42
	TypeBool       byte = 0x56
	TypeUbyte      byte = 0x50
	TypeUshort     byte = 0x60
	TypeUint       byte = 0x70
	TypeSmallUint  byte = 0x52
	TypeUint0      byte = 0x43
	TypeUlong      byte = 0x80
	TypeSmallUlong byte = 0x53
	TypeUlong0     byte = 0x44
	TypeByte       byte = 0x51
	TypeShort      byte = 0x61
	TypeInt        byte = 0x71
	TypeSmallInt   byte = 0x54
	TypeLong       byte = 0x81
	TypeSmallLong  byte = 0x55
	TypeFloat      byte = 0x72
	TypeDouble     byte = 0x82
	TypeDecimal32  byte = 0x74
	TypeDecimal64  byte = 0x84
	TypeDecimal128 byte = 0x94
	TypeChar       byte = 0x73
	TypeTimestamp  byte = 0x83
	TypeUUID       byte = 0x98
	TypeVbin8      byte = 0xa0
	TypeVbin32     byte = 0xb0
	TypeStr8       byte = 0xa1
	TypeStr32      byte = 0xb1
	TypeSym8       byte = 0xa3
	TypeSym32      byte = 0xb3
	TypeList0      byte = 0x45
	TypeList8      byte = 0xc0
	TypeList32     byte = 0xd0
	TypeMap8       byte = 0xc1
	TypeMap32      byte = 0xd1
	TypeArray8     byte = 0xe0
	TypeArray32    byte = 0xf0
)

// TimeFromMillis converts an AMQP timestamp to a UTC time.Time.
func TimeFromMillis(ms int64) time.Time {
	return time.UnixMilli(ms).UTC()
}
