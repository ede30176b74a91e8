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
	if s.Error != nil {
		w.value(s.Error)
	} else {
		w.null()
	}
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
	fields, n, err := d.ListHeader()
	if err != nil {
		return nil, err
	}
	r := &fieldReader{d: fields, count: n}
	switch code {
	case codeReceived:
		s := &Received{}
		if r.next() {
			if s.SectionNumber, _, err = fields.Uint(); err != nil {
				return nil, err
			}
		}
		if r.next() {
			if s.SectionOffset, _, err = fields.Ulong(); err != nil {
				return nil, err
			}
		}
		return s, nil
	case codeAccepted:
		return &Accepted{}, nil
	case codeRejected:
		s := &Rejected{}
		if r.next() {
			if s.Error, err = readError(fields); err != nil {
				return nil, err
			}
		}
		return s, nil
	case codeReleased:
		return &Released{}, nil
	case codeModified:
		s := &Modified{}
		if r.next() {
			if s.DeliveryFailed, _, err = fields.Bool(); err != nil {
				return nil, err
			}
		}
		if r.next() {
			if s.UndeliverableHere, _, err = fields.Bool(); err != nil {
				return nil, err
			}
		}
		if r.next() {
			if s.MessageAnnotations, err = fields.Map(); err != nil {
				return nil, err
			}
		}
		return s, nil
	}
	return nil, fmt.Errorf("delivery state descriptor %#x: %w", code, ErrMalformed)
}

// readError decodes an error composite (the field must be non-null).
func readError(d *enc.Decoder) (*Error, error) {
	if d.IsNull() {
		return nil, d.Skip()
	}
	code, _, err := d.Descriptor()
	if err != nil {
		return nil, err
	}
	if code != codeError {
		return nil, fmt.Errorf("error descriptor %#x: %w", code, ErrMalformed)
	}
	fields, n, err := d.ListHeader()
	if err != nil {
		return nil, err
	}
	r := &fieldReader{d: fields, count: n}
	e := &Error{}
	if !r.next() {
		return nil, fmt.Errorf("error.condition: %w", ErrMissingField)
	}
	c, _, err := fields.Text()
	if err != nil {
		return nil, err
	}
	e.Condition = enc.Symbol(c)
	if r.next() {
		if e.Description, _, err = fields.Text(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if e.Info, err = fields.Map(); err != nil {
			return nil, err
		}
	}
	return e, nil
}
