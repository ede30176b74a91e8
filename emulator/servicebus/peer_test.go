package servicebus

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// A scripted AMQP peer, go-amqp's fake-connection style: the test writes exact frames to an
// in-process emulator over TCP and asserts the exact frames it answers with.

// frame is one frame the server sent.
type frame struct {
	channel uint16
	p       frames.Performative
	payload []byte
}

type peer struct {
	t  *testing.T
	nc net.Conn

	mu     sync.Mutex
	cond   *sync.Cond
	frames []frame
	err    error // read error: the server closed the socket
	next   int   // frames before next were consumed by expect
}

// testServer starts an emulator on 127.0.0.1:0 with queue "q", stopped at cleanup.
func testServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	cfg.AMQPAddr, cfg.HTTPAddr = "127.0.0.1:0", "-"
	if cfg.Logger == nil && os.Getenv("SBEMULATOR_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	if err := srv.CreateQueue(QueueConfig{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	return srv
}

// dialPeer connects, runs SASL PLAIN with the root key (which authorizes the whole connection,
// so no $cbs links are needed) and the AMQP header exchange, and sends open (a default
// one when open is nil). It returns before the server's open arrives.
func dialPeer(t *testing.T, srv *Server, open *frames.Open) *peer {
	t.Helper()
	p := dialPeerNoOpen(t, srv)
	if open == nil {
		open = &frames.Open{ContainerID: "peer", MaxFrameSize: 65536, ChannelMax: 65535, ChannelMaxSet: true}
	}
	p.send(0, open, nil)
	return p
}

// sessionPeer starts a server with cfg and connects a peer with one session on channel 0.
func sessionPeer(t *testing.T, cfg Config) (*Server, *peer) {
	t.Helper()
	srv := testServer(t, cfg)
	p := dialPeer(t, srv, nil)
	p.begin(0)
	return srv, p
}

// managementPeer stores n messages with a data body of size bytes in "q" and attaches the
// $management request link (handle 0) and its reply link "reply" (handle 1) with no credit.
func managementPeer(t *testing.T, cfg Config, n, size int) (*Server, *peer) {
	t.Helper()
	srv, p := sessionPeer(t, cfg)
	body := dataMessage(bytes.Repeat([]byte{'p'}, size))
	for range n {
		if _, err := srv.broker.Send("q", []*broker.Message{{Body: body}}); err != nil {
			t.Fatal(err)
		}
	}
	p.attachSender(0, 0, "m", "q/$management")
	p.attachReceiver(0, 1, "mr", "q/$management", "reply", 0)
	return srv, p
}

