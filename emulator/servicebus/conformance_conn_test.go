package servicebus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/orderflow/orderflow/emulator/servicebus"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

type connBundle struct {
	srv   *servicebus.Server
	queue string
	ctx   context.Context
}

// setupConn starts an emulator with one unique queue.
func setupConn(t *testing.T) connBundle {
	t.Helper()
	srv, ctx := startServer(t, servicebus.Config{HTTPAddr: "127.0.0.1:0"})
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	q := uniqueName(t)
	if err := srv.CreateQueue(servicebus.QueueConfig{Name: q}); err != nil {
		t.Fatal(err)
	}
	return connBundle{srv: srv, queue: q, ctx: ctx}
}

func (b connBundle) client(t *testing.T, connStr string) *azservicebus.Client {
	t.Helper()
	c, err := azservicebus.NewClientFromConnectionString(connStr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// roundTrip sends one message with c and receives it back.
func (b connBundle) roundTrip(t *testing.T, c *azservicebus.Client, body string) error {
	s, err := c.NewSender(b.queue, nil)
	if err != nil {
		return err
	}
	defer s.Close(context.Background())
	if err := s.SendMessage(b.ctx, &azservicebus.Message{Body: []byte(body)}, nil); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	r, err := c.NewReceiverForQueue(b.queue, nil)
	if err != nil {
		return err
	}
	defer r.Close(context.Background())
	msgs, err := r.ReceiveMessages(b.ctx, 1, nil)
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	return r.CompleteMessage(b.ctx, msgs[0], nil)
}

func TestWrongKeyIsUnauthorized(t *testing.T) {
	t.Parallel()
	b := setupConn(t)
	connStr := strings.Replace(b.srv.ConnectionString(), "SharedAccessKey="+servicebus.DefaultKey, "SharedAccessKey=wrong", 1)
	c := b.client(t, connStr)
	s, err := c.NewSender(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.SendMessage(b.ctx, &azservicebus.Message{Body: []byte("x")}, nil)
	if sbCode(err) != azservicebus.CodeUnauthorizedAccess {
		t.Fatalf("send with wrong key: %v, want CodeUnauthorizedAccess", err)
	}
}

func TestUnknownQueueIsNotFound(t *testing.T) {
	t.Parallel()
	b := setupConn(t)
	c := b.client(t, b.srv.ConnectionString())
	s, err := c.NewSender("no-such-queue", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.SendMessage(b.ctx, &azservicebus.Message{Body: []byte("x")}, nil)
	if sbCode(err) != azservicebus.CodeNotFound {
		t.Fatalf("send to unknown queue: %v, want CodeNotFound", err)
	}
}

func TestTwentyConcurrentConnections(t *testing.T) {
	t.Parallel()
	b := setupConn(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		c := b.client(t, b.srv.ConnectionString())
		wg.Go(func() { errs <- b.roundTrip(t, c, fmt.Sprint(i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// rawConn opens a TCP connection that speaks whatever the test writes.
func (b connBundle) rawConn(t *testing.T) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", b.srv.AMQPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return nc
}

// openRaw does SASL PLAIN with the default policy (authorizing the connection), the AMQP header
// and the open exchange, and returns a frame reader.
func (b connBundle) openRaw(t *testing.T, nc net.Conn) *frames.Reader {
	return b.openRawIdle(t, nc, 0)
}

// openRawIdle is openRaw announcing an idle time-out in milliseconds.
func (b connBundle) openRawIdle(t *testing.T, nc net.Conn, idleMillis uint32) *frames.Reader {
	t.Helper()
	r := frames.NewReader(nc, 0)
	saslPlain(t, nc, r)
	open, _ := frames.Append(nil, frames.TypeAMQP, 0, &frames.Open{ContainerID: "raw", MaxFrameSize: 65536, IdleTimeout: idleMillis}, nil)
	if _, err := nc.Write(append(frames.ProtoAMQP[:], open...)); err != nil {
		t.Fatal(err)
	}
	if hdr, err := r.ReadProtoHeader(); err != nil || hdr != frames.ProtoAMQP {
		t.Fatalf("protocol header % x, %v", hdr, err)
	}
	h, body, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if p, _, err := frames.Parse(h.Type, body); err != nil {
		t.Fatal(err)
	} else if o, ok := p.(*frames.Open); !ok || o.MaxFrameSize == 0 || o.IdleTimeout == 0 {
		t.Fatalf("server open %#v", p)
	}
	return r
}

// saslPlain runs the SASL layer with PLAIN and the default policy's key name and key.
func saslPlain(t *testing.T, nc net.Conn, r *frames.Reader) {
	t.Helper()
	if _, err := nc.Write(frames.ProtoSASL[:]); err != nil {
		t.Fatal(err)
	}
	if hdr, err := r.ReadProtoHeader(); err != nil || hdr != frames.ProtoSASL {
		t.Fatalf("SASL header % x, %v", hdr, err)
	}
	if _, _, err := r.Next(); err != nil { // sasl-mechanisms
		t.Fatal(err)
	}
	init, _ := frames.Append(nil, frames.TypeSASL, 0, &frames.SASLInit{Mechanism: "PLAIN",
		InitialResponse: []byte("\x00" + servicebus.DefaultKeyName + "\x00" + servicebus.DefaultKey)}, nil)
	if _, err := nc.Write(init); err != nil {
		t.Fatal(err)
	}
	h, body, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if p, _, err := frames.Parse(h.Type, body); err != nil {
		t.Fatal(err)
	} else if o, ok := p.(*frames.SASLOutcome); !ok || o.Code != frames.SASLOK {
		t.Fatalf("sasl outcome %#v", p)
	}
}

// expectClose reads frames until a close and returns its condition.
func expectClose(t *testing.T, r *frames.Reader) string {
	t.Helper()
	for {
		h, body, err := r.Next()
		if err != nil {
			t.Fatalf("connection ended without close: %v", err)
		}
		p, _, err := frames.Parse(h.Type, body)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := p.(*frames.Close); ok {
			if c.Error == nil {
				return ""
			}
			return string(c.Error.Condition)
		}
	}
}

func TestMalformedConnectionsDoNotAffectHealthyOne(t *testing.T) {
	t.Parallel()
	b := setupConn(t)
	healthy := b.client(t, b.srv.ConnectionString())
	if err := b.roundTrip(t, healthy, "before"); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		frame []byte
		want  string
	}{
		"garbage body":         {[]byte{0, 0, 0, 12, 2, 0, 0, 0, 0xff, 0xfe, 0xfd, 0xfc}, "amqp:decode-error"},
		"unknown performative": {[]byte{0, 0, 0, 12, 2, 0, 0, 0, 0, 0x53, 0x99, 0x45}, "amqp:not-implemented"},
		"oversize frame":       {[]byte{0, 0x10, 0, 0, 2, 0, 0, 0}, "amqp:connection:framing-error"},
		"no session":           {mustFrame(t, &frames.Attach{Name: "x", Handle: 0, Role: true}), "amqp:not-allowed"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			nc := b.rawConn(t)
			r := b.openRaw(t, nc)
			if _, err := nc.Write(c.frame); err != nil {
				t.Fatal(err)
			}
			if got := expectClose(t, r); got != c.want {
				t.Fatalf("close condition %q, want %q", got, c.want)
			}
		})
	}
	t.Run("bad protocol header", func(t *testing.T) {
		t.Parallel()
		nc := b.rawConn(t)
		if _, err := nc.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(nc)
		if err != nil {
			t.Fatalf("server should close the socket: %v", err)
		}
		if string(got) != string(frames.ProtoSASL[:]) {
			t.Fatalf("server answered % x, want its own protocol header", got)
		}
	})
	t.Run("healthy still works", func(t *testing.T) {
		t.Parallel()
		if err := b.roundTrip(t, healthy, "after"); err != nil {
			t.Fatal(err)
		}
	})
}

func mustFrame(t *testing.T, p frames.Performative) []byte {
	t.Helper()
	b, err := frames.Append(nil, frames.TypeAMQP, 0, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRefusedAttachThenDetach(t *testing.T) {
	t.Parallel()
	b := setupConn(t)
	nc := b.rawConn(t)
	r := b.openRaw(t, nc)
	begin := mustFrame(t, &frames.Begin{NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 100})
	attach := mustFrame(t, &frames.Attach{Name: "l", Handle: 0, Role: frames.RoleReceiver, Source: &frames.Source{Address: "missing"}, Target: &frames.Target{}})
	if _, err := nc.Write(append(begin, attach...)); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for len(seen) < 3 {
		h, body, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := frames.Parse(h.Type, body)
		if err != nil {
			t.Fatal(err)
		}
		switch f := p.(type) {
		case *frames.Begin:
			seen = append(seen, "begin")
		case *frames.Attach:
			if f.Source != nil || f.Target != nil {
				t.Fatalf("refusing attach has terminus %+v %+v", f.Source, f.Target)
			}
			seen = append(seen, "attach")
		case *frames.Detach:
			if !f.Closed || f.Error == nil || f.Error.Condition != "amqp:not-found" {
				t.Fatalf("detach %+v", f)
			}
			seen = append(seen, "detach")
		}
	}
}

func TestHealthAndIdempotentStop(t *testing.T) {
	t.Parallel()
	b := setupConn(t)
	resp, err := http.Get("http://" + b.srv.HTTPAddr() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || body["status"] != "healthy" {
		t.Fatalf("health: %d %v %v", resp.StatusCode, body, err)
	}
	if err := b.srv.Stop(b.ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Stop(b.ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := net.DialTimeout("tcp", b.srv.AMQPAddr(), time.Second); err == nil {
		t.Fatal("AMQP port still accepting after Stop")
	}
	var never *servicebus.Server
	if err := never.Stop(b.ctx); err != nil {
		t.Fatalf("Stop on nil server: %v", err)
	}
}

func TestKeepAliveForPeersIdleTimeout(t *testing.T) {
	t.Parallel()
	b := setupConn(t)
	nc := b.rawConn(t)
	r := b.openRawIdle(t, nc, 400)
	// Nothing else is pending, so the next frame can only be a keep-alive.
	h, body, err := r.Next()
	if err != nil {
		t.Fatalf("waiting for a keep-alive: %v", err)
	}
	if len(body) != 0 || h.Type != frames.TypeAMQP {
		t.Fatalf("expected an empty frame, got %d bytes", len(body))
	}
}

func TestOversizeMessageEndsLink(t *testing.T) {
	t.Parallel()
	b := setupConn(t)
	nc := b.rawConn(t)
	r := b.openRaw(t, nc)
	out := mustFrame(t, &frames.Begin{NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 100})
	mixed := frames.SenderMixed
	out = append(out, mustFrame(t, &frames.Attach{Name: "s", Handle: 0, Role: frames.RoleSender, SenderSettleMode: &mixed,
		Source: &frames.Source{}, Target: &frames.Target{Address: b.queue}})...)
	id, format := uint32(0), uint32(0)
	chunk := make([]byte, 60000)
	for i := range 6 {
		tr := &frames.Transfer{Handle: 0, More: true}
		if i == 0 {
			tr.DeliveryID, tr.DeliveryTag, tr.MessageFormat = &id, []byte{1}, &format
		}
		f, err := frames.Append(nil, frames.TypeAMQP, 0, tr, chunk)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f...)
	}
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	for {
		h, body, err := r.Next()
		if err != nil {
			t.Fatalf("no detach: %v", err)
		}
		p, _, err := frames.Parse(h.Type, body)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := p.(*frames.Detach); ok {
			if !d.Closed || d.Error == nil || d.Error.Condition != "amqp:link:message-size-exceeded" {
				t.Fatalf("detach %+v %v", d, d.Error)
			}
			return
		}
		if _, ok := p.(*frames.Close); ok {
			t.Fatal("connection closed instead of the link")
		}
	}
}

func TestStopWithActiveClients(t *testing.T) {
	t.Parallel()
	b := setupConn(t)
	c := b.client(t, b.srv.ConnectionString())
	if err := b.roundTrip(t, c, "warm-up"); err != nil {
		t.Fatal(err)
	}
	r, err := c.NewReceiverForQueue(b.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	recvCtx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	received := make(chan error, 1)
	go func() {
		_, err := r.ReceiveMessages(recvCtx, 1, nil)
		received <- err
	}()
	if n := b.srv.ConnectionCount(); n != 1 {
		t.Fatalf("ConnectionCount = %d, want 1", n)
	}
	stopCtx, stopCancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer stopCancel()
	if err := b.srv.Stop(stopCtx); err != nil {
		t.Fatalf("Stop with an active client: %v", err)
	}
	cancel() // the SDK keeps retrying against a stopped server until its context ends
	if err := <-received; err == nil {
		t.Fatal("ReceiveMessages succeeded on a stopped server")
	}
}

func TestSilentConnectionClosedAfterIdleTimeout(t *testing.T) {
	t.Parallel()
	b := setupConn(t)
	srv, err := servicebus.Start(b.ctx, servicebus.Config{AMQPAddr: "127.0.0.1:0", HTTPAddr: "-", IdleTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	nc, err := net.Dial("tcp", srv.AMQPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := b.openRaw(t, nc)
	if got := expectClose(t, r); got != "amqp:resource-limit-exceeded" {
		t.Fatalf("close condition %q, want amqp:resource-limit-exceeded", got)
	}
}
