package frames

import (
	"fmt"

	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// Descriptor codes of the performatives and composite types (part 2 and part 3).
const (
	codeOpen        uint64 = 0x10
	codeBegin       uint64 = 0x11
	codeAttach      uint64 = 0x12
	codeFlow        uint64 = 0x13
	codeTransfer    uint64 = 0x14
	codeDisposition uint64 = 0x15
	codeDetach      uint64 = 0x16
	codeEnd         uint64 = 0x17
	codeClose       uint64 = 0x18
	codeError       uint64 = 0x1d
	codeReceived    uint64 = 0x23
	codeAccepted    uint64 = 0x24
	codeRejected    uint64 = 0x25
	codeReleased    uint64 = 0x26
	codeModified    uint64 = 0x27
	codeSource      uint64 = 0x28
	codeTarget      uint64 = 0x29
)

// Performative is a frame body that can encode itself.
type Performative interface {
	AppendAMQP(b []byte) ([]byte, error)
}

// Role values of attach and disposition.
const (
	RoleSender   = false
	RoleReceiver = true
)

// Settle modes (part 2, section 2.8.2 and 2.8.3).
const (
	SenderUnsettled uint8 = 0
	SenderSettled   uint8 = 1
	SenderMixed     uint8 = 2

	ReceiverFirst  uint8 = 0
	ReceiverSecond uint8 = 1
)

// Open negotiates connection parameters.
//
//	<type name="open" class="composite" source="list" provides="frame">
//	  container-id (mandatory), hostname, max-frame-size, channel-max, idle-time-out,
//	  outgoing-locales, incoming-locales, offered-capabilities, desired-capabilities, properties
type Open struct {
	ContainerID         string
	Hostname            string
	MaxFrameSize        uint32 // 0 when absent: the spec default is 4294967295
	ChannelMax          uint16 // spec default 65535
	ChannelMaxSet       bool
	IdleTimeout         uint32 // milliseconds, 0 = none
	OfferedCapabilities []enc.Symbol
	DesiredCapabilities []enc.Symbol
	Properties          enc.Map
}

// AppendAMQP encodes the open performative.
func (o *Open) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeOpen)
	w.str(o.ContainerID, true)
	w.str(o.Hostname, o.Hostname != "")
	w.b = enc.AppendUint(w.b, o.MaxFrameSize)
	w.keep()
	w.ushort(o.ChannelMax, o.ChannelMaxSet)
	w.b = enc.AppendUint(w.b, o.IdleTimeout)
	w.keep()
	w.null()
	w.null()
	w.symbols(o.OfferedCapabilities)
	w.symbols(o.DesiredCapabilities)
	w.mapv(o.Properties)
	return w.done()
}

// Begin starts a session.
//
//	remote-channel, next-outgoing-id (mandatory), incoming-window (mandatory),
//	outgoing-window (mandatory), handle-max, offered-capabilities, desired-capabilities, properties
type Begin struct {
	RemoteChannel  *uint16
	NextOutgoingID uint32
	IncomingWindow uint32
	OutgoingWindow uint32
	HandleMax      uint32 // 0 when absent: the spec default is 4294967295
	OfferedCaps    []enc.Symbol
	DesiredCaps    []enc.Symbol
	Properties     enc.Map
}

// AppendAMQP encodes the begin performative.
func (p *Begin) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeBegin)
	if p.RemoteChannel != nil {
		w.ushort(*p.RemoteChannel, true)
	} else {
		w.null()
	}
	w.uint(p.NextOutgoingID)
	w.uint(p.IncomingWindow)
	w.uint(p.OutgoingWindow)
	if p.HandleMax != 0 {
		w.uint(p.HandleMax)
	} else {
		w.null()
	}
	w.symbols(p.OfferedCaps)
	w.symbols(p.DesiredCaps)
	w.mapv(p.Properties)
	return w.done()
}

// Source is the source terminus of a link (part 3, section 3.5.3).
type Source struct {
	Address      string
	Durable      uint32
	ExpiryPolicy enc.Symbol
	Timeout      uint32
	Dynamic      bool
	Filter       enc.Map
	Outcomes     []enc.Symbol
	Capabilities []enc.Symbol
}

// AppendAMQP encodes the source.
func (s *Source) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeSource)
	w.str(s.Address, s.Address != "")
	w.uint(s.Durable)
	w.sym(string(s.ExpiryPolicy), s.ExpiryPolicy != "")
	w.uint(s.Timeout)
	w.bool(s.Dynamic, true)
	w.null() // dynamic-node-properties
	w.null() // distribution-mode
	w.mapv(s.Filter)
	w.null() // default-outcome
	w.symbols(s.Outcomes)
	w.symbols(s.Capabilities)
	return w.done()
}

// Target is the target terminus of a link (part 3, section 3.5.4).
type Target struct {
	Address      string
	Durable      uint32
	ExpiryPolicy enc.Symbol
	Timeout      uint32
	Dynamic      bool
	Capabilities []enc.Symbol
}

// AppendAMQP encodes the target.
func (t *Target) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeTarget)
	w.str(t.Address, t.Address != "")
	w.uint(t.Durable)
	w.sym(string(t.ExpiryPolicy), t.ExpiryPolicy != "")
	w.uint(t.Timeout)
	w.bool(t.Dynamic, true)
	w.null() // dynamic-node-properties
	w.symbols(t.Capabilities)
	return w.done()
}

