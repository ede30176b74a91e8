package servicebus

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
	"github.com/orderflow/orderflow/internal/testkit"
)

// TestCloseAnsweredWhileWriterBusy: the peer's close arrives while the writer is still blocked
// writing earlier frames to a slow socket (net.Pipe hands bytes over only as the peer reads them;
// a WebSocket or a loaded machine behaves alike). The server must answer with close before it
// closes the socket. The JavaScript SDK waits for that close: when the socket ends first, its
// client.close() never settles (rhea-promise drops its listeners and timer on "disconnected").
// Before the writer flushed the queued close (it closed the socket as soon as the connection was
// done), the peer read the begin and then end of stream.
func TestCloseAnsweredWhileWriterBusy(t *testing.T) {
	t.Parallel()
	srv := testServer(t, Config{})
	client, server := net.Pipe()
	t.Cleanup(func() { _ = client.Close() })
	if !srv.track(1) {
		t.Fatal("server is stopping")
	}
	go srv.serveConn(server)
	p, r := handshakePeer(t, client)
	p.send(0, &frames.Open{ContainerID: "peer", MaxFrameSize: 65536, ChannelMax: 65535, ChannelMaxSet: true}, nil)
	// The handshake writes the open itself: read it here, as no reader runs yet.
	h, body, err := r.Next()
	if err != nil {
		t.Fatalf("reading open: %v", err)
	}
	if f, _, err := frames.Parse(h.Type, body); err != nil {
		t.Fatalf("parsing open: %v", err)
	} else if _, ok := f.(*frames.Open); !ok {
		t.Fatalf("got %T, want open", f)
	}
	c := onlyConn(t, srv)

	p.send(0, &frames.Begin{NextOutgoingID: 0, IncomingWindow: 5000, OutgoingWindow: 5000}, nil)
	// The server reads this flow (no answer) only after it handled the begin, so the begin's
	// answer is queued when send returns; once the queue is empty again the writer holds it,
	// blocked in Write because nobody reads.
	p.send(0, &frames.Flow{IncomingWindow: 5000, OutgoingWindow: 5000}, nil)
	testkit.Eventually(t, 10*time.Second, func() error {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		if len(c.wbuf) > 0 {
			return fmt.Errorf("the writer has not taken the %d queued bytes of the begin", len(c.wbuf))
		}
		return nil
	})
	p.send(0, &frames.Close{}, nil)
	select {
	case <-c.done: // the close was handled and the connection torn down
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not end the connection after the peer's close")
	}

	go p.read(r)
	p.expect("begin", isType[*frames.Begin])
	if cl := p.expect("close", isType[*frames.Close]).p.(*frames.Close); cl.Error != nil {
		t.Fatalf("close answered with error %+v, want none", cl.Error)
	}
}

// onlyConn returns the server's one connection.
func onlyConn(t *testing.T, srv *Server) *conn {
	t.Helper()
	var c *conn
	testkit.Eventually(t, 10*time.Second, func() error {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for k := range srv.conns {
			c = k
		}
		if len(srv.conns) != 1 {
			return fmt.Errorf("%d connections, want 1", len(srv.conns))
		}
		return nil
	})
	return c
}

// TestNothingFollowsEndOnItsChannel: a session the peer ends while its link is busy sending gets
// the end answered, and no frame of that session follows the answer (rhea treats a frame on a
// channel with no session as a protocol error and drops the socket, so a JavaScript client's
// close then never settles). The pump of the link races the end: each trial ends a session whose
// receiver has credit for the whole queue.
func TestNothingFollowsEndOnItsChannel(t *testing.T) {
	t.Parallel()
	const trials, perTrial = 40, 2000
	srv, p := sessionPeer(t, Config{}) // session 0 only carries the final sync
	msgs := make([]*broker.Message, trials*perTrial)
	for i := range msgs {
		msgs[i] = &broker.Message{Body: dataMessage([]byte("x"))}
	}
	if _, err := srv.broker.Send("q", msgs); err != nil {
		t.Fatal(err)
	}
	for i := range trials {
		p.send(1, &frames.Begin{NextOutgoingID: 0, IncomingWindow: 1 << 30, OutgoingWindow: 5000}, nil)
		p.expect("begin", func(f frame) bool {
			b, ok := f.p.(*frames.Begin)
			return ok && b.RemoteChannel != nil && *b.RemoteChannel == 1
		})
		p.attachReceiver(1, 0, fmt.Sprintf("r%d", i), "q", "", perTrial)
		p.expect("a transfer", isType[*frames.Transfer])
		p.send(1, &frames.End{}, nil)
		p.expect("end", isType[*frames.End])
	}
	p.sync(0)
	p.send(0, &frames.Close{}, nil)
	p.expect("close", isType[*frames.Close])
	// Our channels are reused: after an end on a channel only a begin may come.
	ended := map[uint16]int{}
	for i, f := range p.all(func(frame) bool { return true }) {
		switch f.p.(type) {
		case *frames.End:
			ended[f.channel] = i
		case *frames.Begin:
			delete(ended, f.channel)
		case *frames.Close:
		default:
			if at, ok := ended[f.channel]; ok {
				t.Fatalf("frame %d, a %T on channel %d, follows the end (frame %d) of its session", i, f.p, f.channel, at)
			}
		}
	}
}

// TestNoFlowAfterDetachAnswered: a receiver that asks for a drain and detaches at once gets the
// detach answered, and no flow for the handle follows the answer (rhea fails a frame for a handle
// it removed with "Invalid handle" and drops the socket). The link's pump finishes the drain
// concurrently with the detach; each trial races them.
func TestNoFlowAfterDetachAnswered(t *testing.T) {
	t.Parallel()
	const trials = 100
	_, p := sessionPeer(t, Config{})
	for i := range trials {
		h := uint32(i % 2) // handles are reused: trials alternate between two
		p.attachReceiver(0, h, fmt.Sprintf("d%d", i), "q", "", 0)
		credit, zero := uint32(10), uint32(0)
		drain := &frames.Flow{IncomingWindow: 5000, OutgoingWindow: 5000, Handle: &h, DeliveryCount: &zero, LinkCredit: &credit, Drain: true}
		b, err := frames.Append(nil, frames.TypeAMQP, 0, drain, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, err = frames.Append(b, frames.TypeAMQP, 0, &frames.Detach{Handle: h, Closed: true}, nil); err != nil {
			t.Fatal(err)
		}
		p.write(b) // in one write, so the server reads the detach right after the drain
		p.expect("detach", isType[*frames.Detach])
	}
	p.sync(0)
	// The server's handle of a link is in its attach; after the detach of that handle, only an
	// attach (a new link on the reused handle) may name it.
	detached := map[uint32]int{}
	for i, f := range p.all(func(frame) bool { return true }) {
		switch x := f.p.(type) {
		case *frames.Attach:
			delete(detached, x.Handle)
		case *frames.Detach:
			detached[x.Handle] = i
		case *frames.Flow:
			if x.Handle == nil {
				continue
			}
			if at, ok := detached[*x.Handle]; ok {
				t.Fatalf("frame %d, a flow for handle %d (drain %v), follows the detach (frame %d) of its link", i, *x.Handle, x.Drain, at)
			}
		}
	}
}
