package frames

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

func u32(v uint32) *uint32 { return &v }
func u8(v uint8) *uint8    { return &v }

type bundle struct {
	perfs []Performative
	sasl  []Performative
}

func setup(t *testing.T) bundle {
	t.Helper()
	ch := uint16(3)
	return bundle{
		perfs: []Performative{
			&Open{ContainerID: "c1", Hostname: "localhost", MaxFrameSize: 65536, ChannelMax: 65535, ChannelMaxSet: true, IdleTimeout: 30000,
				Properties: enc.Map{{Key: enc.Symbol("product"), Value: "x"}}},
			&Begin{RemoteChannel: &ch, NextOutgoingID: 1, IncomingWindow: 5000, OutgoingWindow: 5000, HandleMax: 10},
			&Attach{Name: "l", Handle: 1, Role: RoleReceiver, SenderSettleMode: u8(SenderMixed), ReceiverSettleMode: u8(ReceiverSecond),
				Source: &Source{Address: "q", Filter: enc.Map{{Key: enc.Symbol("f"), Value: enc.Described{Descriptor: uint64(0x137000000c), Value: "s"}}}},
				Target: &Target{Address: "t"}, InitialDeliveryCount: u32(0), MaxMessageSize: 262144,
				Properties: enc.Map{{Key: enc.Symbol("com.microsoft:timeout"), Value: uint32(5)}}},
			&Flow{NextIncomingID: u32(1), IncomingWindow: 5000, NextOutgoingID: 2, OutgoingWindow: 100, Handle: u32(0), DeliveryCount: u32(4), LinkCredit: u32(100), Drain: true},
			&Transfer{Handle: 2, DeliveryID: u32(300), DeliveryTag: []byte{1, 2}, MessageFormat: u32(0x80013700), Settled: true, More: true},
			&Disposition{Role: RoleSender, First: 1, Last: u32(4), Settled: true, State: &Accepted{}},
			&Disposition{Role: RoleReceiver, First: 1, State: &Rejected{Error: &Error{Condition: "com.microsoft:dead-letter", Info: enc.Map{{Key: "DeadLetterReason", Value: "r"}}}}},
			&Disposition{Role: RoleReceiver, First: 1, State: &Modified{DeliveryFailed: true, MessageAnnotations: enc.Map{{Key: "k", Value: int64(1)}}}},
			&Disposition{Role: RoleReceiver, First: 1, State: &Released{}},
			&Disposition{Role: RoleReceiver, First: 1, State: &Received{SectionNumber: 1, SectionOffset: 2}},
			&Detach{Handle: 1, Closed: true, Error: &Error{Condition: "amqp:not-found", Description: "no"}},
			&End{},
			&Close{Error: &Error{Condition: "amqp:internal-error"}},
		},
		sasl: []Performative{
			&SASLMechanisms{Mechanisms: []enc.Symbol{"ANONYMOUS", "PLAIN"}},
			&SASLInit{Mechanism: "ANONYMOUS", InitialResponse: []byte("anonymous"), Hostname: "h"},
			&SASLChallenge{Challenge: []byte{}},
			&SASLResponse{Response: []byte{1}},
			&SASLOutcome{Code: SASLOK},
		},
	}
}

func TestPerformativeRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	check := func(typ uint8, p Performative) {
		raw, err := Append(nil, typ, 7, p, []byte("payload"))
		if err != nil {
			t.Fatalf("Append %T: %v", p, err)
		}
		r := NewReader(bytes.NewReader(raw), 0)
		h, body, err := r.Next()
		if err != nil || h.Channel != 7 || h.Type != typ {
			t.Fatalf("Next %T: %+v %v", p, h, err)
		}
		got, payload, err := Parse(typ, body)
		if err != nil {
			t.Fatalf("Parse %T: %v", p, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("round trip %T:\n got %#v\nwant %#v", p, got, p)
		}
		if string(payload) != "payload" {
			t.Errorf("payload %q", payload)
		}
	}
	for _, p := range b.perfs {
		check(TypeAMQP, p)
	}
	for _, p := range b.sasl {
		check(TypeSASL, p)
	}
}

