package servicebus

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	"github.com/google/uuid"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// sessionWindow is the incoming window the server grants, refreshed when half is used. The Go
// SDK uses the same figure.
const sessionWindow = 5000

// session is one AMQP session (part 2, section 2.5). Frames from the peer are handled on the
// connection's serve goroutine; link pumps send transfers under mu.
type session struct {
	c             *conn
	channel       uint16 // ours
	remoteChannel uint16

	// Owned by the serve goroutine.
	links     map[uint32]*link // by the peer's handle
	handles   map[uint32]*link // by our handle
	ids       idPool           // our free handles
	handleMax uint32           // announced in our begin: the highest handle the peer may use
	peerMax   uint32           // the peer's handle-max: the highest handle we may use

	mu                 sync.Mutex
	nextIncomingID     uint32 // written by the serve goroutine under mu
	incomingWindow     uint32 // frames we still accept; refreshed when half is used
	cond               *sync.Cond
	nextOutgoingID     uint32
	remoteIncomingNext uint32 // peer's next-incoming-id as last announced
	remoteIncomingWin  uint32 // peer's incoming-window as last announced
	nextDeliveryID     uint32
	unsettled          map[uint32]*delivery // our deliveries awaiting the peer's outcome
	ended              bool                 // end sent or received: no more frames
}

// delivery is an unsettled PeekLock delivery sent by the server.
type delivery struct {
	l       *link
	token   uuid.UUID
	address string
}

func newSession(c *conn, local, remote uint16, b *frames.Begin) *session {
	s := &session{
		c:                 c,
		channel:           local,
		remoteChannel:     remote,
		links:             map[uint32]*link{},
		handles:           map[uint32]*link{},
		handleMax:         uint32(c.srv.cfg.MaxLinksPerConnection - 1),
		peerMax:           b.HandleMax,
		nextIncomingID:    b.NextOutgoingID,
		incomingWindow:    sessionWindow,
		remoteIncomingWin: b.IncomingWindow,
		unsettled:         map[uint32]*delivery{},
	}
	if b.HandleMax != 0 { // 0 is the codec's absent: the spec default 2^32-1
		s.handleMax = min(s.handleMax, b.HandleMax)
	} else {
		s.peerMax = 1<<32 - 1
	}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *session) sendBegin() error {
	rc := s.remoteChannel
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.send(s.channel, &frames.Begin{
		RemoteChannel:  &rc,
		NextOutgoingID: s.nextOutgoingID,
		IncomingWindow: s.incomingWindow,
		OutgoingWindow: sessionWindow,
		HandleMax:      s.handleMax,
	}, nil)
}

// flowFrame returns the session part of a flow; callers hold mu.
func (s *session) flowFrame() *frames.Flow {
	next := s.nextIncomingID
	return &frames.Flow{
		NextIncomingID: &next,
		IncomingWindow: s.incomingWindow,
		NextOutgoingID: s.nextOutgoingID,
		OutgoingWindow: sessionWindow,
	}
}

// sendFlow sends a flow with the session state plus, for l != nil, the link state.
func (s *session) sendFlow(l *link) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || l != nil && l.closed {
		return nil // nothing may follow our end, or our detach of l
	}
	f := s.flowFrame()
	if l != nil {
		l.fillFlow(f)
	}
	return s.c.send(s.channel, f, nil)
}

// remoteWindow is how many more transfer frames the peer accepts; callers hold mu.
func (s *session) remoteWindow() uint32 {
	used := s.nextOutgoingID - s.remoteIncomingNext
	if used >= s.remoteIncomingWin {
		return 0
	}
	return s.remoteIncomingWin - used
}

func (s *session) flow(f *frames.Flow) error {
	s.mu.Lock()
	if f.NextIncomingID != nil {
		s.remoteIncomingNext = *f.NextIncomingID
	} else {
		s.remoteIncomingNext = 0
	}
	s.remoteIncomingWin = f.IncomingWindow
	s.cond.Broadcast()
	s.mu.Unlock()
	if f.Handle == nil {
		if f.Echo {
			return s.sendFlow(nil)
		}
		return nil
	}
	l, ok := s.links[*f.Handle]
	if !ok {
		return &sessionErrorAt{s: s, err: &sessionError{Condition: CondUnattachedHandle, Description: fmt.Sprintf("flow for handle %d", *f.Handle)}}
	}
	return l.flow(f)
}

