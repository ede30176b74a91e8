package servicebus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/auth"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// linkKind says what a link is attached to.
type linkKind uint8

const (
	kindRefused   linkKind = iota
	kindEntityIn           // the client sends to a queue or topic
	kindEntityOut          // the client receives from a queue, subscription or dead-letter queue
	kindCBS                // put-token requests to $cbs
	kindMgmt               // requests to <entity>/$management
	kindReply              // RPC responses to the client's reply address
)

// Link credit the server grants to client senders, topped up when half is used.
const linkCreditIn = 1000

// replyQueue bounds RPC responses waiting for credit on one reply link.
const replyQueue = 1024

var errLinkClosed = errors.New("link closed")

// link is one attached link (part 2, section 2.6). Fields without a comment about locking are
// owned by the serve goroutine.
type link struct {
	s           *session
	name        string
	peerHandle  uint32
	handle      uint32
	role        bool // ours
	kind        linkKind
	address     string         // terminus address the client named
	entity      broker.Address // for entity and $management links
	rcvSettle   *uint8
	sndSettle   *uint8
	replyTarget string // reply links: the target address (may be empty)
	detachSent  bool   // guarded by s.mu
	// pendingAttach is an accept-next-session attach not answered yet (guarded by s.mu). A
	// detach may only follow our attach, so a detach while it waits first sends the refusal
	// (session_receiver.go).
	pendingAttach *frames.Attach
	// acceptDone is closed when the accept-next goroutine returned (nil when none ran): a
	// peer's detach waits for it, so a session it locked is released before the answer.
	acceptDone chan struct{}

	// Authorization expiry (auth.go); guarded by mu.
	grantTimer   *time.Timer
	grantStopped bool

	// Incoming deliveries (we are the receiver).
	credit        uint32
	deliveryCount uint32
	asm           []byte
	asmActive     bool
	asmID         uint32
	asmFormat     uint32
	asmSettled    bool
	asmCharged    bool // asm's capacity is counted in the connection's pending bytes
	// asmSpare is the assembly buffer of the last multi-transfer delivery, kept for the next
	// one, and sent the decoding state of the messages: both reused (sentScratch says why).
	asmSpare []byte
	sent     sentScratch

	// Outgoing deliveries (we are the sender); guarded by mu.
	mu            sync.Mutex
	outCredit     uint32
	outDelivery   uint32
	drain         bool
	closed        bool          // guarded by s.mu: no transfer may follow a detach
	recv          messageSource // *broker.Receiver or, on session links, *broker.SessionReceiver
	mode          broker.ReceiveMode
	replies       [][]byte // responses waiting for credit (reply links), guarded by mu
	replyCount    int      // responses reserved or queued, guarded by mu
	repliesClosed bool     // guarded by mu: the pump ended, no more responses
	wake          chan struct{}
	stop          chan struct{}
	stopOnce      sync.Once
	tagCounter    uint64
}

