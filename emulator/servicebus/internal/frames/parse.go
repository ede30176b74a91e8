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
	r, err := readList(d)
	if err != nil {
		return nil, nil, wrapMalformed(err)
	}
	var p Performative
	if typ == TypeSASL {
		p, err = parseSASL(code, &r)
	} else {
		p, err = parseAMQP(code, &r)
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
	var p Performative
	switch code {
	case codeOpen:
		p = parseOpen(r)
	case codeBegin:
		p = parseBegin(r)
	case codeAttach:
		p = parseAttach(r)
	case codeFlow:
		p = parseFlow(r)
	case codeTransfer:
		p = parseTransfer(r)
	case codeDisposition:
		p = parseDisposition(r)
	case codeDetach:
		d := &Detach{}
		r.required("detach.handle").uint(&d.Handle)
		r.bool(&d.Closed)
		r.error(&d.Error)
		p = d
	case codeEnd:
		e := &End{}
		r.error(&e.Error)
		p = e
	case codeClose:
		c := &Close{}
		r.error(&c.Error)
		p = c
	default:
		return nil, fmt.Errorf("descriptor %#x: %w", code, ErrUnknownPerformative)
	}
	if r.err != nil {
		return nil, r.err
	}
	return p, nil
}

func parseOpen(r *fieldReader) *Open {
	p := &Open{}
	r.required("open.container-id").str(&p.ContainerID)
	r.str(&p.Hostname)
	r.uint(&p.MaxFrameSize)
	if r.present() {
		v, err := r.d.Value()
		cm, ok := v.(uint16)
		switch {
		case err != nil:
			r.err = err
		case !ok:
			r.err = fmt.Errorf("open.channel-max of type %T: %w", v, enc.ErrType)
		default:
			p.ChannelMax, p.ChannelMaxSet = cm, true
		}
	}
	r.uint(&p.IdleTimeout)
	var locales []enc.Symbol // outgoing-locales, incoming-locales: checked, not used
	r.symbols(&locales)
	r.symbols(&locales)
	r.symbols(&p.OfferedCapabilities)
	r.symbols(&p.DesiredCapabilities)
	r.mapv(&p.Properties)
	return p
}

func parseBegin(r *fieldReader) *Begin {
	p := &Begin{}
	if r.present() {
		v, err := r.d.Value()
		rc, ok := v.(uint16)
		switch {
		case err != nil:
			r.err = err
		case !ok:
			r.err = fmt.Errorf("begin.remote-channel of type %T: %w", v, enc.ErrType)
		default:
			p.RemoteChannel = &rc
		}
	}
	r.required("begin.next-outgoing-id").uint(&p.NextOutgoingID)
	r.required("begin.incoming-window").uint(&p.IncomingWindow)
	r.required("begin.outgoing-window").uint(&p.OutgoingWindow)
	r.uint(&p.HandleMax)
	r.symbols(&p.OfferedCaps)
	r.symbols(&p.DesiredCaps)
	r.mapv(&p.Properties)
	return p
}

func parseAttach(r *fieldReader) *Attach {
	p := &Attach{}
	r.required("attach.name").str(&p.Name)
	r.required("attach.handle").uint(&p.Handle)
	r.required("attach.role").bool(&p.Role)
	for _, dst := range []**uint8{&p.SenderSettleMode, &p.ReceiverSettleMode} {
		r.ubytep(dst)
		if *dst != nil && **dst > 2 && r.err == nil {
			r.err = fmt.Errorf("settle mode %d: %w", **dst, ErrMalformed)
		}
	}
	if r.present() {
		p.Source, r.err = readSource(r.d)
	}
	if r.present() {
		p.Target, r.err = readTarget(r.d)
	}
	r.mapv(&p.Unsettled)
	r.bool(&p.IncompleteUnsettled)
	r.uintp(&p.InitialDeliveryCount)
	r.ulong(&p.MaxMessageSize)
	r.symbols(&p.OfferedCapabilities)
	r.symbols(&p.DesiredCapabilities)
	r.mapv(&p.Properties)
	return p
}