func (s *session) transfer(t *frames.Transfer, payload []byte) error {
	if s.isEnded() {
		return nil
	}
	s.mu.Lock()
	if s.incomingWindow == 0 {
		s.mu.Unlock()
		return &sessionErrorAt{s: s, err: &sessionError{Condition: CondWindowViolation, Description: "transfer beyond the incoming window"}}
	}
	s.nextIncomingID++
	s.incomingWindow--
	refresh := s.incomingWindow < sessionWindow/2
	if refresh {
		s.incomingWindow = sessionWindow
	}
	s.mu.Unlock()
	l, ok := s.links[t.Handle]
	if !ok {
		return &sessionErrorAt{s: s, err: &sessionError{Condition: CondUnattachedHandle, Description: fmt.Sprintf("transfer for handle %d", t.Handle)}}
	}
	if err := l.onTransfer(t, payload); err != nil {
		return err
	}
	if refresh {
		return s.sendFlow(nil)
	}
	return nil
}

func (s *session) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// sendDelivery sends one message as transfer frames no larger than the peer's max-frame-size,
// respecting the peer's incoming window. rec != nil keeps the delivery for a later outcome.
func (s *session) sendDelivery(l *link, tag, payload []byte, settled bool, rec *delivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || l.closed {
		return errLinkClosed
	}
	id := s.nextDeliveryID
	s.nextDeliveryID++
	if rec != nil {
		s.unsettled[id] = rec
	}
	format := uint32(0)
	maxFrame := int(min(s.c.peerMaxFrame, 1<<24))
	first := true
	var scratch [128]byte
	for {
		for s.remoteWindow() == 0 && !s.ended && !l.closed {
			s.cond.Wait()
		}
		if s.ended || l.closed {
			delete(s.unsettled, id)
			return errLinkClosed
		}
		t := frames.Transfer{Handle: l.handle, More: true}
		if first {
			t.DeliveryID, t.DeliveryTag, t.MessageFormat, t.Settled = &id, tag, &format, settled
		}
		perf, err := t.AppendAMQP(scratch[:0])
		if err != nil {
			return err
		}
		room := maxFrame - frames.HeaderSize - len(perf)
		if room < 1 {
			return fmt.Errorf("peer max-frame-size %d too small for a transfer", maxFrame)
		}
		chunk := min(room, len(payload))
		t.More = chunk < len(payload)
		if err := s.c.send(s.channel, &t, payload[:chunk]); err != nil {
			delete(s.unsettled, id)
			return err
		}
		s.nextOutgoingID++
		payload = payload[chunk:]
		first = false
		if len(payload) == 0 {
			return nil
		}
	}
}

func (s *session) takeUnsettled(id uint32) *delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.unsettled[id]
	delete(s.unsettled, id)
	return d
}

func (s *session) disposition(f *frames.Disposition) error {
	if f.Role != frames.RoleReceiver {
		// The peer settles deliveries it sent; the server settles those at once, so there is
		// nothing to do.
		return nil
	}
	if _, interim := f.State.(*frames.Received); interim {
		return nil
	}
	last := f.First
	if f.Last != nil {
		last = *f.Last
	}
	type reply struct {
		id    uint32
		state frames.DeliveryState
	}
	var replies []reply
	for _, id := range s.outstanding(f.First, last) {
		if d := s.takeUnsettled(id); d != nil {
			state := d.l.settle(d, f.State)
			if !f.Settled {
				replies = append(replies, reply{id, state})
			}
		}
	}
	if len(replies) == 0 {
		return nil
	}
	// The client takes the confirmation as the settlement's acknowledgement:
	// with DataDir it goes out once the settlement is durable.
	s.c.srv.afterDurable(func(err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.ended {
			return
		}
		for _, r := range replies {
			state := r.state
			if err != nil {
				state = &frames.Rejected{Error: amqpError(CondInternalError, err.Error())}
			}
			_ = s.c.send(s.channel, &frames.Disposition{Role: frames.RoleSender, First: r.id, Settled: true, State: state}, nil)
		}
	})
	return nil
}