func newLink(s *session, a *frames.Attach, handle uint32) *link {
	return &link{
		s:          s,
		name:       a.Name,
		peerHandle: a.Handle,
		handle:     handle,
		role:       !a.Role,
		rcvSettle:  a.ReceiverSettleMode,
		sndSettle:  a.SenderSettleMode,
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
}

func (l *link) srv() *Server { return l.s.c.srv }

// attach classifies the link, answers the attach and starts the link's work.
func (l *link) attach(a *frames.Attach) error {
	if a.Role == frames.RoleSender {
		return l.attachIncoming(a)
	}
	return l.attachOutgoing(a)
}

// attachIncoming handles a client sender: to an entity, $cbs or $management.
func (l *link) attachIncoming(a *frames.Attach) error {
	var grant auth.Grant // the token that authorizes the link, watched for expiry
	if a.Target == nil || a.Target.Address == "" {
		return l.refuse(a, CondInvalidField, "a sender link needs a target address")
	}
	l.address = nodeAddress(a.Target.Address)
	switch {
	case l.address == "$cbs":
		l.kind = kindCBS
	case hasSuffixFold(l.address, "/$management"):
		var err error
		if grant, err = l.s.c.checkGrant(l.address, auth.Any); err != nil {
			return l.refuse(a, CondUnauthorizedAccess, unauthorizedDesc(err))
		}
		addr, err := l.srv().broker.Resolve(l.address[:len(l.address)-len("/$management")])
		if err != nil {
			return l.refuseErr(a, err)
		}
		l.kind, l.entity = kindMgmt, addr
	default:
		var err error
		if grant, err = l.s.c.checkGrant(l.address, auth.Send); err != nil {
			return l.refuse(a, CondUnauthorizedAccess, unauthorizedDesc(err))
		}
		addr, err := l.srv().broker.Resolve(l.address)
		if err != nil {
			return l.refuseErr(a, err)
		}
		if !addr.CanSend() {
			return l.refuse(a, CondNotAllowed, fmt.Sprintf("cannot send to '%s'", addr.Path))
		}
		l.kind, l.entity = kindEntityIn, addr
	}
	if a.InitialDeliveryCount != nil {
		l.deliveryCount = *a.InitialDeliveryCount
	}
	l.credit = linkCreditIn
	maxSize := uint64(l.srv().cfg.MaxMessageSize)
	reply := &frames.Attach{
		Name:               l.name,
		Handle:             l.handle,
		Role:               frames.RoleReceiver,
		SenderSettleMode:   a.SenderSettleMode,
		ReceiverSettleMode: a.ReceiverSettleMode,
		Source:             a.Source,
		Target:             a.Target,
		MaxMessageSize:     maxSize,
		Properties:         enc.Map{{Key: enc.Symbol("com.microsoft:max-message-batch-size"), Value: maxSize}},
	}
	if reply.Source == nil {
		reply.Source = &frames.Source{}
	}
	if err := l.s.c.send(l.s.channel, reply, nil); err != nil {
		return err
	}
	l.s.c.log.Debug("link attached", "name", l.name, "address", l.address, "role", "receiver")
	if l.kind == kindEntityIn {
		l.watchGrant(l.address, auth.Send, grant)
	} else if l.kind == kindMgmt {
		l.watchGrant(l.address, auth.Any, grant)
	}
	return l.s.sendFlow(l)
}

// attachOutgoing handles a client receiver: from an entity, or the reply side of an RPC pair.
func (l *link) attachOutgoing(a *frames.Attach) error {
	var grant auth.Grant // the token that authorizes the link, watched for expiry
	if a.Source == nil || a.Source.Address == "" {
		return l.refuse(a, CondInvalidField, "a receiver link needs a source address")
	}
	l.address = nodeAddress(a.Source.Address)
	switch {
	case l.address == "$cbs" || hasSuffixFold(l.address, "/$management"):
		// Responses are routed by the request's reply-to: the Go SDK puts the reply link's target
		// address there, the JavaScript SDK (rhea) the link name with no target address.
		l.kind = kindReply
		if a.Target != nil {
			l.replyTarget = a.Target.Address
		}
	default:
		var err error
		if grant, err = l.s.c.checkGrant(l.address, auth.Listen); err != nil {
			return l.refuse(a, CondUnauthorizedAccess, unauthorizedDesc(err))
		}
		if filter, ok := sessionFilter(a); ok {
			l.watchGrant(l.address, auth.Listen, grant)
			return l.attachSession(a, filter)
		}
		addr, err := l.srv().broker.Resolve(l.address)
		if err != nil {
			return l.refuseErr(a, err)
		}
		if !addr.CanReceive() {
			return l.refuse(a, CondNotAllowed, fmt.Sprintf("cannot receive from '%s'", addr.Path))
		}
		l.mode = broker.PeekLock
		if a.SenderSettleMode != nil && *a.SenderSettleMode == frames.SenderSettled {
			l.mode = broker.ReceiveAndDelete
		}
		recv, err := l.srv().broker.NewReceiver(addr.Path, l.mode)
		if err != nil {
			return l.refuseErr(a, err)
		}
		l.kind, l.entity, l.recv = kindEntityOut, addr, recv
	}
	if err := l.s.c.send(l.s.channel, l.senderAttach(a, a.Source), nil); err != nil {
		l.closeReceiver()
		return err
	}
	if l.kind == kindReply {
		l.s.c.registerReply(l.name, l)
		if l.replyTarget != "" {
			l.s.c.registerReply(l.replyTarget, l)
		}
	}
	l.s.c.log.Debug("link attached", "name", l.name, "address", l.address, "role", "sender")
	if l.kind == kindEntityOut {
		l.watchGrant(l.address, auth.Listen, grant)
	}
	go l.pump()
	return nil
}

// refuseErr refuses an attach with the condition of a broker error.
func (l *link) refuseErr(a *frames.Attach, err error) error {
	cond, desc := brokerCondition(err)
	return l.refuse(a, cond, desc)
}

// senderAttach answers a client receiver's attach a: the server sends from delivery count 0,
// from src, to the client's target (an empty one if it named none).
func (l *link) senderAttach(a *frames.Attach, src *frames.Source) *frames.Attach {
	zero := uint32(0)
	reply := &frames.Attach{
		Name:                 l.name,
		Handle:               l.handle,
		Role:                 frames.RoleSender,
		SenderSettleMode:     a.SenderSettleMode,
		ReceiverSettleMode:   a.ReceiverSettleMode,
		Source:               src,
		Target:               a.Target,
		InitialDeliveryCount: &zero,
	}
	if reply.Target == nil {
		reply.Target = &frames.Target{}
	}
	return reply
}

// refusal is the attach that refuses a, with null source and target; a closing detach carrying
// the reason follows it, which is how go-amqp expects a refusal.
func (l *link) refusal(a *frames.Attach) *frames.Attach {
	reply := &frames.Attach{Name: a.Name, Handle: l.handle, Role: !a.Role, SenderSettleMode: a.SenderSettleMode, ReceiverSettleMode: a.ReceiverSettleMode}
	if !reply.Role {
		zero := uint32(0)
		reply.InitialDeliveryCount = &zero
	}
	return reply
}

// refuse answers an attach with its refusal and the closing detach.
func (l *link) refuse(a *frames.Attach, cond Condition, desc string) error {
	l.kind = kindRefused
	l.s.c.log.Debug("link refused", "name", a.Name, "condition", cond, "description", desc)
	if err := l.s.c.send(l.s.channel, l.refusal(a), nil); err != nil {
		return err
	}
	l.detach(&linkError{Condition: cond, Description: desc})
	return nil
}

// fillFlow adds this link's state to a flow frame.
func (l *link) fillFlow(f *frames.Flow) {
	h := l.handle
	f.Handle = &h
	if l.role == frames.RoleReceiver {
		dc, cr := l.deliveryCount, l.credit
		f.DeliveryCount, f.LinkCredit = &dc, &cr
		return
	}
	l.mu.Lock()
	dc, cr := l.outDelivery, l.outCredit
	l.mu.Unlock()
	f.DeliveryCount, f.LinkCredit = &dc, &cr
}

// flow applies the peer's link flow: for links we send on, the credit arithmetic of part 2,
// section 2.6.7 (credit = peer delivery-count + peer link-credit - our delivery-count).
func (l *link) flow(f *frames.Flow) error {
	if l.role == frames.RoleSender && f.LinkCredit != nil {
		l.mu.Lock()
		peerCount := l.outDelivery
		if f.DeliveryCount != nil {
			peerCount = *f.DeliveryCount
		}
		l.outCredit = peerCount + *f.LinkCredit - l.outDelivery
		if l.outCredit > 1<<31 { // a peer count ahead of ours would wrap: treat as no credit
			l.outCredit = 0
		}
		l.drain = f.Drain
		l.mu.Unlock()
		l.poke()
	}
	if f.Echo {
		return l.s.sendFlow(l)
	}
	return nil
}

func (l *link) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// onTransfer assembles incoming deliveries, bounded by MaxMessageSize.
func (l *link) onTransfer(t *frames.Transfer, payload []byte) error {
	if l.kind == kindRefused || l.isDetached() {
		return nil
	}
	if l.role != frames.RoleReceiver {
		return &linkErrorAt{l: l, err: &linkError{Condition: CondNotAllowed, Description: "transfer on a link where the server sends"}}
	}
	if !l.asmActive {
		if t.DeliveryID == nil {
			return &linkErrorAt{l: l, err: &linkError{Condition: CondNotAllowed, Description: "first transfer of a delivery without delivery-id"}}
		}
		if l.credit == 0 {
			return &linkErrorAt{l: l, err: &linkError{Condition: CondTransferLimit, Description: "transfer without link credit"}}
		}
		l.credit--
		l.deliveryCount++
		l.asmActive, l.asmID, l.asmSettled, l.asmFormat = true, *t.DeliveryID, t.Settled, 0
		if t.MessageFormat != nil {
			l.asmFormat = *t.MessageFormat
		}
		l.asm = nil
	}
	if t.Aborted {
		l.dropAssembly()
		return nil
	}
	if t.Settled {
		l.asmSettled = true
	}
	if uint64(len(l.asm))+uint64(len(payload)) > uint64(l.srv().cfg.MaxMessageSize) {
		l.dropAssembly()
		return &linkErrorAt{l: l, err: &linkError{Condition: CondMessageSizeExceeded,
			Description: fmt.Sprintf("message larger than the maximum of %d bytes", l.srv().cfg.MaxMessageSize)}}
	}
	if t.More || l.asm != nil {
		// A delivery in several transfers: its buffer counts against the connection's pending
		// bytes until the last transfer arrives, so idle half-sent messages cannot pile up.
		need := len(l.asm) + len(payload)
		if l.asm == nil && cap(l.asmSpare) >= need && l.s.c.reserve(int64(cap(l.asmSpare))) {
			l.asm, l.asmCharged, l.asmSpare = l.asmSpare[:0], true, nil
		}
		if need > cap(l.asm) {
			grown := max(need, 2*cap(l.asm))
			if !l.s.c.reserve(int64(grown - cap(l.asm))) {
				l.dropAssembly()
				return &linkErrorAt{l: l, err: &linkError{Condition: CondResourceLimit,
					Description: fmt.Sprintf("the connection holds more than %d bytes of unfinished deliveries and pending responses", l.srv().cfg.MaxPendingBytes)}}
			}
			buf := make([]byte, len(l.asm), grown)
			copy(buf, l.asm)
			l.asm, l.asmCharged = buf, true
		}
		l.asm = append(l.asm, payload...)
	} else if l.kind == kindCBS || l.kind == kindMgmt {
		l.asm = append(make([]byte, 0, len(payload)), payload...)
	} else {
		// A message in one transfer is decoded where the frame reader put it: the broker
		// copies what it keeps before the reader reads the next frame.
		l.asm = payload
	}
	if t.More {
		return nil
	}
	msg, id, settled, format := l.asm, l.asmID, l.asmSettled, l.asmFormat
	assembled := l.asmCharged
	l.dropAssembly()
	if l.kind == kindCBS || l.kind == kindMgmt {
		// Requests and their replies may keep slices of msg: never reused.
		if err := l.request(msg, id, settled); err != nil {
			return err
		}
	} else if state := l.process(msg, format); !settled {
		if _, ok := state.(*frames.Accepted); !ok {
			if err := l.sendDisposition(id, state); err != nil {
				return err
			}
		} else {
			// The accepted disposition is the send's acknowledgement: with
			// DataDir it goes out once the message is durable.
			l.srv().afterDurable(func(err error) {
				if err != nil {
					state = &frames.Rejected{Error: amqpError(CondInternalError, err.Error())}
				}
				_ = l.sendDisposition(id, state)
			})
		}
	}
	if assembled && l.kind != kindCBS && l.kind != kindMgmt && cap(msg) <= maxSpareAssembly {
		l.asmSpare = msg[:0] // process is done with it: nothing the broker stores refers to it
	}
	if l.credit < linkCreditIn/2 {
		l.credit = linkCreditIn
		return l.s.sendFlow(l)
	}
	return nil
}

// maxSpareAssembly bounds the assembly buffer a link keeps for its next multi-transfer
// delivery: an SDK batch at the default maximum message size fits.
const maxSpareAssembly = 2 * DefaultMaxMessageSize

// dropAssembly ends the delivery being assembled and returns its buffer's pending bytes; only
// multi-transfer deliveries were charged (their buffer is grown by onTransfer, never by append).
func (l *link) dropAssembly() {
	if l.asmCharged {
		l.s.c.release(int64(cap(l.asm)))
	}
	l.asmActive, l.asm, l.asmCharged = false, nil, false
}

func (l *link) sendDisposition(id uint32, state frames.DeliveryState) error {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.s.ended {
		return nil
	}
	return l.s.c.send(l.s.channel, &frames.Disposition{Role: frames.RoleReceiver, First: id, Settled: true, State: state}, nil)
}

// process handles one complete incoming message and returns its outcome.
func (l *link) process(payload []byte, format uint32) frames.DeliveryState {
	switch l.kind {
	case kindEntityIn:
		msgs, err := l.sent.decode(payload, format)
		if err != nil {
			return &frames.Rejected{Error: amqpError(decodeCondition(err), err.Error())}
		}
		_, err = l.srv().broker.SendOwned(l.entity.Path, msgs)
		l.sent.reset()
		if err != nil {
			cond, desc := brokerCondition(err)
			return &frames.Rejected{Error: amqpError(cond, desc)}
		}
		return &frames.Accepted{}
	}
	return &frames.Rejected{Error: amqpError(CondNotAllowed, "link cannot accept messages")}
}

// decodeCondition is the condition of a message that cannot be taken: invalid-field for an
// application property of a type Service Bus refuses, decode-error for anything else.
func decodeCondition(err error) Condition {
	if errors.Is(err, errPropertyType) {
		return CondInvalidField
	}
	return CondDecodeError
}

// request answers a $cbs or $management request. The request's disposition goes out before the
// response, which uamqp-based clients require (they fail an operation whose response overtakes
// the outcome of its request).
func (l *link) request(payload []byte, id uint32, settled bool) error {
	outcome := func(state frames.DeliveryState) error {
		if settled {
			return nil
		}
		return l.sendDisposition(id, state)
	}
	req, err := decodeRequest(payload)
	if err != nil {
		return outcome(&frames.Rejected{Error: amqpError(decodeCondition(err), err.Error())})
	}
	rl := l.replyLinkFor(req.replyTo)
	if rl == nil {
		return outcome(&frames.Rejected{Error: amqpError(CondNotFound, fmt.Sprintf("no reply link attached for %q", req.replyTo))})
	}
	// Room for the response is taken before the request runs: a request may change state
	// (receive-and-delete by sequence number, settlement), so its response must not be dropped
	// afterwards. A response may take the connection past MaxPendingBytes by its own size; the
	// next request is then refused.
	if err := rl.reserveReply(); err != nil {
		return outcome(&frames.Rejected{Error: amqpError(CondResourceLimit, err.Error())})
	}
	var resp *response
	if l.kind == kindCBS {
		resp = l.s.c.putToken(req)
	} else {
		resp = l.s.c.manage(l.entity, req)
		if err := l.srv().durable(); err != nil {
			resp = &response{code: 500, desc: err.Error()}
		}
	}
	b, err := encodeResponse(req, resp)
	if err != nil {
		rl.unreserveReply()
		return outcome(&frames.Rejected{Error: amqpError(CondInternalError, err.Error())})
	}
	l.s.c.pending.Add(int64(len(b)))
	if err := outcome(&frames.Accepted{}); err != nil {
		rl.unreserveReply()
		l.s.c.release(int64(len(b)))
		return err
	}
	rl.enqueueReply(b)
	return nil
}

// replyLinkFor finds the link a response goes out on: the one the request's reply-to names or,
// for a request without reply-to (uamqp sends only a message-id), the reply link attached to the
// same node on this session, as Service Bus answers.
func (l *link) replyLinkFor(replyTo string) *link {
	if replyTo != "" {
		return l.s.c.replyLink(replyTo)
	}
	var found *link
	for _, other := range l.s.links {
		if other.kind == kindReply && strings.EqualFold(other.address, l.address) && (found == nil || other.handle > found.handle) {
			found = other
		}
	}
	return found
}

// reserveReply takes a place in the reply queue for one response, refusing while the queue is
// full or the connection holds MaxPendingBytes, so responses to a client that grants no credit
// stay bounded in number and in size.
func (l *link) reserveReply() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.repliesClosed {
		return fmt.Errorf("reply link %q is detached", l.name)
	}
	if l.replyCount >= replyQueue {
		return fmt.Errorf("reply link %q has %d responses waiting", l.name, replyQueue)
	}
	if l.s.c.pending.Load() >= l.srv().cfg.MaxPendingBytes {
		return fmt.Errorf("the connection holds more than %d bytes of responses waiting for credit and unfinished deliveries", l.srv().cfg.MaxPendingBytes)
	}
	l.replyCount++
	return nil
}

