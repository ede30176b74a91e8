package frames

import (
	"errors"
	"fmt"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// Parse decodes a frame body of frame type typ. It returns a nil performative for an empty
// (keep-alive) body, and for transfers the payload that follows the performative (not copied).
// Errors wrap ErrMalformed, ErrMissingField or ErrUnknownPerformative.
func Parse(typ uint8, body []byte) (Performative, []byte, error) {
	if len(body) == 0 {
		return nil, nil, nil
	}
	d := enc.NewDecoder(body)
	code, sym, err := d.Descriptor()
	if err != nil {
		return nil, nil, wrapMalformed(err)
	}
	if sym != "" {
		return nil, nil, fmt.Errorf("symbolic descriptor %q: %w", sym, ErrUnknownPerformative)
	}
	fields, n, err := d.ListHeader()
	if err != nil {
		return nil, nil, wrapMalformed(err)
	}
	r := &fieldReader{d: fields, count: n}
	var p Performative
	if typ == TypeSASL {
		p, err = parseSASL(code, r)
	} else {
		p, err = parseAMQP(code, r)
	}
	if err != nil {
		return nil, nil, wrapMalformed(err)
	}
	return p, d.Rest(), nil
}

func wrapMalformed(err error) error {
	if errors.Is(err, ErrMissingField) || errors.Is(err, ErrUnknownPerformative) || errors.Is(err, ErrMalformed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

func missing(name string) error { return fmt.Errorf("%s: %w", name, ErrMissingField) }

func parseAMQP(code uint64, r *fieldReader) (Performative, error) {
	switch code {
	case codeOpen:
		return parseOpen(r)
	case codeBegin:
		return parseBegin(r)
	case codeAttach:
		return parseAttach(r)
	case codeFlow:
		return parseFlow(r)
	case codeTransfer:
		return parseTransfer(r)
	case codeDisposition:
		return parseDisposition(r)
	case codeDetach:
		p := &Detach{}
		var err error
		if !r.next() {
			return nil, missing("detach.handle")
		}
		if p.Handle, _, err = r.d.Uint(); err != nil {
			return nil, err
		}
		if r.next() {
			if p.Closed, _, err = r.d.Bool(); err != nil {
				return nil, err
			}
		}
		if r.next() {
			if p.Error, err = readError(r.d); err != nil {
				return nil, err
			}
		}
		return p, nil
	case codeEnd, codeClose:
		var e *Error
		var err error
		if r.next() {
			if e, err = readError(r.d); err != nil {
				return nil, err
			}
		}
		if code == codeEnd {
			return &End{Error: e}, nil
		}
		return &Close{Error: e}, nil
	}
	return nil, fmt.Errorf("descriptor %#x: %w", code, ErrUnknownPerformative)
}

func parseOpen(r *fieldReader) (*Open, error) {
	p := &Open{}
	var err error
	if !r.next() {
		return nil, missing("open.container-id")
	}
	if p.ContainerID, _, err = r.d.Text(); err != nil {
		return nil, err
	}
	if r.next() {
		if p.Hostname, _, err = r.d.Text(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.MaxFrameSize, _, err = r.d.Uint(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		v, err := r.d.Value()
		if err != nil {
			return nil, err
		}
		cm, ok := v.(uint16)
		if !ok {
			return nil, fmt.Errorf("open.channel-max of type %T: %w", v, enc.ErrType)
		}
		p.ChannelMax, p.ChannelMaxSet = cm, true
	}
	if r.next() {
		if p.IdleTimeout, _, err = r.d.Uint(); err != nil {
			return nil, err
		}
	}
	for range 2 { // outgoing-locales, incoming-locales
		if r.next() {
			if _, err := r.d.Symbols(); err != nil {
				return nil, err
			}
		}
	}
	if r.next() {
		if p.OfferedCapabilities, err = r.d.Symbols(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.DesiredCapabilities, err = r.d.Symbols(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.Properties, err = r.d.Map(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func parseBegin(r *fieldReader) (*Begin, error) {
	p := &Begin{}
	var err error
	if r.next() {
		v, err := r.d.Value()
		if err != nil {
			return nil, err
		}
		rc, ok := v.(uint16)
		if !ok {
			return nil, fmt.Errorf("begin.remote-channel of type %T: %w", v, enc.ErrType)
		}
		p.RemoteChannel = &rc
	}
	for i, dst := range []*uint32{&p.NextOutgoingID, &p.IncomingWindow, &p.OutgoingWindow} {
		if !r.next() {
			return nil, missing([]string{"begin.next-outgoing-id", "begin.incoming-window", "begin.outgoing-window"}[i])
		}
		if *dst, _, err = r.d.Uint(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.HandleMax, _, err = r.d.Uint(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.OfferedCaps, err = r.d.Symbols(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.DesiredCaps, err = r.d.Symbols(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.Properties, err = r.d.Map(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func parseAttach(r *fieldReader) (*Attach, error) {
	p := &Attach{}
	var err error
	if !r.next() {
		return nil, missing("attach.name")
	}
	if p.Name, _, err = r.d.Text(); err != nil {
		return nil, err
	}
	if !r.next() {
		return nil, missing("attach.handle")
	}
	if p.Handle, _, err = r.d.Uint(); err != nil {
		return nil, err
	}
	if !r.next() {
		return nil, missing("attach.role")
	}
	if p.Role, _, err = r.d.Bool(); err != nil {
		return nil, err
	}
	for _, dst := range []**uint8{&p.SenderSettleMode, &p.ReceiverSettleMode} {
		if r.next() {
			v, _, err := r.d.Ubyte()
			if err != nil {
				return nil, err
			}
			if v > 2 {
				return nil, fmt.Errorf("settle mode %d: %w", v, ErrMalformed)
			}
			*dst = &v
		}
	}
	if r.next() {
		if p.Source, err = readSource(r.d); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.Target, err = readTarget(r.d); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.Unsettled, err = r.d.Map(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.IncompleteUnsettled, _, err = r.d.Bool(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		v, _, err := r.d.Uint()
		if err != nil {
			return nil, err
		}
		p.InitialDeliveryCount = &v
	}
	if r.next() {
		if p.MaxMessageSize, _, err = r.d.Ulong(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.OfferedCapabilities, err = r.d.Symbols(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.DesiredCapabilities, err = r.d.Symbols(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.Properties, err = r.d.Map(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func readSource(d *enc.Decoder) (*Source, error) {
	code, _, err := d.Descriptor()
	if err != nil {
		return nil, err
	}
	if code != codeSource {
		return nil, fmt.Errorf("source descriptor %#x: %w", code, ErrMalformed)
	}
	fields, n, err := d.ListHeader()
	if err != nil {
		return nil, err
	}
	r := &fieldReader{d: fields, count: n}
	s := &Source{}
	if r.next() {
		if s.Address, _, err = fields.Text(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if s.Durable, _, err = fields.Uint(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		v, _, err := fields.Text()
		if err != nil {
			return nil, err
		}
		s.ExpiryPolicy = enc.Symbol(v)
	}
	if r.next() {
		if s.Timeout, _, err = fields.Uint(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if s.Dynamic, _, err = fields.Bool(); err != nil {
			return nil, err
		}
	}
	for range 2 { // dynamic-node-properties, distribution-mode
		if r.next() {
			if err := fields.Skip(); err != nil {
				return nil, err
			}
		}
	}
	if r.next() {
		if s.Filter, err = fields.Map(); err != nil {
			return nil, err
		}
	}
	if r.next() { // default-outcome
		if err := fields.Skip(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if s.Outcomes, err = fields.Symbols(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if s.Capabilities, err = fields.Symbols(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func readTarget(d *enc.Decoder) (*Target, error) {
	code, _, err := d.Descriptor()
	if err != nil {
		return nil, err
	}
	if code != codeTarget {
		return nil, fmt.Errorf("target descriptor %#x: %w", code, ErrMalformed)
	}
	fields, n, err := d.ListHeader()
	if err != nil {
		return nil, err
	}
	r := &fieldReader{d: fields, count: n}
	t := &Target{}
	if r.next() {
		if t.Address, _, err = fields.Text(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if t.Durable, _, err = fields.Uint(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		v, _, err := fields.Text()
		if err != nil {
			return nil, err
		}
		t.ExpiryPolicy = enc.Symbol(v)
	}
	if r.next() {
		if t.Timeout, _, err = fields.Uint(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if t.Dynamic, _, err = fields.Bool(); err != nil {
			return nil, err
		}
	}
	if r.next() { // dynamic-node-properties
		if err := fields.Skip(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if t.Capabilities, err = fields.Symbols(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func optUint(r *fieldReader, dst **uint32) error {
	if !r.next() {
		return nil
	}
	v, _, err := r.d.Uint()
	if err != nil {
		return err
	}
	*dst = &v
	return nil
}

func parseFlow(r *fieldReader) (*Flow, error) {
	p := &Flow{}
	var err error
	if err = optUint(r, &p.NextIncomingID); err != nil {
		return nil, err
	}
	for i, dst := range []*uint32{&p.IncomingWindow, &p.NextOutgoingID, &p.OutgoingWindow} {
		if !r.next() {
			return nil, missing([]string{"flow.incoming-window", "flow.next-outgoing-id", "flow.outgoing-window"}[i])
		}
		if *dst, _, err = r.d.Uint(); err != nil {
			return nil, err
		}
	}
	for _, dst := range []**uint32{&p.Handle, &p.DeliveryCount, &p.LinkCredit, &p.Available} {
		if err = optUint(r, dst); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.Drain, _, err = r.d.Bool(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.Echo, _, err = r.d.Bool(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.Properties, err = r.d.Map(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func parseTransfer(r *fieldReader) (*Transfer, error) {
	p := &Transfer{}
	var err error
	if !r.next() {
		return nil, missing("transfer.handle")
	}
	if p.Handle, _, err = r.d.Uint(); err != nil {
		return nil, err
	}
	if err = optUint(r, &p.DeliveryID); err != nil {
		return nil, err
	}
	if r.next() {
		if p.DeliveryTag, _, err = r.d.Binary(); err != nil {
			return nil, err
		}
	}
	if err = optUint(r, &p.MessageFormat); err != nil {
		return nil, err
	}
	if r.next() {
		if p.Settled, _, err = r.d.Bool(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.More, _, err = r.d.Bool(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		v, _, err := r.d.Ubyte()
		if err != nil {
			return nil, err
		}
		p.RcvSettleMode = &v
	}
	if r.next() {
		if p.State, err = readState(r.d); err != nil {
			return nil, err
		}
	}
	for _, dst := range []*bool{&p.Resume, &p.Aborted, &p.Batchable} {
		if r.next() {
			if *dst, _, err = r.d.Bool(); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func parseDisposition(r *fieldReader) (*Disposition, error) {
	p := &Disposition{}
	var err error
	if !r.next() {
		return nil, missing("disposition.role")
	}
	if p.Role, _, err = r.d.Bool(); err != nil {
		return nil, err
	}
	if !r.next() {
		return nil, missing("disposition.first")
	}
	if p.First, _, err = r.d.Uint(); err != nil {
		return nil, err
	}
	if err = optUint(r, &p.Last); err != nil {
		return nil, err
	}
	if r.next() {
		if p.Settled, _, err = r.d.Bool(); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.State, err = readState(r.d); err != nil {
			return nil, err
		}
	}
	if r.next() {
		if p.Batchable, _, err = r.d.Bool(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func parseSASL(code uint64, r *fieldReader) (Performative, error) {
	var err error
	switch code {
	case codeSASLMechanisms:
		p := &SASLMechanisms{}
		if !r.next() {
			return nil, missing("sasl-mechanisms.sasl-server-mechanisms")
		}
		if p.Mechanisms, err = r.d.Symbols(); err != nil {
			return nil, err
		}
		return p, nil
	case codeSASLInit:
		p := &SASLInit{}
		if !r.next() {
			return nil, missing("sasl-init.mechanism")
		}
		m, _, err := r.d.Text()
		if err != nil {
			return nil, err
		}
		p.Mechanism = enc.Symbol(m)
		if r.next() {
			if p.InitialResponse, _, err = r.d.Binary(); err != nil {
				return nil, err
			}
		}
		if r.next() {
			if p.Hostname, _, err = r.d.Text(); err != nil {
				return nil, err
			}
		}
		return p, nil
	case codeSASLChallenge, codeSASLResponse:
		if !r.next() {
			return nil, missing("sasl challenge/response data")
		}
		v, _, err := r.d.Binary()
		if err != nil {
			return nil, err
		}
		if code == codeSASLChallenge {
			return &SASLChallenge{Challenge: v}, nil
		}
		return &SASLResponse{Response: v}, nil
	case codeSASLOutcome:
		p := &SASLOutcome{}
		if !r.next() {
			return nil, missing("sasl-outcome.code")
		}
		if p.Code, _, err = r.d.Ubyte(); err != nil {
			return nil, err
		}
		if r.next() {
			if p.AdditionalData, _, err = r.d.Binary(); err != nil {
				return nil, err
			}
		}
		return p, nil
	}
	return nil, fmt.Errorf("SASL descriptor %#x: %w", code, ErrUnknownPerformative)
}
