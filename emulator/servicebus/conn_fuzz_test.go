package servicebus

import (
	"context"
	"io"
	"log/slog"
	"net"
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

var (
	fuzzOnce   sync.Once
	fuzzServer *Server
	fuzzPanics panicCounter
)

// fuzzConnSetup starts one shared server with a queue named "q" for the fuzz inputs.
func fuzzConnSetup(f *testing.F) *Server {
	f.Helper()
	fuzzOnce.Do(func() {
		srv, err := Start(context.Background(), Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", Logger: slog.New(&fuzzPanics),
			AllowAnonymous: true}) // the inputs skip SASL and CBS to reach every frame handler
		if err != nil {
			f.Fatal(err)
		}
		if err := srv.CreateQueue(QueueConfig{Name: "q"}); err != nil {
			f.Fatal(err)
		}
		fuzzServer = srv
	})
	return fuzzServer
}

func seedFrames(ps ...frames.Performative) []byte {
	var out []byte
	for _, p := range ps {
		out, _ = frames.Append(out, frames.TypeAMQP, 0, p, nil)
	}
	return out
}

// FuzzConn feeds arbitrary frames to a connection after a valid open: the server must neither
// panic nor hang.
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
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		c := newConn(srv, server)
		served := make(chan struct{})
		go func() { c.serve(); close(served) }()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		open, _ := frames.Append(nil, frames.TypeAMQP, 0, &frames.Open{ContainerID: "fuzz", MaxFrameSize: 65536}, nil)
		_, _ = client.Write(append(append(frames.ProtoAMQP[:], open...), in...))
		_ = client.Close()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Fatal("connection did not finish after its peer went away")
		}
		if n := fuzzPanics.n.Load(); n > 0 {
			t.Fatalf("%d recovered panics", n)
		}
	})
}