func (l *link) unreserveReply() {
	l.mu.Lock()
	l.replyCount--
	l.mu.Unlock()
}

// enqueueReply queues a response reserved with reserveReply, its bytes already counted as
// pending, for the pump.
func (l *link) enqueueReply(payload []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.repliesClosed {
		l.replyCount--
		l.s.c.release(int64(len(payload)))
		return
	}
	l.replies = append(l.replies, payload)
	l.poke()
}

// takeReply removes the oldest queued response, if any; its bytes leave the pending budget.
func (l *link) takeReply() ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.replies) == 0 {
		return nil, false
	}
	p := l.replies[0]
	l.replies[0] = nil
	l.replies = l.replies[1:]
	if len(l.replies) == 0 {
		l.replies = nil // let the backing array go
	}
	l.replyCount--
	l.s.c.release(int64(len(p)))
	return p, true
}

// closeReplies drops the responses still waiting when the reply link ends.
func (l *link) closeReplies() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.repliesClosed = true
	for _, p := range l.replies {
		l.replyCount--
		l.s.c.release(int64(len(p)))
	}
	l.replies = nil
}

// pump sends deliveries while the peer grants credit: broker messages on entity links, queued
// responses on reply links.
func (l *link) pump() {
	defer func() {
		if p := recover(); p != nil {
			l.s.c.log.Error("link pump panicked", "panic", p, "stack", string(debug.Stack()))
			l.s.c.fail(&connError{Condition: CondInternalError, Description: "internal error"})
		}
		l.closeReceiver()
		if l.kind == kindReply {
			l.closeReplies()
		}
	}()
	for {
		l.mu.Lock()
		credit, drain := l.outCredit, l.drain
		l.mu.Unlock()
		if credit == 0 {
			if drain {
				l.finishDrain()
				continue
			}
			var notify <-chan struct{} // nil (never ready) on reply links
			if l.recv != nil {
				notify = l.recv.Notify()
			}
			select {
			case <-l.wake:
			case <-l.stop:
				return
			case <-notify:
				// Without credit, only look for a failure, e.g. a session lock that expired:
				// the link is detached at once, as Service Bus does.
				if _, err := l.recv.TryReceive(0); err != nil {
					l.receiveFailed(err)
					return
				}
			}
			continue
		}
		if l.kind == kindReply {
			if p, ok := l.takeReply(); ok {
				if err := l.deliver(p, nil, true, nil); err != nil {
					return
				}
				continue
			}
			select {
			case <-l.wake:
			case <-l.stop:
				return
			}
			continue
		}
		msgs, err := l.recv.TryReceive(int(min(credit, 64)))
		if err != nil {
			l.receiveFailed(err)
			return
		}
		if len(msgs) == 0 {
			if drain {
				l.finishDrain()
				continue
			}
			select {
			case <-l.recv.Notify():
			case <-l.wake:
			case <-l.stop:
				return
			}
			continue
		}
		for i, m := range msgs {
			if err := l.deliverMessage(m); err != nil {
				l.recv.Unreceive(msgs[i:])
				return
			}
		}
	}
}

