package servicebus

import (
	"fmt"
	"testing"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// A client that gives up on an accept-next-session attach (go-amqp abandons the link when its
// context ends and detaches it before its next attach) detaches before the server answered. The
// server must answer with its attach (the refusal, null terminus) and then the closing detach: a
// detach may only follow the attach, and the client frees its handle only on our detach. Before
// the fix the server sent nothing at all.

// sessionQueuePeer is sessionPeer plus the session-enabled queue "sq".
func sessionQueuePeer(t *testing.T) (*Server, *peer) {
	t.Helper()
	srv, p := sessionPeer(t, Config{})
	if err := srv.CreateQueue(QueueConfig{Name: "sq", RequiresSession: true}); err != nil {
		t.Fatal(err)
	}
	return srv, p
}

// attachAcceptNext sends an accept-next-session receiver attach (null session filter, as the Go
// SDK sends it, with a 60 s com.microsoft:timeout) for "sq" on handle h; it does not wait.
func (p *peer) attachAcceptNext(h uint32, name string) {
	p.t.Helper()
	p.send(0, &frames.Attach{Name: name, Handle: h, Role: frames.RoleReceiver,
		Source: &frames.Source{Address: "sq", Filter: enc.Map{{Key: enc.Symbol(sessionFilterKey),
			Value: enc.Described{Descriptor: uint64(0x137000000C), Value: nil}}}},
		Target:     &frames.Target{Address: "local"},
		Properties: enc.Map{{Key: enc.Symbol(propTimeout), Value: uint32(60000)}}}, nil)
}

// linkFrames returns the frames the server sent so far for its link named name: its attach and
// every later frame on the attach's handle up to and including the first detach.
func (p *peer) linkFrames(name string) []frame {
	p.t.Helper()
	var out []frame
	var h uint32
	for _, f := range p.all(func(frame) bool { return true }) {
		switch x := f.p.(type) {
		case *frames.Attach:
			if len(out) == 0 && x.Name == name {
				h, out = x.Handle, append(out, f)
			}
		case *frames.Detach:
			if len(out) > 0 && x.Handle == h {
				return append(out, f)
			}
		case *frames.Flow:
			if len(out) > 0 && x.Handle != nil && *x.Handle == h {
				out = append(out, f)
			}
		case *frames.Transfer:
			if len(out) > 0 && x.Handle == h {
				out = append(out, f)
			}
		}
	}
	return out
}

// sendSession stores one message of session id in "sq".
func sendSession(srv *Server, id string) error {
	m := &broker.Message{Body: dataMessage([]byte(id))}
	m.Properties.GroupID, m.Properties.Present = id, broker.PropGroupID
	if _, err := srv.broker.Send("sq", []*broker.Message{m}); err != nil {
		return fmt.Errorf("sending to session %s: %w", id, err)
	}
	return nil
}

func TestDetachWhileAcceptNextPending(t *testing.T) {
	t.Parallel()
	srv, p := sessionQueuePeer(t)
	p.attachAcceptNext(0, "gave-up")
	p.sync(0) // the attach was handled: the accept waits for a session
	if got := p.all(isType[*frames.Attach]); len(got) != 0 {
		t.Fatalf("accept-next on an empty queue answered at once: %+v", got[0].p)
	}
	p.send(0, &frames.Detach{Handle: 0, Closed: true}, nil)
	p.expect("detach", isType[*frames.Detach])
	p.sync(0)

	got := p.linkFrames("gave-up")
	if len(got) != 2 {
		t.Fatalf("server sent %d frames for the link, want its attach then its detach: %+v", len(got), got)
	}
	a, d := got[0].p.(*frames.Attach), got[1].p.(*frames.Detach)
	if a.Role != frames.RoleSender || a.Source != nil || a.Target != nil {
		t.Fatalf("answer attach %+v, want the refusal (role sender, null source and target)", a)
	}
	if !d.Closed || d.Error != nil {
		t.Fatalf("detach %+v, want closed without error (it answers the client's)", d)
	}

	// The handle is free again on the server, and the abandoned accept locked nothing: the next
	// accept-next on the same handle gets the session that now has a message.
	if err := sendSession(srv, "wanted"); err != nil {
		t.Fatal(err)
	}
	p.attachAcceptNext(0, "again")
	f := p.expect("attach of again", func(f frame) bool { a, ok := f.p.(*frames.Attach); return ok && a.Name == "again" })
	again := f.p.(*frames.Attach)
	if again.Source == nil {
		t.Fatalf("accept-next after the abandoned one refused: %+v", again)
	}
	if v, _ := again.Source.Filter.Get(sessionFilterKey); v != (enc.Described{Descriptor: uint64(0x137000000C), Value: "wanted"}) {
		t.Fatalf("accepted session filter %#v, want session wanted", v)
	}
	p.send(0, &frames.Detach{Handle: 0, Closed: true}, nil)
	p.expectDetachReply(again.Handle)
}

// TestDetachRacesAcceptNextLock: a message for a new session arrives about when the client
// detaches its waiting accept-next. Whichever wins, the server answers with exactly one attach
// (the session's or the refusal) and then the detach, and the session is free by the time the
// detach is answered: another receiver accepts it at once.
func TestDetachRacesAcceptNextLock(t *testing.T) {
	t.Parallel()
	const trials = 60
	srv, p := sessionQueuePeer(t)
	locked := 0
	for i := range trials {
		h := uint32(i % 2) // the client reuses its handles
		name, id := fmt.Sprintf("acc%d", i), fmt.Sprintf("s%d", i)
		p.attachAcceptNext(h, name)
		p.sync(0)
		// Trials vary who is ahead: the message before the detach is written, about together,
		// or the detach first.
		sent := make(chan error, 1)
		send := func() { sent <- sendSession(srv, id) }
		switch i % 3 {
		case 0:
			send()
			p.send(0, &frames.Detach{Handle: h, Closed: true}, nil)
		case 1:
			go send()
			p.send(0, &frames.Detach{Handle: h, Closed: true}, nil)
		case 2:
			p.send(0, &frames.Detach{Handle: h, Closed: true}, nil)
			go send()
		}
		p.expect("detach of "+name, isType[*frames.Detach])
		if err := <-sent; err != nil {
			t.Fatal(err)
		}

		got := p.linkFrames(name)
		if len(got) != 2 || !isType[*frames.Attach](got[0]) || !isType[*frames.Detach](got[1]) {
			t.Fatalf("trial %d: server sent %+v for the link, want its attach then its detach", i, got)
		}
		if got[0].p.(*frames.Attach).Source != nil {
			locked++
		}
		if d := got[1].p.(*frames.Detach); !d.Closed || d.Error != nil {
			t.Fatalf("trial %d: detach %+v, want closed without error", i, d)
		}
		r, err := srv.broker.AcceptSession("sq", id, broker.PeekLock)
		if err != nil {
			t.Fatalf("trial %d: session %s still locked after the detach was answered: %v", i, id, err)
		}
		msgs, err := r.TryReceive(10)
		r.Close()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("trial %d: session %s holds %d messages (%v), want its 1", i, id, len(msgs), err)
		}
	}
	t.Logf("%d of %d accepts locked the session before the detach", locked, trials)
	p.sync(0)
	// After the detach of a handle, only an attach (a new link on the reused handle) may name it.
	detached := map[uint32]int{}
	for i, f := range p.all(func(frame) bool { return true }) {
		switch x := f.p.(type) {
		case *frames.Attach:
			delete(detached, x.Handle)
		case *frames.Detach:
			if at, ok := detached[x.Handle]; ok {
				t.Fatalf("frame %d, a second detach of handle %d (first: frame %d)", i, x.Handle, at)
			}
			detached[x.Handle] = i
		case *frames.Flow:
			if x.Handle == nil {
				continue
			}
			if at, ok := detached[*x.Handle]; ok {
				t.Fatalf("frame %d, a flow for handle %d, follows the detach (frame %d) of its link", i, *x.Handle, at)
			}
		case *frames.Transfer:
			if at, ok := detached[x.Handle]; ok {
				t.Fatalf("frame %d, a transfer for handle %d, follows the detach (frame %d) of its link", i, x.Handle, at)
			}
		}
	}
}