func TestReaderByteByByte(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var stream []byte
	for _, p := range b.perfs {
		var err error
		if stream, err = Append(stream, TypeAMQP, 1, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	stream, _ = Append(stream, TypeAMQP, 0, nil, nil) // keep-alive
	r := NewReader(iotest.OneByteReader(bytes.NewReader(stream)), 65536)
	for i := range len(b.perfs) + 1 {
		_, body, err := r.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		p, _, err := Parse(TypeAMQP, body)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if i < len(b.perfs) && reflect.TypeOf(p) != reflect.TypeOf(b.perfs[i]) {
			t.Fatalf("frame %d: %T", i, p)
		}
		if i == len(b.perfs) && p != nil {
			t.Fatalf("keep-alive parsed as %T", p)
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("after last frame: %v", err)
	}
}

func TestReaderRejects(t *testing.T) {
	t.Parallel()
	_ = setup(t)
	big, _ := Append(nil, TypeAMQP, 0, &Transfer{Handle: 1}, make([]byte, 1000))
	cases := map[string]struct {
		in   []byte
		want error
	}{
		"too large":  {big, ErrFrameTooLarge},
		"size<8":     {[]byte{0, 0, 0, 4, 2, 0, 0, 0}, ErrMalformed},
		"bad doff":   {[]byte{0, 0, 0, 8, 1, 0, 0, 0}, ErrMalformed},
		"bad type":   {[]byte{0, 0, 0, 8, 2, 9, 0, 0}, ErrMalformed},
		"short body": {[]byte{0, 0, 0, 12, 2, 0, 0, 0, 1}, io.ErrUnexpectedEOF},
	}
	for name, c := range cases {
		_, _, err := NewReader(bytes.NewReader(c.in), 512).Next()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", name, err, c.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	_ = setup(t)
	noName := []byte{0, enc.TypeSmallUlong, 0x12, enc.TypeList0}
	unknown := []byte{0, enc.TypeSmallUlong, 0x99, enc.TypeList0}
	openNoID := []byte{0, enc.TypeSmallUlong, 0x10, enc.TypeList8, 2, 1, enc.TypeNull}
	wrongType := []byte{0, enc.TypeSmallUlong, 0x16, enc.TypeList8, 3, 1, enc.TypeStr8, 0}
	for name, c := range map[string]struct {
		in   []byte
		want error
	}{
		"attach without name": {noName, ErrMissingField},
		"unknown":             {unknown, ErrUnknownPerformative},
		"open without id":     {openNoID, ErrMissingField},
		"wrong field type":    {wrongType, ErrMalformed},
		"garbage":             {[]byte{0xff}, ErrMalformed},
	} {
		if _, _, err := Parse(TypeAMQP, c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", name, err, c.want)
		}
	}
}

func FuzzFrame(f *testing.F) {
	b := setup(&testing.T{})
	for _, p := range b.perfs {
		raw, _ := Append(nil, TypeAMQP, 0, p, nil)
		f.Add(raw)
	}
	for _, p := range b.sasl {
		raw, _ := Append(nil, TypeSASL, 0, p, nil)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 65536)
		for {
			h, body, err := r.Next()
			if err != nil {
				return
			}
			p, _, err := Parse(h.Type, body)
			if err != nil || p == nil {
				continue
			}
			if _, err := Append(nil, h.Type, h.Channel, p, nil); err != nil {
				t.Fatalf("re-encode %T: %v", p, err)
			}
		}
	})
}

func BenchmarkParseTransfer(b *testing.B) {
	id, format := uint32(123456), uint32(0)
	raw, _ := Append(nil, TypeAMQP, 1, &Transfer{Handle: 3, DeliveryID: &id, DeliveryTag: make([]byte, 16), MessageFormat: &format}, make([]byte, 1024))
	body := raw[HeaderSize:]
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(TypeAMQP, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendTransfer(b *testing.B) {
	id, format := uint32(123456), uint32(0)
	t := &Transfer{Handle: 3, DeliveryID: &id, DeliveryTag: make([]byte, 16), MessageFormat: &format}
	payload := make([]byte, 1024)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], TypeAMQP, 1, t, payload); err != nil {
			b.Fatal(err)
		}
	}
}
