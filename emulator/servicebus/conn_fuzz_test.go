package servicebus

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// panicCounter counts error-level records: the server logs recovered panics at that level.
type panicCounter struct{ n atomic.Int64 }

func (p *panicCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (p *panicCounter) Handle(context.Context, slog.Record) error    { p.n.Add(1); return nil }
func (p *panicCounter) WithAttrs([]slog.Attr) slog.Handler           { return p }
func (p *panicCounter) WithGroup(string) slog.Handler                { return p }

// fuzzPanics counts the panics the fuzz server's connections recovered from.
var fuzzPanics panicCounter

// fuzzConnSetup starts the server the fuzz inputs share (each input gets a fresh queue "q"),
// stopped when the fuzz target ends.
func fuzzConnSetup(f *testing.F) *Server {
	f.Helper()
	// The inputs skip SASL and CBS to reach every frame handler.
	return testServer(f, Config{Logger: slog.New(&fuzzPanics), AllowAnonymous: true})
}

func seedFrames(ps ...frames.Performative) []byte {
	var out []byte
	for _, p := range ps {
		out, _ = frames.Append(out, frames.TypeAMQP, 0, p, nil)
	}
	return out
}

// scriptConn is a connection whose peer sent r and then half-closed, and reads nothing it is
// sent: the server processes every frame of the input, however it answers.
type scriptConn struct {
	r      *bytes.Reader
	mu     sync.Mutex
	closed bool
}

func (c *scriptConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(b)
}

func (c *scriptConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return len(b), nil
}

func (c *scriptConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5673}
}
func (c *scriptConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *scriptConn) SetDeadline(t time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }

// Allocation budget of one fuzzed connection: a fixed part for its buffers (the 64 KiB read
// buffer, the frame buffer, the write buffers and the pipe's copy buffer) plus a multiple of
// the input, far below the 100,000-fold amplification of the decoder before it had a budget.
const (
	connAllocFixed  = 8 << 20
	connAllocFactor = 512
)

// FuzzConn feeds arbitrary frames, in any order, to a connection after a valid open: the server
// must neither panic nor hang, and the whole connection may allocate no more than its budget.
func FuzzConn(f *testing.F) {
	srv := fuzzConnSetup(f)
	zero, one, settled := uint32(0), uint32(1), frames.SenderSettled
	second := frames.ReceiverSecond
	f.Add(seedFrames(&frames.Begin{IncomingWindow: 10, OutgoingWindow: 10},
		&frames.Attach{Name: "s", Role: frames.RoleSender, Source: &frames.Source{}, Target: &frames.Target{Address: "q"}},
		&frames.Transfer{Handle: 0, DeliveryID: &zero, DeliveryTag: []byte{1}, MessageFormat: &zero},
		&frames.Detach{Handle: 0, Closed: true}, &frames.End{}))
	f.Add(seedFrames(&frames.Begin{IncomingWindow: 10, OutgoingWindow: 10},
		&frames.Attach{Name: "r", Role: frames.RoleReceiver, ReceiverSettleMode: &second, Source: &frames.Source{Address: "q"}, Target: &frames.Target{}},
		&frames.Flow{IncomingWindow: 10, NextOutgoingID: 0, OutgoingWindow: 10, Handle: &zero, DeliveryCount: &zero, LinkCredit: &one},
		&frames.Disposition{Role: frames.RoleReceiver, First: 0, State: &frames.Accepted{}}, &frames.Close{}))
	f.Add(seedFrames(&frames.Begin{IncomingWindow: 10, OutgoingWindow: 10},
		&frames.Attach{Name: "c", Role: frames.RoleSender, Source: &frames.Source{}, Target: &frames.Target{Address: "$cbs"}},
		&frames.Attach{Name: "cr", Handle: 1, Role: frames.RoleReceiver, SenderSettleMode: &settled, Source: &frames.Source{Address: "$cbs"}, Target: &frames.Target{Address: "reply"}},
		&frames.Flow{IncomingWindow: 10, NextOutgoingID: 0, OutgoingWindow: 10, Handle: &one, DeliveryCount: &zero, LinkCredit: &one, Echo: true}))
	req := enc.AppendDescriptor(nil, secProperties)
	req, _ = enc.AppendList(req, []any{"id", nil, nil, nil, "reply"})
	req = enc.AppendDescriptor(req, secApplicationProps)
	req, _ = enc.AppendMap(req, enc.Map{{Key: "operation", Value: "com.microsoft:peek-message"}})
	req = enc.AppendDescriptor(req, secValue)
	req, _ = enc.AppendMap(req, enc.Map{{Key: "from-sequence-number", Value: int64(1)}, {Key: "message-count", Value: int32(5)}})
	mgmt := seedFrames(&frames.Begin{IncomingWindow: 10, OutgoingWindow: 10},
		&frames.Attach{Name: "m", Role: frames.RoleSender, Source: &frames.Source{}, Target: &frames.Target{Address: "q/$management"}},
		&frames.Attach{Name: "mr", Handle: 1, Role: frames.RoleReceiver, SenderSettleMode: &settled, Source: &frames.Source{Address: "q/$management"}, Target: &frames.Target{Address: "reply"}},
		&frames.Flow{IncomingWindow: 10, NextOutgoingID: 0, OutgoingWindow: 10, Handle: &one, DeliveryCount: &zero, LinkCredit: &one})
	mgmt, _ = frames.Append(mgmt, frames.TypeAMQP, 0, &frames.Transfer{Handle: 0, DeliveryID: &zero, DeliveryTag: []byte{1}, MessageFormat: &zero}, req)
	f.Add(mgmt)
	// Decoder amplification: an attach whose properties hold 30 arrays of 65,536 nulls.
	amp := seedFrames(&frames.Begin{IncomingWindow: 10, OutgoingWindow: 10})
	props := enc.Map{}
	for i := range 30 { // encoded as 10 bytes each
		props = append(props, enc.Pair{Key: enc.Symbol(fmt.Sprint(i)), Value: enc.Array{Code: enc.TypeNull, Values: make([]any, 65536)}})
	}
	amp, _ = frames.Append(amp, frames.TypeAMQP, 0, &frames.Attach{Name: "a", Role: frames.RoleSender, Source: &frames.Source{}, Target: &frames.Target{Address: "q"},
		Properties: props}, nil)
	f.Add(amp)
	f.Fuzz(func(t *testing.T, in []byte) {
		// A fresh queue per input, so what one input stored does not cost the next.
		_ = srv.DeleteEntity("q")
		if err := srv.CreateQueue(QueueConfig{Name: "q"}); err != nil {
			t.Fatal(err)
		}
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		open, _ := frames.Append(nil, frames.TypeAMQP, 0, &frames.Open{ContainerID: "fuzz", MaxFrameSize: 65536}, nil)
		c := newConn(srv, &scriptConn{r: bytes.NewReader(append(append(frames.ProtoAMQP[:], open...), in...))})
		served := make(chan struct{})
		go func() { c.serve(); close(served) }()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Fatal("connection did not finish after its peer went away")
		}
		if n := fuzzPanics.n.Load(); n > 0 {
			t.Fatalf("%d recovered panics", n)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if got, budget := after.TotalAlloc-before.TotalAlloc, uint64(connAllocFixed+connAllocFactor*len(in)); got > budget {
			t.Fatalf("a connection fed %d bytes allocated %d bytes, budget %d", len(in), got, budget)
		}
	})
}
