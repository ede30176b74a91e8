package servicebus

import (
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// Protocol error paths, each asserted exactly (condition and description) with the scripted peer.
// The session incoming window and the link credit the server grants are topped up before they
// run out, so window-violation and transfer-limit-exceeded cannot be provoked by a peer: their
// checks stay as defence only.

func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	open := func(t *testing.T, cfg Config) *peer {
		_, p := sessionPeer(t, cfg)
		return p
	}
	t.Run("handle in use", func(t *testing.T) {
		t.Parallel()
		p := open(t, Config{})
		p.attachSender(0, 0, "a", "q")
		p.send(0, &frames.Attach{Name: "b", Handle: 0, Role: frames.RoleSender, Source: &frames.Source{}, Target: &frames.Target{Address: "q"}}, nil)
		if e := p.expectEnd(CondHandleInUse); e.Description != "handle 0" {
			t.Fatalf("description %q", e.Description)
		}
	})
	t.Run("transfer on unattached handle", func(t *testing.T) {
		t.Parallel()
		p := open(t, Config{})
		p.transfer(0, 7, 0, dataMessage([]byte("x")))
		if e := p.expectEnd(CondUnattachedHandle); e.Description != "transfer for handle 7" {
			t.Fatalf("description %q", e.Description)
		}
	})
	t.Run("flow on unattached handle", func(t *testing.T) {
		t.Parallel()
		p := open(t, Config{})
		h, credit := uint32(3), uint32(1)
		p.send(0, &frames.Flow{IncomingWindow: 10, OutgoingWindow: 10, Handle: &h, DeliveryCount: new(uint32), LinkCredit: &credit}, nil)
		if e := p.expectEnd(CondUnattachedHandle); e.Description != "flow for handle 3" {
			t.Fatalf("description %q", e.Description)
		}
	})
	t.Run("detach of unattached handle", func(t *testing.T) {
		t.Parallel()
		p := open(t, Config{})
		p.send(0, &frames.Detach{Handle: 9, Closed: true}, nil)
		if e := p.expectEnd(CondUnattachedHandle); e.Description != "detach of handle 9" {
			t.Fatalf("description %q", e.Description)
		}
	})
	t.Run("message over max-message-size", func(t *testing.T) {
		t.Parallel()
		p := open(t, Config{MaxMessageSize: 1000})
		p.attachSender(0, 0, "s", "q")
		id, zero := uint32(0), uint32(0)
		p.send(0, &frames.Transfer{Handle: 0, DeliveryID: &id, DeliveryTag: []byte{1}, MessageFormat: &zero, More: true}, make([]byte, 600))
		p.send(0, &frames.Transfer{Handle: 0}, make([]byte, 600))
		if e := p.expectDetach(0, CondMessageSizeExceeded); e.Description != "message larger than the maximum of 1000 bytes" {
			t.Fatalf("description %q", e.Description)
		}
	})
	t.Run("transfer where the server sends", func(t *testing.T) {
		t.Parallel()
		p := open(t, Config{})
		p.attachReceiver(0, 0, "r", "q", "", 0)
		p.transfer(0, 0, 0, dataMessage([]byte("x")))
		if e := p.expectDetach(0, CondNotAllowed); e.Description != "transfer on a link where the server sends" {
			t.Fatalf("description %q", e.Description)
		}
	})
	t.Run("first transfer without delivery-id", func(t *testing.T) {
		t.Parallel()
		p := open(t, Config{})
		p.attachSender(0, 0, "s", "q")
		p.send(0, &frames.Transfer{Handle: 0}, dataMessage([]byte("x")))
		if e := p.expectDetach(0, CondNotAllowed); e.Description != "first transfer of a delivery without delivery-id" {
			t.Fatalf("description %q", e.Description)
		}
	})
	t.Run("frame on a channel without session", func(t *testing.T) {
		t.Parallel()
		p := open(t, Config{})
		p.send(5, &frames.Detach{Handle: 0}, nil)
		if e := p.expectClose(CondNotAllowed); e.Description != "*frames.Detach on channel 5 without a session" {
			t.Fatalf("description %q", e.Description)
		}
	})
	t.Run("frame over max-frame-size", func(t *testing.T) {
		t.Parallel()
		p := open(t, Config{MaxFrameSize: 4096})
		p.attachSender(0, 0, "s", "q")
		p.transfer(0, 0, 0, dataMessage(make([]byte, 5000)))
		if e := p.expectClose(CondFramingError); e.Description != "frame exceeds max-frame-size" {
			t.Fatalf("description %q", e.Description)
		}
	})
	t.Run("attach above handle-max", func(t *testing.T) {
		t.Parallel()
		p := open(t, Config{MaxLinksPerConnection: 4})
		p.send(0, &frames.Attach{Name: "h", Handle: 4, Role: frames.RoleSender, Source: &frames.Source{}, Target: &frames.Target{Address: "q"}}, nil)
		if e := p.expectClose(CondFramingError); e.Description != "attach on handle 4 above handle-max 3" {
			t.Fatalf("description %q", e.Description)
		}
	})
	t.Run("unfinished deliveries over the pending budget", func(t *testing.T) {
		t.Parallel()
		p := open(t, Config{MaxMessageSize: 100 << 10, MaxPendingBytes: 200 << 10})
		for h, name := range []string{"a", "b", "c", "d"} {
			p.attachSender(0, uint32(h), name, "q")
		}
		zero := uint32(0)
		for h := range uint32(4) { // 60 KiB held per link: the fourth goes over 200 KiB
			id := h
			p.send(0, &frames.Transfer{Handle: h, DeliveryID: &id, DeliveryTag: []byte{1}, MessageFormat: &zero, More: true}, make([]byte, 60<<10))
		}
		e := p.expectDetach(3, CondResourceLimit)
		if e.Description != "the connection holds more than 204800 bytes of unfinished deliveries and pending responses" {
			t.Fatalf("description %q", e.Description)
		}
		// The detached link's bytes are returned: another delivery fits again.
		p.send(0, &frames.Detach{Handle: 3, Closed: true}, nil) // answers the server's detach
		p.sync(0)
		p.attachSender(0, 3, "e", "q")
		id := uint32(4)
		msg := dataMessage(make([]byte, 10<<10))
		p.send(0, &frames.Transfer{Handle: 3, DeliveryID: &id, DeliveryTag: []byte{1}, MessageFormat: &zero, More: true}, msg[:8<<10])
		p.send(0, &frames.Transfer{Handle: 3}, msg[8<<10:])
		if st := p.disposition(4); !isAccepted(st) {
			t.Fatalf("outcome %#v", st)
		}
	})
	t.Run("responses over the pending budget", func(t *testing.T) {
		t.Parallel()
		_, p := managementPeer(t, Config{MaxMessageSize: 64 << 10, MaxPendingBytes: 300 << 10}, 1, 60<<10)
		var id uint32
		var last frames.DeliveryState
		for ; id < 10; id++ {
			p.transfer(0, 0, id, peekRequest(1))
			if last = p.disposition(id); !isAccepted(last) {
				break
			}
		}
		// Four responses of a 60 KiB message stay under 300 KiB; the fifth is taken (a request
		// that ran is always answered) and passes it, so the sixth is refused before it runs.
		if id != 5 {
			t.Fatalf("request %d refused first (%#v), want 5", id, last)
		}
		st := last.(*frames.Rejected)
		if st.Error == nil || string(st.Error.Condition) != string(CondResourceLimit) ||
			st.Error.Description != "the connection holds more than 307200 bytes of responses waiting for credit and unfinished deliveries" {
			t.Fatalf("outcome %+v", st.Error)
		}
	})
}

func isAccepted(st frames.DeliveryState) bool { _, ok := st.(*frames.Accepted); return ok }