// dialPeerNoOpen is dialPeer up to the open, which the caller writes.
func dialPeerNoOpen(t *testing.T, srv *Server) *peer {
	t.Helper()
	nc, err := net.Dial("tcp", srv.AMQPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	p, r := handshakePeer(t, nc)
	go p.read(r)
	return p
}

// handshakePeer runs SASL PLAIN and the AMQP header exchange on nc and returns the peer with the
// reader of its frames; the caller starts p.read(r) when it wants the server's frames read.
func handshakePeer(t *testing.T, nc net.Conn) (*peer, *frames.Reader) {
	t.Helper()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	r := frames.NewReader(nc, 0)
	if _, err := nc.Write(frames.ProtoSASL[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadProtoHeader(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Next(); err != nil { // sasl-mechanisms
		t.Fatal(err)
	}
	plain := []byte("\x00" + DefaultKeyName + "\x00" + DefaultKey)
	b, _ := frames.Append(nil, frames.TypeSASL, 0, &frames.SASLInit{Mechanism: "PLAIN", InitialResponse: plain}, nil)
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	h, body, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if o, _, err := frames.Parse(h.Type, body); err != nil || o.(*frames.SASLOutcome).Code != frames.SASLOK {
		t.Fatalf("SASL outcome %v, %v", o, err)
	}
	if _, err := nc.Write(frames.ProtoAMQP[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadProtoHeader(); err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, nc: nc}
	p.cond = sync.NewCond(&p.mu)
	return p, r
}

func (p *peer) read(r *frames.Reader) {
	for {
		h, body, err := r.Next()
		var f frame
		if err == nil {
			f.channel = h.Channel
			var payload []byte
			f.p, payload, err = frames.Parse(h.Type, body)
			f.payload = append([]byte(nil), payload...)
		}
		p.mu.Lock()
		if err != nil {
			p.err = err
			p.cond.Broadcast()
			p.mu.Unlock()
			return
		}
		if f.p != nil { // keep-alives are not kept
			p.frames = append(p.frames, f)
		}
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// send writes one frame.
func (p *peer) send(channel uint16, perf frames.Performative, payload []byte) {
	p.t.Helper()
	b, err := frames.Append(nil, frames.TypeAMQP, channel, perf, payload)
	if err != nil {
		p.t.Fatal(err)
	}
	p.write(b)
}

// write writes raw bytes; a server that already closed the socket is not an error here.
func (p *peer) write(b []byte) {
	p.t.Helper()
	if _, err := p.nc.Write(b); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		p.t.Fatal(err)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

// rawFrame frames an already encoded performative.
func rawFrame(channel uint16, body []byte) []byte {
	b := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(b, uint32(8+len(body)))
	b[4], b[5] = 2, frames.TypeAMQP
	binary.BigEndian.PutUint16(b[6:], channel)
	return append(b, body...)
}

// expect returns the first frame after the ones already consumed that match accepts, consuming
// every frame up to it; it fails the test after 10 s or when the server closed the socket first.
func (p *peer) expect(what string, match func(frame) bool) frame {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	timer := time.AfterFunc(10*time.Second, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for i := p.next; i < len(p.frames); i++ {
			if match(p.frames[i]) {
				p.next = i + 1
				return p.frames[i]
			}
		}
		if p.err != nil || time.Now().After(deadline) {
			p.t.Fatalf("no %s among %d frames (read error %v)", what, len(p.frames)-p.next, p.err)
		}
		p.cond.Wait()
	}
}

// all returns the frames the server sent so far that match.
func (p *peer) all(match func(frame) bool) []frame {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []frame
	for _, f := range p.frames {
		if match(f) {
			out = append(out, f)
		}
	}
	return out
}

func isType[T frames.Performative](f frame) bool { _, ok := f.p.(T); return ok }

// expectClose waits for the server's close and checks its condition.
func (p *peer) expectClose(cond Condition) *frames.Error {
	p.t.Helper()
	cl := p.expect("close", isType[*frames.Close]).p.(*frames.Close)
	if cl.Error == nil || string(cl.Error.Condition) != string(cond) {
		p.t.Fatalf("close error %+v, want %s", cl.Error, cond)
	}
	return cl.Error
}

// expectEnd waits for an end on our channel ch (the server's channel is remote to us: frames
// arrive on the server's channel, which is the first free one, so tests pass it in).
func (p *peer) expectEnd(cond Condition) *frames.Error {
	p.t.Helper()
	e := p.expect("end", isType[*frames.End]).p.(*frames.End)
	if e.Error == nil || string(e.Error.Condition) != string(cond) {
		p.t.Fatalf("end error %+v, want %s", e.Error, cond)
	}
	return e.Error
}

// expectDetachReply waits for the server's answer to our detach of its handle h (no error).
func (p *peer) expectDetachReply(h uint32) {
	p.t.Helper()
	p.expect("detach", func(f frame) bool { d, ok := f.p.(*frames.Detach); return ok && d.Handle == h && d.Error == nil })
}

// expectDetach waits for a detach of the server's handle and checks its condition.
func (p *peer) expectDetach(handle uint32, cond Condition) *frames.Error {
	p.t.Helper()
	d := p.expect("detach", func(f frame) bool {
		d, ok := f.p.(*frames.Detach)
		return ok && d.Handle == handle
	}).p.(*frames.Detach)
	if d.Error == nil || string(d.Error.Condition) != string(cond) {
		p.t.Fatalf("detach error %+v, want %s", d.Error, cond)
	}
	return d.Error
}

// begin starts a session on channel ch and waits for the answer.
func (p *peer) begin(ch uint16) {
	p.t.Helper()
	p.send(ch, &frames.Begin{NextOutgoingID: 0, IncomingWindow: 5000, OutgoingWindow: 5000}, nil)
	p.expect("begin", func(f frame) bool {
		b, ok := f.p.(*frames.Begin)
		return ok && b.RemoteChannel != nil && *b.RemoteChannel == ch
	})
}

// attachSender attaches a client sender to address on handle h and waits for the flow that grants
// credit.
func (p *peer) attachSender(ch uint16, h uint32, name, address string) {
	p.t.Helper()
	p.send(ch, &frames.Attach{Name: name, Handle: h, Role: frames.RoleSender, Source: &frames.Source{}, Target: &frames.Target{Address: address}}, nil)
	p.expect("attach of "+name, func(f frame) bool { a, ok := f.p.(*frames.Attach); return ok && a.Name == name })
}

// attachReceiver attaches a client receiver from address on handle h, with credit when credit > 0.
func (p *peer) attachReceiver(ch uint16, h uint32, name, address, target string, credit uint32) {
	p.t.Helper()
	settled := frames.SenderSettled
	p.send(ch, &frames.Attach{Name: name, Handle: h, Role: frames.RoleReceiver, SenderSettleMode: &settled,
		Source: &frames.Source{Address: address}, Target: &frames.Target{Address: target}}, nil)
	p.expect("attach of "+name, func(f frame) bool { a, ok := f.p.(*frames.Attach); return ok && a.Name == name })
	if credit > 0 {
		zero := uint32(0)
		p.send(ch, &frames.Flow{IncomingWindow: 5000, OutgoingWindow: 5000, Handle: &h, DeliveryCount: &zero, LinkCredit: &credit}, nil)
	}
}

// transfer sends one whole message in a single frame.
func (p *peer) transfer(ch uint16, h, id uint32, msg []byte) {
	p.t.Helper()
	zero := uint32(0)
	p.send(ch, &frames.Transfer{Handle: h, DeliveryID: &id, DeliveryTag: binary.BigEndian.AppendUint32(nil, id), MessageFormat: &zero}, msg)
}

// disposition waits for the server's outcome of delivery id.
func (p *peer) disposition(id uint32) frames.DeliveryState {
	p.t.Helper()
	return p.expect("disposition", func(f frame) bool {
		d, ok := f.p.(*frames.Disposition)
		return ok && d.Role == frames.RoleReceiver && d.First <= id && (d.Last == nil && d.First == id || d.Last != nil && *d.Last >= id)
	}).p.(*frames.Disposition).State
}

// sync makes the server answer a session flow with echo, proving it processed what came before.
func (p *peer) sync(ch uint16) {
	p.t.Helper()
	p.send(ch, &frames.Flow{IncomingWindow: 5000, OutgoingWindow: 5000, Echo: true}, nil)
	p.expect("echoed flow", func(f frame) bool { fl, ok := f.p.(*frames.Flow); return ok && fl.Handle == nil })
}

// dataMessage encodes a message with one data section of body.
func dataMessage(body []byte) []byte {
	return enc.AppendBinary(enc.AppendDescriptor(nil, secData), body)
}

// rejectedWith checks an outcome is rejected with cond.
func rejectedWith(t *testing.T, st frames.DeliveryState, cond Condition) {
	t.Helper()
	r, ok := st.(*frames.Rejected)
	if !ok || r.Error == nil || string(r.Error.Condition) != string(cond) {
		t.Fatalf("outcome %#v, want rejected with %s", st, cond)
	}
}

// heapWatch samples the live heap while an attack runs and reports the peak above the level
// measured (after a GC) when it started.
type heapWatch struct {
	idle     uint64
	peak     uint64
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// watchHeap starts sampling; the sampler ends at check or, if the test fails first, at cleanup.
func watchHeap(t *testing.T) *heapWatch {
	runtime.GC()
	w := &heapWatch{idle: liveHeap(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			w.peak = max(w.peak, liveHeap())
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(w.halt)
	return w
}

func (w *heapWatch) halt() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

// limitMB is acceptance's bound on what one attack may cost above idle.
const limitMB = 64

// check stops sampling and fails the test if the heap peaked limitMB above idle. The live heap
// counts garbage not yet collected, so the peak is an upper bound of what the attack held.
func (w *heapWatch) check(t *testing.T, what string) {
	t.Helper()
	w.halt()
	runtime.GC()
	after := liveHeap()
	peak := max(w.peak, after)
	t.Logf("%s: idle %d KB, peak %+d MB, live after GC %+d MB", what, w.idle>>10, (int64(peak)-int64(w.idle))>>20, (int64(after)-int64(w.idle))>>20)
	if peak > w.idle+limitMB<<20 {
		t.Fatalf("%s: heap peaked %d MB above idle (limit %d MB)", what, (peak-w.idle)>>20, limitMB)
	}
}

// released fails the test unless the heap returns within 8 MB of idle (after GCs) once the
// attacker is gone, within 5 s.
func (w *heapWatch) released(t *testing.T, what string) {
	t.Helper()
	var live uint64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		runtime.GC()
		if live = liveHeap(); live <= w.idle+8<<20 {
			return
		}
	}
	t.Fatalf("%s: %d MB still live above idle after the attacker left", what, (live-w.idle)>>20)
}