// receiveFailed detaches the link with the condition of a receive error (not for a closed receiver).
func (l *link) receiveFailed(err error) {
	if errors.Is(err, broker.ErrClosed) {
		return
	}
	cond, desc := brokerCondition(err)
	l.s.c.log.Debug("receiver failed", "link", l.name, "err", err)
	l.detach(&linkError{Condition: cond, Description: desc})
}

// finishDrain uses up the remaining credit and tells the peer (part 2, section 2.6.7).
func (l *link) finishDrain() {
	l.mu.Lock()
	l.outDelivery += l.outCredit
	l.outCredit = 0
	l.drain = false
	l.mu.Unlock()
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.s.ended || l.closed {
		return // the drain raced a detach: no flow may name the handle after our detach
	}
	f := l.s.flowFrame()
	l.fillFlow(f)
	f.Drain = true // echoing drain tells the receiver the drain is complete
	_ = l.s.c.send(l.s.channel, f, nil)
}

// deliverMessage encodes a broker message and sends it.
func (l *link) deliverMessage(m *broker.Message) error {
	locked := l.mode == broker.PeekLock
	payload, err := encodeDelivered(m, locked)
	if err != nil {
		return err
	}
	if !locked {
		// 16 bytes like a lock token, so the SDK does not log a malformed tag; it is never used.
		var tag [16]byte
		binary.BigEndian.PutUint64(tag[8:], uint64(m.SequenceNumber))
		return l.deliver(payload, tag[:], true, nil)
	}
	tag := dotnetGUID(m.LockToken)
	return l.deliver(payload, tag[:], false, &delivery{l: l, token: m.LockToken, address: l.entity.Path})
}

