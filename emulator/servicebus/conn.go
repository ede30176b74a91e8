package servicebus

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/auth"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// maxPendingWrite bounds the bytes queued for the socket; producers wait beyond it.
const maxPendingWrite = 4 << 20

// conn is one AMQP connection (part 2, section 2.4). The goroutine running serve owns the
// session tables; link pumps and the writer goroutine share only the write buffer and the
// session locks.
type conn struct {
	srv *Server
	nc  net.Conn
	log *slog.Logger
	r   *frames.Reader

	// Negotiated in open.
	peerMaxFrame uint32
	peerIdle     time.Duration
	channelMax   uint16
	containerID  string

	// Owned by the serve goroutine.
	sessions map[uint16]*session // by the peer's channel
	local    map[uint16]*session // by our channel
	channels idPool              // our free channels
	links    int                 // attached links of all sessions, for MaxLinksPerConnection

	// pending counts the bytes held in unfinished incoming deliveries and in responses waiting
	// for credit, bounded by Config.MaxPendingBytes (reserve/release).
	pending atomic.Int64

	// Reply links (server-to-client RPC responses) by their target address, shared with
	// request handlers on any session of the connection.
	replyMu sync.Mutex
	replies map[string]*link

	// grants are the tokens put on $cbs (and a SASL PLAIN login) that authorize links (auth.go);
	// tokenTimer closes the connection when none arrives in time.
	grants     auth.Grants
	tokenTimer *time.Timer

	// sessionLinks holds the attached session receiver links by name, so $management requests
	// can find the session their associated-link-name holds (session_receiver.go).
	sessionLinks sync.Map

	// Write side: frames are encoded straight into wbuf under wmu; the writer goroutine swaps
	// the buffer out and writes it, so concurrent producers batch into few syscalls.
	wmu       sync.Mutex
	wcond     *sync.Cond
	wbuf      []byte
	spare     []byte
	wsig      chan struct{}
	closing   bool // close frame queued or socket failing: the writer closes the socket after flushing
	closeSent bool
	opened    bool // our open was sent: close frames are legal
	// headerSent: the AMQP header was exchanged, so a bad open is answered with open and close.
	headerSent bool
	wdone      chan struct{}

	writerStarted bool          // set by serve before the writer goroutine starts
	done          chan struct{} // closed when serve returns
	doneOnce      sync.Once
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv:      s,
		nc:       nc,
		log:      s.log.With("remote", nc.RemoteAddr().String()),
		sessions: map[uint16]*session{},
		local:    map[uint16]*session{},
		replies:  map[string]*link{},
		wsig:     make(chan struct{}, 1),
		wdone:    make(chan struct{}),
		done:     make(chan struct{}),
	}
	c.wcond = sync.NewCond(&c.wmu)
	return c
}

// serve runs the connection to completion. It never panics: a panic in a handler is logged and
// ends only this connection with amqp:internal-error.
func (c *conn) serve() {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("connection handler panicked", "panic", p, "stack", string(debug.Stack()))
			c.fail(&connError{Condition: CondInternalError, Description: "internal error"})
		}
		c.teardown()
	}()
	c.r = frames.NewReader(c.nc, c.srv.cfg.MaxFrameSize)
	_ = c.nc.SetDeadline(time.Now().Add(30 * time.Second)) // handshake must finish quickly
	if err := c.handshake(); err != nil {
		c.log.Debug("handshake failed", "err", err)
		c.failHandshake(err)
		return
	}
	_ = c.nc.SetWriteDeadline(time.Time{})
	c.writerStarted = true
	go c.writer()
	c.requireToken()
	c.log.Debug("connection open", "container", c.containerID, "max-frame", c.peerMaxFrame, "idle", c.peerIdle) // one line per connection
	for {
		if c.srv.cfg.IdleTimeout > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
		}
		h, body, err := c.r.Next()
		if err != nil {
			c.readFailed(err)
			return
		}
		if h.Type != frames.TypeAMQP {
			c.fail(&connError{Condition: CondFramingError, Description: "SASL frame after open"})
			return
		}
		p, payload, err := frames.Parse(h.Type, body)
		if err != nil {
			c.fail(frameError(err))
			return
		}
		if p == nil {
			continue // keep-alive
		}
		if err := c.dispatch(h.Channel, p, payload); err != nil {
			var ce *connError
			if errors.As(err, &ce) || !c.handleLocal(err) {
				c.fail(err)
				return
			}
		}
		if c.isClosing() {
			return
		}
	}
}

