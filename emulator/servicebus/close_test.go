package servicebus

import (
	"fmt"
	"net"
	"testing"
	"time"

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