// deliver consumes one credit and sends the message.
func (l *link) deliver(payload, tag []byte, settled bool, rec *delivery) error {
	if tag == nil {
		l.tagCounter++
		var t [8]byte
		binary.BigEndian.PutUint64(t[:], l.tagCounter)
		tag = t[:]
	}
	l.mu.Lock()
	l.outCredit--
	l.outDelivery++
	l.mu.Unlock()
	return l.s.sendDelivery(l, tag, payload, settled, rec)
}

// settle applies the peer's outcome to a PeekLock delivery and returns the state to confirm.
func (l *link) settle(d *delivery, state frames.DeliveryState) frames.DeliveryState {
	b := l.srv().broker
	var err error
	switch st := state.(type) {
	case *frames.Accepted:
		err = b.Complete(d.address, d.token)
	case *frames.Rejected:
		reason, desc := "", ""
		var props map[string]any
		if st.Error != nil {
			props = mapToProps(st.Error.Info)
			if v, ok := props["DeadLetterReason"].(string); ok {
				reason = v
			}
			if v, ok := props["DeadLetterErrorDescription"].(string); ok {
				desc = v
			}
			delete(props, "DeadLetterReason")
			delete(props, "DeadLetterErrorDescription")
			if st.Error.Condition != enc.Symbol(CondDeadLetter) && reason == "" {
				reason, desc = string(st.Error.Condition), st.Error.Description
			}
		}
		err = b.DeadLetter(d.address, d.token, reason, desc, props)
		state = &frames.Rejected{} // confirmed without the error: an error would fail the settlement
	case *frames.Modified:
		props := mapToProps(st.MessageAnnotations)
		if st.UndeliverableHere {
			err = b.Defer(d.address, d.token, props)
		} else {
			err = b.Abandon(d.address, d.token, props)
		}
	default: // released, or settled without an outcome
		err = b.Release(d.address, d.token)
		if state == nil {
			state = &frames.Released{}
		}
	}
	if err != nil {
		cond, desc := brokerCondition(err)
		return &frames.Rejected{Error: amqpError(cond, desc)}
	}
	return state // confirmed once durable (session.disposition)
}