// frameError maps a parse error to the connection error the spec asks for.
func frameError(err error) error {
	switch {
	case errors.Is(err, frames.ErrFrameTooLarge):
		return &connError{Condition: CondFramingError, Description: "frame exceeds max-frame-size", Err: err}
	case errors.Is(err, enc.ErrBudget):
		return &connError{Condition: CondDecodeError, Description: "frame decodes to more memory than its allocation budget", Err: err}
	case errors.Is(err, frames.ErrUnknownPerformative):
		return &connError{Condition: CondNotImplemented, Description: "unknown performative", Err: err}
	case errors.Is(err, frames.ErrMissingField):
		return &connError{Condition: CondInvalidField, Description: "mandatory field missing", Err: err}
	}
	return &connError{Condition: CondDecodeError, Description: "malformed frame", Err: err}
}

func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.log.Debug("connection closed by peer")
	case errors.Is(err, frames.ErrFrameTooLarge), errors.Is(err, frames.ErrMalformed):
		c.fail(frameError(err))
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.fail(&connError{Condition: CondResourceLimit, Description: "idle timeout expired"})
			return
		}
		c.log.Debug("read failed", "err", err)
	}
}

// handshake runs the protocol header exchange, optional SASL, and open.
func (c *conn) handshake() error {
	hdr, err := c.r.ReadProtoHeader()
	if err != nil {
		return fmt.Errorf("reading protocol header: %w", err)
	}
	if hdr == frames.ProtoAMQP && !c.srv.cfg.AllowAnonymous {
		// SASL is required: answer with the header we accept and close (part 2, section 2.2).
		_, _ = c.nc.Write(frames.ProtoSASL[:])
		return ErrSASLRequired
	}
	if hdr == frames.ProtoSASL {
		if _, err := c.nc.Write(frames.ProtoSASL[:]); err != nil {
			return fmt.Errorf("writing SASL header: %w", err)
		}
		if err := c.sasl(); err != nil {
			return err
		}
		if hdr, err = c.r.ReadProtoHeader(); err != nil {
			return fmt.Errorf("reading AMQP header: %w", err)
		}
	}
	if hdr != frames.ProtoAMQP {
		// The spec's answer to an unsupported header: our own header, then close.
		_, _ = c.nc.Write(frames.ProtoSASL[:])
		return fmt.Errorf("header % x: %w", hdr[:], ErrProtocolHeader)
	}
	if _, err := c.nc.Write(frames.ProtoAMQP[:]); err != nil {
		return fmt.Errorf("writing AMQP header: %w", err)
	}
	c.headerSent = true
	h, body, err := c.r.Next()
	if err != nil {
		return fmt.Errorf("reading open: %w", err)
	}
	p, _, err := frames.Parse(h.Type, body)
	if err != nil {
		return frameError(err)
	}
	open, ok := p.(*frames.Open)
	if !ok || h.Type != frames.TypeAMQP {
		return &connError{Condition: CondNotAllowed, Description: fmt.Sprintf("expected open, got %T", p)}
	}
	c.containerID = open.ContainerID
	c.peerMaxFrame = open.MaxFrameSize
	if c.peerMaxFrame == 0 {
		c.peerMaxFrame = 1<<32 - 1 // absent means the spec default
	}
	if c.peerMaxFrame < frames.MinMaxFrameSize {
		c.peerMaxFrame = frames.MinMaxFrameSize
	}
	// Sessions are bounded by the channel-max we announce; the spec makes the smaller of the
	// two announced values binding.
	c.channelMax = uint16(min(c.srv.cfg.MaxSessionsPerConnection, 1<<16) - 1)
	if open.ChannelMaxSet {
		c.channelMax = min(c.channelMax, open.ChannelMax)
	}
	c.peerIdle = time.Duration(open.IdleTimeout) * time.Millisecond
	reply := &frames.Open{
		ContainerID:   "sbemulator-" + randomID(),
		Hostname:      open.Hostname,
		MaxFrameSize:  c.srv.cfg.MaxFrameSize,
		ChannelMax:    c.channelMax,
		ChannelMaxSet: true,
		IdleTimeout:   uint32(c.srv.cfg.IdleTimeout / time.Millisecond),
		Properties:    enc.Map{{Key: enc.Symbol("product"), Value: "orderflow-sbemulator"}},
	}
	c.wmu.Lock()
	c.opened = true
	c.wmu.Unlock()
	b, err := frames.Append(nil, frames.TypeAMQP, 0, reply, nil)
	if err != nil {
		return err
	}
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("writing open: %w", err)
	}
	return nil
}

