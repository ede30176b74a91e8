package frames

import (
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// listWriter encodes the field list of a described composite, dropping trailing nulls as the
// spec allows.
type listWriter struct {
	b       []byte
	start   int
	n       int
	keepLen int
	keepN   int
	err     error
}

func newList(b []byte, descriptor uint64) *listWriter {
	b = enc.AppendDescriptor(b, descriptor)
	b, start := enc.BeginComposite(b)
	return &listWriter{b: b, start: start, keepLen: len(b)}
}

func (w *listWriter) keep() {
	w.n++
	w.keepLen, w.keepN = len(w.b), w.n
}

func (w *listWriter) null() {
	w.b = append(w.b, enc.TypeNull)
	w.n++
}

func (w *listWriter) str(s string, present bool) {
	if !present {
		w.null()
		return
	}
	w.b = enc.AppendString(w.b, s)
	w.keep()
}

func (w *listWriter) sym(s string, present bool) {
	if !present {
		w.null()
		return
	}
	w.b = enc.AppendSymbol(w.b, s)
	w.keep()
}

func (w *listWriter) uint(v uint32) {
	w.b = enc.AppendUint(w.b, v)
	w.keep()
}

func (w *listWriter) uintp(v *uint32) {
	if v == nil {
		w.null()
		return
	}
	w.uint(*v)
}

func (w *listWriter) ulong(v uint64, present bool) {
	if !present {
		w.null()
		return
	}
	w.b = enc.AppendUlong(w.b, v)
	w.keep()
}

func (w *listWriter) ushort(v uint16, present bool) {
	if !present {
		w.null()
		return
	}
	w.b = append(w.b, enc.TypeUshort, byte(v>>8), byte(v))
	w.keep()
}

func (w *listWriter) ubyte(v *uint8) {
	if v == nil {
		w.null()
		return
	}
	w.b = append(w.b, enc.TypeUbyte, *v)
	w.keep()
}

func (w *listWriter) bool(v bool, present bool) {
	if !present {
		w.null()
		return
	}
	w.b = enc.AppendBool(w.b, v)
	w.keep()
}

func (w *listWriter) binary(v []byte, present bool) {
	if !present {
		w.null()
		return
	}
	w.b = enc.AppendBinary(w.b, v)
	w.keep()
}

func (w *listWriter) value(v any) {
	if v == nil {
		w.null()
		return
	}
	if w.err == nil {
		w.b, w.err = enc.Append(w.b, v)
	}
	w.keep()
}

func (w *listWriter) symbols(s []enc.Symbol) {
	if len(s) == 0 {
		w.null()
		return
	}
	vals := make([]any, len(s))
	for i, x := range s {
		vals[i] = x
	}
	w.value(enc.Array{Code: enc.TypeSym32, Values: vals})
}

func (w *listWriter) mapv(m enc.Map) {
	if m == nil {
		w.null()
		return
	}
	w.value(m)
}

func (w *listWriter) done() ([]byte, error) {
	if w.err != nil {
		return w.b, w.err
	}
	return enc.EndList(w.b[:w.keepLen], w.start, w.keepN), nil
}

// fieldReader walks the fields of a performative's list; fields past the end read as null.
type fieldReader struct {
	d     *enc.Decoder
	count int
	i     int
}

// next reports whether field i is present in the list (and not null), positioning the decoder on it.
func (r *fieldReader) next() bool {
	r.i++
	if r.i > r.count {
		return false
	}
	if r.d.IsNull() {
		_ = r.d.Skip()
		return false
	}
	return true
}
