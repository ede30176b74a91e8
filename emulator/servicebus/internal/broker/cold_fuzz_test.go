package broker

import (
	"testing"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// FuzzColdRecord feeds arbitrary bytes to appendColdRecord as a record read
// back for message 7: it must refuse them or make a record that decodes as
// a put of message 7 at the snapshot's path, without panicking.
func FuzzColdRecord(f *testing.F) {
	for _, m := range storedCases() {
		m.SequenceNumber = 7
		rec, err := enc.AppendList(nil, messageRecord("q", &m))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rec)
	}
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, rec []byte) {
		e, err := newEntry(&Message{SequenceNumber: 7, DeliveryCount: 2, State: StateDeferred}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := appendColdRecord(nil, "q/$deadletterqueue", e, rec)
		if err != nil {
			return
		}
		x, err := decodeRecord(out)
		if err != nil {
			t.Fatalf("record made from %x does not decode: %v", rec, err)
		}
		if x.kind != recPut || x.path != "q/$deadletterqueue" || x.seq != 7 || x.msg == nil ||
			x.msg.DeliveryCount != 2 || x.msg.State != StateDeferred {
			t.Fatalf("record made from %x decodes as %+v", rec, x)
		}
	})
}