// failHandshake answers a failed handshake: a close frame once open was exchanged, otherwise
// just the socket close.
func (c *conn) failHandshake(err error) {
	var ce *connError
	c.wmu.Lock()
	opened := c.opened
	c.wmu.Unlock()
	if (opened || c.headerSent) && errors.As(err, &ce) {
		var b []byte
		if !opened {
			// Part 2, section 2.4.5: a close must follow an open, so a refused open gets ours first.
			b, _ = frames.Append(nil, frames.TypeAMQP, 0, &frames.Open{ContainerID: "sbemulator-" + randomID()}, nil)
		}
		b, _ = frames.Append(b, frames.TypeAMQP, 0, &frames.Close{Error: amqpError(ce.Condition, ce.Description)}, nil)
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.nc.Write(b)
	}
	_ = c.nc.Close()
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// send encodes one frame into the write buffer. Transfers pass their payload chunk.
func (c *conn) send(channel uint16, p frames.Performative, payload []byte) error {
	c.wmu.Lock()
	for len(c.wbuf) > maxPendingWrite && !c.closing {
		c.wcond.Wait()
	}
	if c.closing {
		c.wmu.Unlock()
		return errConnClosing
	}
	var err error
	c.wbuf, err = frames.Append(c.wbuf, frames.TypeAMQP, channel, p, payload)
	c.wmu.Unlock()
	c.signal()
	return err
}

var errConnClosing = errors.New("connection closing")

func (c *conn) signal() {
	select {
	case c.wsig <- struct{}{}:
	default:
	}
}

// writer flushes the write buffer and sends keep-alive frames at a quarter of the peer's idle
// timeout when nothing else was written for half of it.
func (c *conn) writer() {
	defer close(c.wdone)
	var tick <-chan time.Time
	keepAlive := c.peerIdle / 2
	if keepAlive > 0 {
		t := time.NewTicker(c.peerIdle / 4)
		defer t.Stop()
		tick = t.C
	}
	lastWrite := time.Now()
	for {
		select {
		case <-c.wsig:
		case <-tick:
		case <-c.done:
		}
		c.wmu.Lock()
		buf, closing := c.wbuf, c.closing
		c.wbuf = c.spare[:0]
		c.wcond.Broadcast()
		c.wmu.Unlock()
		if len(buf) == 0 && keepAlive > 0 && time.Since(lastWrite) >= keepAlive && !closing {
			buf = append(buf, 0, 0, 0, 8, 2, 0, 0, 0)
		}
		if len(buf) > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := c.nc.Write(buf); err != nil {
				c.log.Debug("write failed", "err", err)
				c.markClosing()
				_ = c.nc.Close()
				return
			}
			lastWrite = time.Now()
		}
		c.spare = buf
		if closing {
			_ = c.nc.Close()
			return
		}
		// No early exit on c.done here: teardown marks the connection closing before it
		// closes done, so the next round flushes what fail queued (the close frame) first.
	}
}

func (c *conn) markClosing() {
	c.wmu.Lock()
	c.closing = true
	c.wcond.Broadcast()
	c.wmu.Unlock()
}

func (c *conn) isClosing() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.closing
}

// fail queues a close frame carrying err's condition (internal-error for untyped errors) and
// makes the writer close the socket once it is flushed.
func (c *conn) fail(err error) {
	cond, desc := CondInternalError, "internal error"
	var ce *connError
	if errors.As(err, &ce) {
		cond, desc = ce.Condition, ce.Description
	}
	if cond == CondInternalError {
		c.log.Warn("closing connection", "err", err)
	} else {
		c.log.Debug("closing connection", "err", err)
	}
	c.closeWith(&frames.Close{Error: amqpError(cond, desc)})
}

func (c *conn) closeWith(cl *frames.Close) {
	c.wmu.Lock()
	if !c.closeSent && c.opened && !c.closing {
		c.wbuf, _ = frames.Append(c.wbuf, frames.TypeAMQP, 0, cl, nil)
		c.closeSent = true
	}
	c.closing = true
	c.wcond.Broadcast()
	c.wmu.Unlock()
	c.signal()
}

// shutdown is called by Server.Stop from another goroutine.
func (c *conn) shutdown(err error) {
	c.fail(err)
	go func() {
		select {
		case <-c.done:
		case <-time.After(time.Second):
			_ = c.nc.Close() // a peer that does not read must not hold Stop
		}
	}()
}