// detach ends the link from the server side (closed=true, as go-amqp requires). Safe from any
// goroutine: the handle tables are cleaned when the peer's detach arrives.
func (l *link) detach(err *linkError) {
	var e *frames.Error
	if err != nil {
		e = amqpError(err.Condition, err.Description)
		l.s.c.log.Debug("detaching link", "name", l.name, "err", err)
	}
	l.sendDetach(e)
	l.close()
}

// sendDetach sends our closing detach once. An attach still unanswered (accept-next) is refused
// first, in the same critical section: a detach must follow our attach (part 2, section 2.6), and
// a client that gave up on the attach frees its handle only on our detach.
func (l *link) sendDetach(e *frames.Error) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.detachSent {
		return
	}
	l.detachSent = true
	l.closed = true
	l.s.cond.Broadcast()
	if l.s.ended {
		return
	}
	if a := l.pendingAttach; a != nil {
		l.pendingAttach = nil
		if err := l.s.c.send(l.s.channel, l.refusal(a), nil); err != nil {
			return
		}
	}
	_ = l.s.c.send(l.s.channel, &frames.Detach{Handle: l.handle, Closed: true, Error: e}, nil)
}

// peerDetached answers the peer's detach unless it answers ours. A session receiver gives its
// session back first (the pump would only do so after the answer went out): a client whose close
// returned may accept the session again at once, as on Service Bus. That holds for an accept-next
// still waiting too: it is stopped, and a session it locked in the meantime is released, before
// the answer goes out.
func (l *link) peerDetached() {
	// An accept-next attach sets recv on its own goroutine, under this lock; once closed is set
	// it releases the session it locks instead of attaching.
	l.s.mu.Lock()
	l.closed = true
	sr, _ := l.recv.(*broker.SessionReceiver)
	l.s.mu.Unlock()
	if sr != nil {
		sr.Close()
	}
	if l.acceptDone != nil {
		l.stopOnce.Do(func() { close(l.stop) })
		<-l.acceptDone // prompt: the stop cancels the wait, and closed keeps it off the wire
	}
	l.sendDetach(nil)
	l.close()
	l.s.c.log.Debug("link detached", "name", l.name)
}