func readSource(d *enc.Decoder) (*Source, error) {
	r, err := readComposite(d, codeSource, "source")
	if err != nil {
		return nil, err
	}
	s := &Source{}
	r.str(&s.Address)
	r.uint(&s.Durable)
	r.sym(&s.ExpiryPolicy)
	r.uint(&s.Timeout)
	r.bool(&s.Dynamic)
	r.skip(2) // dynamic-node-properties, distribution-mode
	r.mapv(&s.Filter)
	r.skip(1) // default-outcome
	r.symbols(&s.Outcomes)
	r.symbols(&s.Capabilities)
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

func readTarget(d *enc.Decoder) (*Target, error) {
	r, err := readComposite(d, codeTarget, "target")
	if err != nil {
		return nil, err
	}
	t := &Target{}
	r.str(&t.Address)
	r.uint(&t.Durable)
	r.sym(&t.ExpiryPolicy)
	r.uint(&t.Timeout)
	r.bool(&t.Dynamic)
	r.skip(1) // dynamic-node-properties
	r.symbols(&t.Capabilities)
	if r.err != nil {
		return nil, r.err
	}
	return t, nil
}

// readComposite reads the descriptor of a composite that must be want and opens its field list.
func readComposite(d *enc.Decoder, want uint64, name string) (fieldReader, error) {
	code, _, err := d.Descriptor()
	if err != nil {
		return fieldReader{}, err
	}
	if code != want {
		return fieldReader{}, fmt.Errorf("%s descriptor %#x: %w", name, code, ErrMalformed)
	}
	return readList(d)
}

func parseFlow(r *fieldReader) *Flow {
	p := &Flow{}
	r.uintp(&p.NextIncomingID)
	r.required("flow.incoming-window").uint(&p.IncomingWindow)
	r.required("flow.next-outgoing-id").uint(&p.NextOutgoingID)
	r.required("flow.outgoing-window").uint(&p.OutgoingWindow)
	r.uintp(&p.Handle)
	r.uintp(&p.DeliveryCount)
	r.uintp(&p.LinkCredit)
	r.uintp(&p.Available)
	r.bool(&p.Drain)
	r.bool(&p.Echo)
	r.mapv(&p.Properties)
	return p
}

func parseTransfer(r *fieldReader) *Transfer {
	p := &Transfer{}
	r.required("transfer.handle").uint(&p.Handle)
	r.uintp(&p.DeliveryID)
	r.binary(&p.DeliveryTag)
	r.uintp(&p.MessageFormat)
	r.bool(&p.Settled)
	r.bool(&p.More)
	r.ubytep(&p.RcvSettleMode)
	r.state(&p.State)
	r.bool(&p.Resume)
	r.bool(&p.Aborted)
	r.bool(&p.Batchable)
	return p
}

func parseDisposition(r *fieldReader) *Disposition {
	p := &Disposition{}
	r.required("disposition.role").bool(&p.Role)
	r.required("disposition.first").uint(&p.First)
	r.uintp(&p.Last)
	r.bool(&p.Settled)
	r.state(&p.State)
	r.bool(&p.Batchable)
	return p
}

func parseSASL(code uint64, r *fieldReader) (Performative, error) {
	var p Performative
	switch code {
	case codeSASLMechanisms:
		m := &SASLMechanisms{}
		r.required("sasl-mechanisms.sasl-server-mechanisms").symbols(&m.Mechanisms)
		p = m
	case codeSASLInit:
		i := &SASLInit{}
		r.required("sasl-init.mechanism").sym(&i.Mechanism)
		r.binary(&i.InitialResponse)
		r.str(&i.Hostname)
		p = i
	case codeSASLChallenge:
		c := &SASLChallenge{}
		r.required("sasl challenge/response data").binary(&c.Challenge)
		p = c
	case codeSASLResponse:
		s := &SASLResponse{}
		r.required("sasl challenge/response data").binary(&s.Response)
		p = s
	case codeSASLOutcome:
		o := &SASLOutcome{}
		r.required("sasl-outcome.code").ubyte(&o.Code)
		r.binary(&o.AdditionalData)
		p = o
	default:
		return nil, fmt.Errorf("SASL descriptor %#x: %w", code, ErrUnknownPerformative)
	}
	if r.err != nil {
		return nil, r.err
	}
	return p, nil
}