// outstanding returns the ids of unsettled deliveries in [first, last] (serial-number order,
// part 2, section 2.6.12), walking the range or the unsettled map, whichever is smaller, so
// a range of 2^32 costs no more than the deliveries actually outstanding.
func (s *session) outstanding(first, last uint32) []uint32 {
	span := uint64(last-first) + 1
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []uint32
	if span <= uint64(len(s.unsettled)) {
		for i := uint64(0); i < span; i++ {
			if _, ok := s.unsettled[first+uint32(i)]; ok {
				ids = append(ids, first+uint32(i))
			}
		}
		return ids
	}
	for id := range s.unsettled {
		if id-first <= last-first {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b uint32) int { return cmp.Compare(a-first, b-first) })
	return ids
}

// attach handles the peer's attach.
func (s *session) attach(a *frames.Attach) error {
	if s.isEnded() {
		return nil
	}
	if a.Handle > s.handleMax {
		// Part 2, section 2.7.2: a handle outside the announced range is a framing error.
		return &connError{Condition: CondFramingError, Description: fmt.Sprintf("attach on handle %d above handle-max %d", a.Handle, s.handleMax)}
	}
	if _, dup := s.links[a.Handle]; dup {
		return &sessionErrorAt{s: s, err: &sessionError{Condition: CondHandleInUse, Description: fmt.Sprintf("handle %d", a.Handle)}}
	}
	if s.c.links >= s.c.srv.cfg.MaxLinksPerConnection {
		return &sessionErrorAt{s: s, err: &sessionError{Condition: CondResourceLimit,
			Description: fmt.Sprintf("a connection may have at most %d links", s.c.srv.cfg.MaxLinksPerConnection)}}
	}
	handle, ok := s.ids.get(s.peerMax)
	if !ok {
		return &sessionErrorAt{s: s, err: &sessionError{Condition: CondResourceLimit, Description: "no handle left under the peer's handle-max"}}
	}
	l := newLink(s, a, handle)
	s.links[a.Handle] = l
	s.handles[handle] = l
	s.c.links++
	return l.attach(a)
}

func (s *session) detachFrom(d *frames.Detach) error {
	l, ok := s.links[d.Handle]
	if !ok {
		if s.isEnded() {
			return nil
		}
		return &sessionErrorAt{s: s, err: &sessionError{Condition: CondUnattachedHandle, Description: fmt.Sprintf("detach of handle %d", d.Handle)}}
	}
	s.forget(l)
	if d.Error != nil {
		s.c.log.Debug("peer detached link with error", "link", l.name, "err", d.Error)
	}
	l.peerDetached()
	return nil
}

// forget drops a link from the handle tables and frees its handles.
func (s *session) forget(l *link) {
	if s.links[l.peerHandle] != l {
		return
	}
	delete(s.links, l.peerHandle)
	delete(s.handles, l.handle)
	s.ids.put(l.handle)
	s.c.links--
}

// peerEnded answers the peer's end.
func (s *session) peerEnded(e *frames.End) {
	if e.Error != nil {
		s.c.log.Debug("peer ended session with error", "err", e.Error)
	}
	s.sendEnd(nil)
	s.closeAll()
}

// sendEnd sends our end unless one was sent or the peer's answered ours, and marks the session
// ended in the same critical section: link pumps and settlement confirmations check ended under
// mu, so none of them can put a frame of this session after the end (rhea drops the whole
// connection on a frame for a channel it no longer has).
func (s *session) sendEnd(e *frames.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	s.cond.Broadcast()
	_ = s.c.send(s.channel, &frames.End{Error: e}, nil)
}

// end ends the session with an error; the peer's end reply is answered by peerEnded.
func (s *session) end(err *sessionError) {
	s.c.log.Debug("ending session", "err", err)
	s.sendEnd(amqpError(err.Condition, err.Description))
	s.closeAll()
}

// closeAll releases every link of the session.
func (s *session) closeAll() {
	s.mu.Lock()
	s.ended = true
	s.cond.Broadcast()
	s.mu.Unlock()
	for _, l := range s.links {
		l.close()
	}
}
