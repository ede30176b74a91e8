package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"
)

// adminState is what the administration API reads and sets on an entity or
// topic beyond its settings: timestamps (Unix nanoseconds), status and the
// API's own properties, kept in atomics so that the message path reads them
// without a lock of its own.
type adminState struct {
	created, updated, accessed atomic.Int64
	status                     atomic.Uint32 // a Status
	// props are the administration API's properties of the entity
	// (UserMetadata, AutoDeleteOnIdle, ...), JSON the broker does not
	// interpret but journals with the entity's definition.
	props atomic.Pointer[[]byte]
}

func (s *adminState) properties() []byte {
	if p := s.props.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *adminState) init(now time.Time) {
	s.created.Store(now.UnixNano())
	s.updated.Store(now.UnixNano())
}

func (s *adminState) touch(now time.Time) { s.accessed.Store(now.UnixNano()) }

func (s *adminState) times() (created, updated, accessed time.Time) {
	at := func(v *atomic.Int64) time.Time {
		if n := v.Load(); n != 0 {
			return time.Unix(0, n).UTC()
		}
		return time.Time{}
	}
	return at(&s.created), at(&s.updated), at(&s.accessed)
}

// Status is an entity's availability, as Service Bus's EntityStatus:
// Disabled refuses sending and receiving, SendDisabled sending (queues and
// topics), ReceiveDisabled receiving (queues and subscriptions, their
// dead-letter queues included). Refusals wrap ErrDisabled and ErrNotAllowed.
type Status uint32

// Statuses.
const (
	StatusActive Status = iota
	StatusDisabled
	StatusSendDisabled
	StatusReceiveDisabled
)

var statusNames = [...]string{"Active", "Disabled", "SendDisabled", "ReceiveDisabled"}

// String returns the service's name of the status.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "Unknown"
}

// SetStatus changes the status of a queue, topic or subscription. Receivers
// already attached get the refusal at their next receive.
func (b *Broker) SetStatus(path string, s Status) error {
	return b.setAdmin(path, s, nil)
}

// SetStatusAndProperties changes the status of a queue, topic or
// subscription (as SetStatus) and replaces the administration API's
// properties of it (props: JSON, which the broker keeps, journals with the
// entity and reports in Info.Properties without interpreting it). One
// journal record holds both.
func (b *Broker) SetStatusAndProperties(path string, s Status, props []byte) error {
	if props == nil {
		props = []byte{}
	} else if !json.Valid(props) {
		return fmt.Errorf("%s: properties are not JSON: %w", path, ErrInvalid)
	}
	return b.setAdmin(path, s, props)
}

// setAdmin sets the status, and the properties unless props is nil.
func (b *Broker) setAdmin(path string, s Status, props []byte) (err error) {
	if int(s) >= len(statusNames) {
		return fmt.Errorf("status %d: %w", s, ErrInvalid)
	}
	tg, err := b.resolve(path)
	if err != nil {
		return err
	}
	if tg.addr.DeadLetter {
		return fmt.Errorf("%s: a dead-letter queue has the status of its entity: %w", path, ErrNotAllowed)
	}
	st := tg.state()
	changed := Status(st.status.Swap(uint32(s))) != s
	if props != nil && !bytes.Equal(props, st.properties()) {
		props = bytes.Clone(props)
		st.props.Store(&props)
		changed = true
	}
	if changed {
		st.updated.Store(b.now().UnixNano())
		// Status and properties are part of the journaled definition.
		topic, name := tg.names()
		defer b.journalEntityAfter(&err, tg.addr.Kind, topic, name)
	}
	return nil
}

// names returns the topic (subscriptions only) and the name of tg's entity.
func (tg target) names() (topic, name string) {
	if tg.addr.Kind == KindSubscription {
		return tg.ent.topic.name, tg.ent.path[len(tg.ent.topic.name)+len(subscriptionsInfix):]
	}
	return "", tg.addr.Path
}

func (tg target) state() *adminState {
	if tg.top != nil {
		return &tg.top.admin
	}
	return &tg.ent.admin
}

// sendEnabled refuses sending to a Disabled or SendDisabled queue or topic.
func (tg target) sendEnabled() error {
	if s := Status(tg.state().status.Load()); s == StatusDisabled || s == StatusSendDisabled {
		return fmt.Errorf("%s %s is %s: %w: %w", tg.addr.Kind, tg.addr.Path, s, ErrDisabled, ErrNotAllowed)
	}
	return nil
}

// receiveEnabled refuses receiving from a Disabled or ReceiveDisabled queue
// or subscription (and its dead-letter queue).
func (tg target) receiveEnabled() error {
	if s := Status(tg.ent.admin.status.Load()); s == StatusDisabled || s == StatusReceiveDisabled {
		return fmt.Errorf("%s %s is %s: %w: %w", tg.addr.Kind, tg.addr.Path, s, ErrDisabled, ErrNotAllowed)
	}
	return nil
}

// touched records a send or receive on the entity.
func (e *entity) touched(now time.Time) { e.admin.touch(now) }
