package frames

import (
	"fmt"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// DeliveryState is one of the delivery states and outcomes of part 3, section 3.4.
type DeliveryState interface {
	Performative
	deliveryState()
}

// Received is the non-terminal received state.
type Received struct {
	SectionNumber uint32
	SectionOffset uint64
}

// Accepted is the accepted outcome.
type Accepted struct{}

// Rejected is the rejected outcome.
type Rejected struct{ Error *Error }

// Released is the released outcome.
type Released struct{}

// Modified is the modified outcome.
type Modified struct {
	DeliveryFailed     bool
	UndeliverableHere  bool
	MessageAnnotations enc.Map
}

func (*Received) deliveryState() {}
func (*Accepted) deliveryState() {}
func (*Rejected) deliveryState() {}
func (*Released) deliveryState() {}
func (*Modified) deliveryState() {}

// AppendAMQP encodes the received state.
func (s *Received) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeReceived)
	w.uint(s.SectionNumber)
	w.ulong(s.SectionOffset, true)
	return w.done()
}

// AppendAMQP encodes the accepted outcome.
func (s *Accepted) AppendAMQP(b []byte) ([]byte, error) {
	return newList(b, codeAccepted).done()
}

// AppendAMQP encodes the rejected outcome.
func (s *Rejected) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeRejected)
	w.composite(s.Error, s.Error != nil)
	return w.done()
}

// AppendAMQP encodes the released outcome.
func (s *Released) AppendAMQP(b []byte) ([]byte, error) {
	return newList(b, codeReleased).done()
}

// AppendAMQP encodes the modified outcome.
func (s *Modified) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeModified)
	w.bool(s.DeliveryFailed, s.DeliveryFailed)
	w.bool(s.UndeliverableHere, s.UndeliverableHere)
	w.mapv(s.MessageAnnotations)
	return w.done()
}

// readState decodes a delivery state field (null gives nil).
func readState(d *enc.Decoder) (DeliveryState, error) {
	if d.IsNull() {
		return nil, d.Skip()
	}
	code, _, err := d.Descriptor()
	if err != nil {
		return nil, err
	}
	r, err := readList(d)
	if err != nil {
		return nil, err
	}
	var s DeliveryState
	switch code {
	case codeReceived:
		v := &Received{}
		r.uint(&v.SectionNumber)
		r.ulong(&v.SectionOffset)
		s = v
	case codeAccepted:
		s = &Accepted{}
	case codeRejected:
		v := &Rejected{}
		r.error(&v.Error)
		s = v
	case codeReleased:
		s = &Released{}
	case codeModified:
		v := &Modified{}
		r.bool(&v.DeliveryFailed)
		r.bool(&v.UndeliverableHere)
		r.mapv(&v.MessageAnnotations)
		s = v
	default:
		return nil, fmt.Errorf("delivery state descriptor %#x: %w", code, ErrMalformed)
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// readError decodes an error composite (a null field gives nil).
func readError(d *enc.Decoder) (*Error, error) {
	if d.IsNull() {
		return nil, d.Skip()
	}
	r, err := readComposite(d, codeError, "error")
	if err != nil {
		return nil, err
	}
	e := &Error{}
	r.required("error.condition").sym(&e.Condition)
	r.str(&e.Description)
	r.mapv(&e.Info)
	if r.err != nil {
		return nil, r.err
	}
	return e, nil
}