// isDetached reports whether our detach was sent.
func (l *link) isDetached() bool {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return l.detachSent
}

// close stops the link's work; PeekLock locks stay with the entity until they expire. Links the
// client sends on are closed on the serve goroutine, which owns their assembly buffer.
func (l *link) close() {
	if l.role == frames.RoleReceiver {
		l.dropAssembly()
	}
	l.s.mu.Lock()
	l.closed = true
	for id, d := range l.s.unsettled {
		if d.l == l {
			delete(l.s.unsettled, id)
		}
	}
	l.s.cond.Broadcast()
	l.s.mu.Unlock()
	l.stopOnce.Do(func() { close(l.stop) })
	l.stopGrantWatch()
	l.s.c.sessionLinks.CompareAndDelete(l.name, l)
	if l.kind == kindReply {
		l.s.c.unregisterReply(l.name, l)
		l.s.c.unregisterReply(l.replyTarget, l)
	}
}

func (l *link) closeReceiver() {
	if l.recv != nil {
		l.recv.Close()
	}
}

// nodeAddress reduces a terminus address given as a URI (amqps://host/queue, sb://host/queue,
// as uamqp-based clients send) to the node name the broker resolves.
func nodeAddress(addr string) string {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/$") {
		return addr
	}
	if _, path, hasPath := strings.Cut(rest, "/"); hasPath {
		return strings.Trim(path, "/")
	}
	return ""
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// dotnetGUID converts an RFC 4122 UUID to .NET Guid.ToByteArray order (first three groups
// little-endian), the delivery-tag form the SDK turns back into the lock token.
func dotnetGUID(u uuid.UUID) [16]byte {
	var b [16]byte = u
	b[0], b[1], b[2], b[3] = u[3], u[2], u[1], u[0]
	b[4], b[5] = u[5], u[4]
	b[6], b[7] = u[7], u[6]
	return b
}

// brokerCondition maps broker errors to AMQP conditions.
func brokerCondition(err error) (Condition, string) {
	switch {
	case errors.Is(err, broker.ErrNotFound):
		return CondNotFound, err.Error()
	case errors.Is(err, broker.ErrLockLost):
		return CondMessageLockLost, err.Error()
	case errors.Is(err, broker.ErrSessionLocked):
		return CondSessionCannotBeLocked, err.Error()
	case errors.Is(err, broker.ErrSessionLockLost):
		return CondSessionLockLost, err.Error()
	case errors.Is(err, broker.ErrNoSession):
		return CondTimeout, err.Error()
	case errors.Is(err, broker.ErrMessageNotFound):
		return CondMessageNotFound, err.Error()
	case errors.Is(err, broker.ErrNotAllowed):
		return CondNotAllowed, err.Error()
	case errors.Is(err, broker.ErrInvalid):
		return CondInvalidField, err.Error()
	case errors.Is(err, broker.ErrStopped):
		return CondDetachForced, err.Error()
	case errors.Is(err, broker.ErrQuotaExceeded):
		return CondQuotaExceeded, err.Error()
	}
	return CondInternalError, err.Error()
}
