package servicebus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/frames"
)

// Session receivers (servicebus-amqp 3.6): a receiver attach whose source
// filter has the key com.microsoft:session-filter. The filter value is a described string (a
// session id) or null (accept-next); the descriptor varies between SDKs (the Go SDK sends
// 0x000000137000000C, the JavaScript SDK no descriptor at all), so the key alone identifies it.
// The attach reply echoes the filter with the locked session id, in the form the client used, and
// carries the lock expiry as link property com.microsoft:locked-until-utc in .NET ticks.
const (
	sessionFilterKey = "com.microsoft:session-filter"
	propTimeout      = "com.microsoft:timeout"
	propLockedUntil  = "com.microsoft:locked-until-utc"
	// epochTicks is 1970-01-01 in .NET ticks (100 ns units since 0001-01-01).
	epochTicks = 621355968000000000
)

// messageSource is what a link pump consumes: a broker Receiver or SessionReceiver.
type messageSource interface {
	TryReceive(max int) ([]*broker.Message, error)
	Notify() <-chan struct{}
	Unreceive(msgs []*broker.Message)
	Close()
}

// sessionFilter returns the session filter of a receiver attach, if any.
func sessionFilter(a *frames.Attach) (any, bool) {
	if a.Source == nil {
		return nil, false
	}
	return a.Source.Filter.Get(sessionFilterKey)
}

// attachSession handles a session receiver attach on the serve goroutine. A named session is
// locked at once; accept-next may wait for a session, so it completes on its own goroutine.
func (l *link) attachSession(a *frames.Attach, filter any) error {
	addr, err := l.srv().broker.Resolve(l.address)
	if err != nil {
		return l.refuseErr(a, err)
	}
	if !addr.CanReceive() {
		return l.refuse(a, CondNotAllowed, fmt.Sprintf("cannot receive from '%s'", addr.Path))
	}
	mode := broker.PeekLock
	if a.SenderSettleMode != nil && *a.SenderSettleMode == frames.SenderSettled {
		mode = broker.ReceiveAndDelete
	}
	value := filter
	if d, ok := filter.(enc.Described); ok {
		value = d.Value
	}
	l.kind, l.entity, l.mode = kindEntityOut, addr, mode
	switch id := value.(type) {
	case string:
		sr, err := l.srv().broker.AcceptSession(addr.Path, id, mode)
		if err != nil {
			return l.refuseErr(a, err)
		}
		return l.completeSessionAttach(a, filter, sr)
	case nil:
		timeout, err := acceptTimeout(a.Properties, l.srv().cfg.AcceptNextSessionTimeout)
		if err != nil {
			return l.refuse(a, CondInvalidField, err.Error())
		}
		l.s.mu.Lock()
		l.pendingAttach = a
		l.s.mu.Unlock()
		done := make(chan struct{})
		l.acceptDone = done
		go func() {
			defer close(done)
			l.acceptNext(a, filter, addr.Path, mode, timeout)
		}()
		return nil
	}
	return l.refuse(a, CondInvalidField, fmt.Sprintf("%s value of type %T: want a session id string or null", sessionFilterKey, value))
}

// acceptTimeout reads com.microsoft:timeout (milliseconds, any integer type; the JavaScript SDK
// may send a double) or returns def. Values are capped at the uint range the Go SDK sends.
func acceptTimeout(props enc.Map, def time.Duration) (time.Duration, error) {
	v, ok := props.Get(propTimeout)
	if !ok || v == nil {
		return def, nil
	}
	const maxMillis = math.MaxUint32
	if f, isFloat := v.(float64); isFloat && f >= 0 { // false for NaN
		return time.Duration(min(f, maxMillis)) * time.Millisecond, nil
	}
	ms, isInt := int64Of(v)
	if !isInt || ms < 0 {
		return 0, fmt.Errorf("%s of type %T: want non-negative milliseconds", propTimeout, v)
	}
	return time.Duration(min(ms, maxMillis)) * time.Millisecond, nil
}