// teardown releases everything the connection holds: links give their undelivered messages
// back to the broker (locks stay with the entity), then the socket closes.
func (c *conn) teardown() {
	c.stopTokenTimer()
	c.markClosing()
	for _, s := range c.local {
		s.closeAll()
	}
	c.doneOnce.Do(func() { close(c.done) })
	c.signal()
	if c.writerStarted {
		select {
		case <-c.wdone:
		case <-time.After(2 * time.Second):
		}
	}
	_ = c.nc.Close()
	c.log.Debug("connection finished")
}

// handleLocal handles a session or link error without closing the connection; it reports false
// when err must close the connection.
func (c *conn) handleLocal(err error) bool {
	var le *linkErrorAt
	if errors.As(err, &le) {
		le.l.detach(le.err)
		return true
	}
	var se *sessionErrorAt
	if errors.As(err, &se) {
		se.s.end(se.err)
		return true
	}
	return false
}

// linkErrorAt ties a linkError to the link it ends.
type linkErrorAt struct {
	l   *link
	err *linkError
}

func (e *linkErrorAt) Error() string { return e.err.Error() }
func (e *linkErrorAt) Unwrap() error { return e.err }

// sessionErrorAt ties a sessionError to the session it ends.
type sessionErrorAt struct {
	s   *session
	err *sessionError
}

func (e *sessionErrorAt) Error() string { return e.err.Error() }
func (e *sessionErrorAt) Unwrap() error { return e.err }

// dispatch routes one performative.
func (c *conn) dispatch(channel uint16, p frames.Performative, payload []byte) error {
	switch f := p.(type) {
	case *frames.Begin:
		return c.begin(channel, f)
	case *frames.Close:
		if f.Error != nil {
			c.log.Debug("peer closed with error", "err", f.Error)
		}
		c.closeWith(&frames.Close{})
		return nil
	case *frames.Open:
		return &connError{Condition: CondNotAllowed, Description: "second open"}
	}
	s, ok := c.sessions[channel]
	if !ok {
		return &connError{Condition: CondNotAllowed, Description: fmt.Sprintf("%T on channel %d without a session", p, channel)}
	}
	switch f := p.(type) {
	case *frames.End:
		s.peerEnded(f)
		delete(c.sessions, channel)
		delete(c.local, s.channel)
		c.channels.put(uint32(s.channel))
		c.links -= len(s.links)
		return nil
	case *frames.Attach:
		return s.attach(f)
	case *frames.Flow:
		return s.flow(f)
	case *frames.Transfer:
		return s.transfer(f, payload)
	case *frames.Disposition:
		return s.disposition(f)
	case *frames.Detach:
		return s.detachFrom(f)
	}
	return &connError{Condition: CondNotImplemented, Description: fmt.Sprintf("performative %T", p)}
}

func (c *conn) begin(channel uint16, f *frames.Begin) error {
	if f.RemoteChannel != nil {
		return &connError{Condition: CondNotAllowed, Description: "begin answers a session the server never started"}
	}
	if channel > c.channelMax {
		// Part 2, section 2.7.1: a channel outside the negotiated range is a framing error.
		return &connError{Condition: CondFramingError, Description: fmt.Sprintf("begin on channel %d above channel-max %d", channel, c.channelMax)}
	}
	if _, dup := c.sessions[channel]; dup {
		return &connError{Condition: CondNotAllowed, Description: fmt.Sprintf("channel %d already has a session", channel)}
	}
	// The peer's channels are at most channel-max, so ours (one per session) never run out.
	id, ok := c.channels.get(uint32(c.channelMax))
	if !ok {
		return &connError{Condition: CondResourceLimit, Description: "channel-max reached"}
	}
	local := uint16(id)
	s := newSession(c, local, channel, f)
	c.sessions[channel] = s
	c.local[local] = s
	return s.sendBegin()
}

// reserve takes n bytes of the connection's pending budget (Config.MaxPendingBytes).
func (c *conn) reserve(n int64) bool {
	if c.pending.Add(n) > c.srv.cfg.MaxPendingBytes {
		c.pending.Add(-n)
		return false
	}
	return true
}

// release returns n bytes taken by reserve.
func (c *conn) release(n int64) { c.pending.Add(-n) }

func (c *conn) registerReply(address string, l *link) {
	c.replyMu.Lock()
	c.replies[address] = l
	c.replyMu.Unlock()
}

func (c *conn) unregisterReply(address string, l *link) {
	c.replyMu.Lock()
	if c.replies[address] == l {
		delete(c.replies, address)
	}
	c.replyMu.Unlock()
}

func (c *conn) replyLink(address string) *link {
	c.replyMu.Lock()
	defer c.replyMu.Unlock()
	return c.replies[address]
}
