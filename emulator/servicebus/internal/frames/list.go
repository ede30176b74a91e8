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

// composite writes a described value; present guards against a typed nil pointer, which
// value would otherwise try to encode.
func (w *listWriter) composite(v any, present bool) {
	if !present {
		w.null()
		return
	}
	w.value(v)
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

// fieldReader walks the fields of a composite's list; fields past the end read as null. Like
// listWriter it keeps the first error: once a read fails (or a mandatory field is absent) every
// later read is a no-op, so a parser reads its fields in spec order and checks err once.
type fieldReader struct {
	d     *enc.Decoder
	count int
	i     int
	need  string // name of the next field when it is mandatory
	err   error
}

// readList starts a fieldReader over the list that d is positioned on.
// It returns a value so that the reader stays on the caller's stack.
func readList(d *enc.Decoder) (fieldReader, error) {
	fields, n, err := d.ListHeader()
	return fieldReader{d: fields, count: n}, err
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

// required marks the next field mandatory: reading it absent records ErrMissingField for name.
func (r *fieldReader) required(name string) *fieldReader {
	r.need = name
	return r
}

// present moves to the next field and reports whether it should be decoded.
func (r *fieldReader) present() bool {
	name := r.need
	r.need = ""
	if r.err != nil {
		return false
	}
	if r.next() {
		return true
	}
	if name != "" {
		r.err = missing(name)
	}
	return false
}

func (r *fieldReader) uint(dst *uint32) {
	if r.present() {
		*dst, _, r.err = r.d.Uint()
	}
}

func (r *fieldReader) uintp(dst **uint32) {
	if r.present() {
		var v uint32
		if v, _, r.err = r.d.Uint(); r.err == nil {
			*dst = &v
		}
	}
}

func (r *fieldReader) ulong(dst *uint64) {
	if r.present() {
		*dst, _, r.err = r.d.Ulong()
	}
}

func (r *fieldReader) ubyte(dst *uint8) {
	if r.present() {
		*dst, _, r.err = r.d.Ubyte()
	}
}

func (r *fieldReader) ubytep(dst **uint8) {
	if r.present() {
		var v uint8
		if v, _, r.err = r.d.Ubyte(); r.err == nil {
			*dst = &v
		}
	}
}

func (r *fieldReader) bool(dst *bool) {
	if r.present() {
		*dst, _, r.err = r.d.Bool()
	}
}

func (r *fieldReader) str(dst *string) {
	if r.present() {
		*dst, _, r.err = r.d.Text()
	}
}

func (r *fieldReader) sym(dst *enc.Symbol) {
	if r.present() {
		var v string
		v, _, r.err = r.d.Text()
		*dst = enc.Symbol(v)
	}
}

func (r *fieldReader) binary(dst *[]byte) {
	if r.present() {
		*dst, _, r.err = r.d.Binary()
	}
}

func (r *fieldReader) symbols(dst *[]enc.Symbol) {
	if r.present() {
		*dst, r.err = r.d.Symbols()
	}
}

func (r *fieldReader) mapv(dst *enc.Map) {
	if r.present() {
		*dst, r.err = r.d.Map()
	}
}

func (r *fieldReader) error(dst **Error) {
	if r.present() {
		*dst, r.err = readError(r.d)
	}
}

func (r *fieldReader) state(dst *DeliveryState) {
	if r.present() {
		*dst, r.err = readState(r.d)
	}
}

// skip passes over n fields the emulator does not use.
func (r *fieldReader) skip(n int) {
	for range n {
		if r.present() {
			r.err = r.d.Skip()
		}
	}
}