// acceptNext waits for a free session with messages, then completes the attach, or refuses it
// with com.microsoft:timeout. The refusal goes out slightly early (10%, at most 1 s): the Go
// SDK derives the timeout from its own context deadline, and a refusal arriving after that
// deadline would reach a client that already gave up (and abandoned the link). It gives up
// silently when the link or session goes away first: the detach then answers the attach
// (sendDetach), and a session locked meanwhile is released.
func (l *link) acceptNext(a *frames.Attach, filter any, path string, mode broker.ReceiveMode, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout-min(timeout/10, time.Second))
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	sr, err := l.srv().broker.AcceptNextSession(ctx, path, mode)
	if err != nil {
		select {
		case <-l.stop:
			return
		default:
		}
		cond, desc := brokerCondition(err)
		if errors.Is(err, broker.ErrNoSession) {
			desc = fmt.Sprintf("no session with available messages on '%s' within %v", path, timeout)
		}
		l.refuseLate(a, cond, desc)
		return
	}
	if err := l.completeSessionAttach(a, filter, sr); err != nil {
		l.s.c.log.Debug("session attach failed", "link", l.name, "err", err)
	}
}

// completeSessionAttach answers the attach for a locked session and starts the pump. It runs on
// the serve goroutine or on acceptNext's; if the link or session ended meanwhile, the session is
// released instead.
func (l *link) completeSessionAttach(a *frames.Attach, filter any, sr *broker.SessionReceiver) error {
	var echo any = sr.SessionID()
	if d, ok := filter.(enc.Described); ok {
		echo = enc.Described{Descriptor: d.Descriptor, Value: sr.SessionID()}
	}
	src := *a.Source
	src.Filter = make(enc.Map, 0, len(a.Source.Filter))
	for _, p := range a.Source.Filter {
		if k, _ := text(p.Key); k == sessionFilterKey {
			p = enc.Pair{Key: enc.Symbol(sessionFilterKey), Value: echo}
		}
		src.Filter = append(src.Filter, p)
	}
	reply := l.senderAttach(a, &src)
	reply.Properties = enc.Map{{Key: enc.Symbol(propLockedUntil), Value: dotnetTicks(sr.LockedUntil())}}
	l.s.mu.Lock()
	if l.s.ended || l.closed {
		l.s.mu.Unlock()
		sr.Close()
		return nil
	}
	l.pendingAttach = nil
	l.recv = sr
	err := l.s.c.send(l.s.channel, reply, nil)
	l.s.mu.Unlock()
	if err != nil {
		sr.Close()
		return err
	}
	l.s.c.sessionLinks.Store(l.name, l)
	l.s.c.log.Debug("session link attached", "name", l.name, "address", l.address, "session", sr.SessionID())
	go l.pump()
	return nil
}

// refuseLate refuses an attach from a goroutine other than the serve goroutine: the null-terminus
// attach then a closing detach, unless the link or session already ended (the link's detach
// then sends the refusal).
func (l *link) refuseLate(a *frames.Attach, cond Condition, desc string) {
	reply := l.refusal(a) // a is a client receiver's: the refusal's role is sender
	l.s.mu.Lock()
	if l.s.ended || l.closed {
		l.s.mu.Unlock()
		return
	}
	l.pendingAttach = nil
	err := l.s.c.send(l.s.channel, reply, nil)
	l.s.mu.Unlock()
	if err == nil {
		l.s.c.log.Debug("link refused", "name", a.Name, "condition", cond, "description", desc)
		l.detach(&linkError{Condition: cond, Description: desc})
	}
}

// sessionReceiver returns the session receiver of the connection's link with that name, or nil;
// $management requests name it in associated-link-name.
func (c *conn) sessionReceiver(linkName string) *broker.SessionReceiver {
	v, ok := c.sessionLinks.Load(linkName)
	if !ok {
		return nil
	}
	sr, _ := v.(*link).recv.(*broker.SessionReceiver)
	return sr
}

// dotnetTicks converts a time to .NET ticks, the unit of com.microsoft:locked-until-utc.
func dotnetTicks(t time.Time) int64 {
	return t.UnixMilli()*10000 + epochTicks
}