// Attach attaches a link to a session.
//
//	name (mandatory), handle (mandatory), role (mandatory), snd-settle-mode, rcv-settle-mode,
//	source, target, unsettled, incomplete-unsettled, initial-delivery-count, max-message-size,
//	offered-capabilities, desired-capabilities, properties
type Attach struct {
	Name                 string
	Handle               uint32
	Role                 bool
	SenderSettleMode     *uint8
	ReceiverSettleMode   *uint8
	Source               *Source
	Target               *Target
	Unsettled            enc.Map
	IncompleteUnsettled  bool
	InitialDeliveryCount *uint32
	MaxMessageSize       uint64 // 0 = unlimited
	OfferedCapabilities  []enc.Symbol
	DesiredCapabilities  []enc.Symbol
	Properties           enc.Map
}

// AppendAMQP encodes the attach performative.
func (a *Attach) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeAttach)
	w.str(a.Name, true)
	w.uint(a.Handle)
	w.bool(a.Role, true)
	w.ubyte(a.SenderSettleMode)
	w.ubyte(a.ReceiverSettleMode)
	w.composite(a.Source, a.Source != nil)
	w.composite(a.Target, a.Target != nil)
	w.mapv(a.Unsettled)
	w.bool(a.IncompleteUnsettled, a.IncompleteUnsettled)
	w.uintp(a.InitialDeliveryCount)
	w.ulong(a.MaxMessageSize, a.MaxMessageSize != 0)
	w.symbols(a.OfferedCapabilities)
	w.symbols(a.DesiredCapabilities)
	w.mapv(a.Properties)
	return w.done()
}

// Flow updates session windows and, with a handle, link credit.
//
//	next-incoming-id, incoming-window (mandatory), next-outgoing-id (mandatory),
//	outgoing-window (mandatory), handle, delivery-count, link-credit, available, drain, echo, properties
type Flow struct {
	NextIncomingID *uint32
	IncomingWindow uint32
	NextOutgoingID uint32
	OutgoingWindow uint32
	Handle         *uint32
	DeliveryCount  *uint32
	LinkCredit     *uint32
	Available      *uint32
	Drain          bool
	Echo           bool
	Properties     enc.Map
}

// AppendAMQP encodes the flow performative.
func (f *Flow) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeFlow)
	w.uintp(f.NextIncomingID)
	w.uint(f.IncomingWindow)
	w.uint(f.NextOutgoingID)
	w.uint(f.OutgoingWindow)
	w.uintp(f.Handle)
	w.uintp(f.DeliveryCount)
	w.uintp(f.LinkCredit)
	w.uintp(f.Available)
	w.bool(f.Drain, f.Drain)
	w.bool(f.Echo, f.Echo)
	w.mapv(f.Properties)
	return w.done()
}

// Transfer carries (part of) a message.
//
//	handle (mandatory), delivery-id, delivery-tag, message-format, settled, more,
//	rcv-settle-mode, state, resume, aborted, batchable
type Transfer struct {
	Handle        uint32
	DeliveryID    *uint32
	DeliveryTag   []byte
	MessageFormat *uint32
	Settled       bool
	More          bool
	RcvSettleMode *uint8
	State         DeliveryState
	Resume        bool
	Aborted       bool
	Batchable     bool
}

// AppendAMQP encodes the transfer performative (the payload follows it in the frame).
func (t *Transfer) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeTransfer)
	w.uint(t.Handle)
	w.uintp(t.DeliveryID)
	w.binary(t.DeliveryTag, t.DeliveryTag != nil)
	w.uintp(t.MessageFormat)
	w.bool(t.Settled, t.Settled)
	w.bool(t.More, t.More)
	w.ubyte(t.RcvSettleMode)
	w.value(t.State)
	w.bool(t.Resume, t.Resume)
	w.bool(t.Aborted, t.Aborted)
	w.bool(t.Batchable, t.Batchable)
	return w.done()
}

// Disposition informs the peer of delivery state changes.
//
//	role (mandatory), first (mandatory), last, settled, state, batchable
type Disposition struct {
	Role      bool
	First     uint32
	Last      *uint32
	Settled   bool
	State     DeliveryState
	Batchable bool
}

// AppendAMQP encodes the disposition performative.
func (d *Disposition) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeDisposition)
	w.bool(d.Role, true)
	w.uint(d.First)
	w.uintp(d.Last)
	w.bool(d.Settled, d.Settled)
	w.value(d.State)
	w.bool(d.Batchable, d.Batchable)
	return w.done()
}

// Detach detaches a link; closed=true closes it.
type Detach struct {
	Handle uint32
	Closed bool
	Error  *Error
}

// AppendAMQP encodes the detach performative.
func (d *Detach) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeDetach)
	w.uint(d.Handle)
	w.bool(d.Closed, d.Closed)
	w.composite(d.Error, d.Error != nil)
	return w.done()
}

// End ends a session.
type End struct{ Error *Error }

// AppendAMQP encodes the end performative.
func (e *End) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeEnd)
	w.composite(e.Error, e.Error != nil)
	return w.done()
}

// Close closes the connection.
type Close struct{ Error *Error }

// AppendAMQP encodes the close performative.
func (c *Close) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeClose)
	w.composite(c.Error, c.Error != nil)
	return w.done()
}

// Error is the AMQP error composite (part 2, section 2.8.14).
type Error struct {
	Condition   enc.Symbol
	Description string
	Info        enc.Map
}

// Error implements error.
func (e *Error) Error() string {
	if e.Description == "" {
		return string(e.Condition)
	}
	return fmt.Sprintf("%s: %s", e.Condition, e.Description)
}

// AppendAMQP encodes the error.
func (e *Error) AppendAMQP(b []byte) ([]byte, error) {
	w := newList(b, codeError)
	w.sym(string(e.Condition), true)
	w.str(e.Description, e.Description != "")
	w.mapv(e.Info)
	return w.done()
}
