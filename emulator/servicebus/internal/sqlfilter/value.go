package sqlfilter

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/google/uuid"
)

// Values during evaluation are normalized Go values: nil (NULL or
// unknown), bool, int64, float64, string, time.Time, time.Duration,
// uuid.UUID, or an opaque value the language can only test for equality.
// normalize maps what a message carries onto that set: every signed and
// unsigned integer type to int64 (a uint64 above MaxInt64 to float64, the
// nearest C# numeric promotion), float32 to float64, named string / bool /
// number types (AMQP symbol, char) to their underlying kind, and any
// [16]byte array type (AMQP uuid) to uuid.UUID.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, time.Time, time.Duration, uuid.UUID:
		return x
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint:
		return uintValue(uint64(x))
	case uint64:
		return uintValue(x)
	case float32:
		return float64(x)
	case []byte:
		return x
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return uintValue(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.Array:
		if rv.Len() == 16 && rv.Type().Elem().Kind() == reflect.Uint8 {
			var u uuid.UUID
			reflect.Copy(reflect.ValueOf(u[:]), rv)
			return u
		}
	}
	return v
}

func uintValue(u uint64) any {
	if u <= math.MaxInt64 {
		return int64(u)
	}
	return float64(u)
}

// typeName names a normalized value's type the way the service's error
// texts do (C# keyword names).
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case int64:
		return "long"
	case float64:
		return "double"
	case string:
		return "string"
	case time.Time:
		return "DateTime"
	case time.Duration:
		return "TimeSpan"
	case uuid.UUID:
		return "Guid"
	case []byte:
		return "byte[]"
	}
	return fmt.Sprintf("%T", v)
}

func mismatch(op string, a, b any) error {
	return fmt.Errorf("%w: operator %s is not defined for %s and %s", ErrTypeMismatch, op, typeName(a), typeName(b))
}

// tri is a three-valued truth value.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// compare applies a comparison operator with C# binding: numbers compare by
// value after promotion (long to double when mixed); string, bool and Guid
// support only = and <> (C# defines no ordering operators on them; string
// equality is ordinal, so case-sensitive); DateTime and TimeSpan support all
// six; any other type compares for equality with a value of the same type.
// NULL on either side gives unknown.
func compare(op string, a, b any) (tri, error) {
	if a == nil || b == nil {
		return triUnknown, nil
	}
	if op == "!=" {
		op = "<>"
	}
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return order(op, cmpInt(x, y)), nil
		case float64:
			return orderFloat(op, float64(x), y), nil
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return orderFloat(op, x, float64(y)), nil
		case float64:
			return orderFloat(op, x, y), nil
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return order(op, x.Compare(y)), nil
		}
	case time.Duration:
		if y, ok := b.(time.Duration); ok {
			return order(op, cmpInt(int64(x), int64(y))), nil
		}
	}
	if op != "=" && op != "<>" {
		return triUnknown, mismatch(op, a, b)
	}
	eq, err := equal(a, b)
	if err != nil {
		return triUnknown, mismatch(op, a, b)
	}
	return triOf(eq == (op == "=")), nil
}

// equal is equality for non-numeric, non-NULL values of the same type.
func equal(a, b any) (bool, error) {
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return x == y, nil
		}
	case bool:
		if y, ok := b.(bool); ok {
			return x == y, nil
		}
	case []byte:
		if y, ok := b.([]byte); ok {
			return bytes.Equal(x, y), nil
		}
	default:
		ta := reflect.TypeOf(a)
		if ta == reflect.TypeOf(b) && ta.Comparable() {
			return a == b, nil
		}
	}
	return false, ErrTypeMismatch
}

func cmpInt(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func order(op string, c int) tri {
	switch op {
	case "=":
		return triOf(c == 0)
	case "<>":
		return triOf(c != 0)
	case "<":
		return triOf(c < 0)
	case "<=":
		return triOf(c <= 0)
	case ">":
		return triOf(c > 0)
	}
	return triOf(c >= 0) // ">="
}

// orderFloat compares IEEE doubles: every comparison with NaN is false
// except <>, as in C#.
func orderFloat(op string, x, y float64) tri {
	switch op {
	case "=":
		return triOf(x == y)
	case "<>":
		return triOf(x != y)
	case "<":
		return triOf(x < y)
	case "<=":
		return triOf(x <= y)
	case ">":
		return triOf(x > y)
	}
	return triOf(x >= y)
}

// arith applies + - * / % with C# binding: long op long stays long
// (unchecked, so it wraps; / truncates; division by zero fails), a double on
// either side makes it double (IEEE: x/0 is infinite), string + string
// concatenates, and DateTime/TimeSpan support the +/- operators .NET
// defines. NULL on either side gives NULL.
func arith(op string, a, b any) (any, error) {
	if a == nil || b == nil {
		return nil, nil
	}
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return arithInt(op, x, y)
		case float64:
			return arithFloat(op, float64(x), y), nil
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return arithFloat(op, x, float64(y)), nil
		case float64:
			return arithFloat(op, x, y), nil
		}
	case string:
		if y, ok := b.(string); ok && op == "+" {
			return x + y, nil
		}
	case time.Time:
		switch y := b.(type) {
		case time.Duration:
			switch op {
			case "+":
				return x.Add(y), nil
			case "-":
				return x.Add(-y), nil
			}
		case time.Time:
			if op == "-" {
				return x.Sub(y), nil
			}
		}
	case time.Duration:
		switch y := b.(type) {
		case time.Duration:
			switch op {
			case "+":
				return x + y, nil
			case "-":
				return x - y, nil
			}
		case time.Time:
			if op == "+" {
				return y.Add(x), nil
			}
		}
	}
	return nil, mismatch(op, a, b)
}

func arithInt(op string, x, y int64) (any, error) {
	switch op {
	case "+":
		return x + y, nil
	case "-":
		return x - y, nil
	case "*":
		return x * y, nil
	}
	if y == 0 {
		return nil, fmt.Errorf("%w: %d %s 0", ErrDivideByZero, x, op)
	}
	if x == math.MinInt64 && y == -1 {
		return nil, fmt.Errorf("%w: %d %s -1", ErrOverflow, x, op)
	}
	if op == "/" {
		return x / y, nil
	}
	return x % y, nil
}

func arithFloat(op string, x, y float64) any {
	switch op {
	case "+":
		return x + y
	case "-":
		return x - y
	case "*":
		return x * y
	case "/":
		return x / y
	}
	return math.Mod(x, y)
}

// negate applies unary minus (or plus) to a number or TimeSpan.
func negate(op string, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		if op == "-" {
			return -x, nil
		}
		return x, nil
	case float64:
		if op == "-" {
			return -x, nil
		}
		return x, nil
	case time.Duration:
		if op == "-" {
			return -x, nil
		}
		return x, nil
	}
	return nil, fmt.Errorf("%w: unary %s is not defined for %s", ErrTypeMismatch, op, typeName(v))
}
