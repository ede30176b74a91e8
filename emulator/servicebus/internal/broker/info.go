package broker

import (
	"fmt"
	"time"
)

// Info is the runtime state of a queue, topic or subscription.
type Info struct {
	// Active counts the messages that are not scheduled (available,
	// locked or deferred), as Service Bus's ActiveMessageCount does.
	Active int64
	// DeadLetter counts the dead-letter queue, except the messages that
	// auto-forwarding could not deliver (TransferDeadLetter). Both kinds
	// are received from the same dead-letter queue here.
	DeadLetter         int64
	TransferDeadLetter int64
	// Scheduled counts messages waiting for their enqueue time (on a
	// topic, the ones not yet fanned out).
	Scheduled int64
	// Transfer counts messages waiting in the auto-forwarding outbox.
	Transfer int64
	// SizeInBytes is the sum of the encoded bodies of the stored messages
	// (dead-lettered ones included); a topic's counts its scheduled
	// messages and every copy its subscriptions hold.
	SizeInBytes int64
	// SubscriptionCount is the number of subscriptions of a topic.
	SubscriptionCount int
	// CreatedAt, UpdatedAt (last settings change) and AccessedAt (last
	// send or receive; zero when never) in UTC.
	CreatedAt, UpdatedAt, AccessedAt time.Time
	// Status is the entity's availability.
	Status Status
	// Properties are the administration API's properties of the entity
	// (SetStatusAndProperties); nil when never set.
	Properties []byte
}

// Total is the message count Service Bus reports as MessageCount.
func (i Info) Total() int64 {
	return i.Active + i.DeadLetter + i.TransferDeadLetter + i.Scheduled + i.Transfer
}

// EntityInfo returns the runtime state of a queue, topic or subscription
// ("topic/Subscriptions/sub"). It walks every stored message: meant for
// the administration API, not the message path.
func (b *Broker) EntityInfo(path string) (Info, error) {
	tg, err := b.resolve(path)
	if err != nil {
		return Info{}, err
	}
	if tg.addr.DeadLetter {
		return Info{}, fmt.Errorf("%s: a dead-letter queue has no runtime properties of its own: %w", path, ErrNotFound)
	}
	var info Info
	if tg.top != nil {
		t := tg.top
		t.mu.Lock()
		info.Scheduled = int64(t.scheduled.len())
		t.scheduled.ascend(0, func(e *entry) bool { info.SizeInBytes += int64(storedBodyLen(e.data)); return true })
		subs := t.subList
		info.SubscriptionCount = len(subs)
		info.CreatedAt, info.UpdatedAt, info.AccessedAt = t.admin.times()
		info.Status = Status(t.admin.status.Load())
		info.Properties = t.admin.properties()
		t.mu.Unlock()
		for _, sub := range subs { // the topic's size includes what its subscriptions hold
			sub.mu.Lock()
			var si Info
			sub.count(&si)
			sub.mu.Unlock()
			info.SizeInBytes += si.SizeInBytes
		}
		return info, nil
	}
	if err := tg.lock(); err != nil {
		return Info{}, err
	}
	e := tg.ent
	defer e.mu.Unlock()
	e.count(&info)
	info.CreatedAt, info.UpdatedAt, info.AccessedAt = e.admin.times()
	info.Status = Status(e.admin.status.Load())
	info.Properties = e.admin.properties()
	return info, nil
}

// count adds the entity's messages to info; e.mu is held.
func (e *entity) count(info *Info) {
	e.main.all.ascend(0, func(en *entry) bool {
		if en.state == StateScheduled {
			info.Scheduled++
		} else {
			info.Active++
		}
		info.SizeInBytes += int64(en.bodyLen())
		return true
	})
	e.dlq.all.ascend(0, func(en *entry) bool {
		var reason any
		if m, err := e.b.message(en); err == nil { // else the log failed: counted as a plain dead letter
			reason = m.ApplicationProperties[PropDeadLetterReason]
		}
		switch reason {
		case ReasonMaxTransferHopCountExceeded, ReasonForwardingDestinationGone:
			info.TransferDeadLetter++
		default:
			info.DeadLetter++
		}
		info.SizeInBytes += int64(en.bodyLen())
		return true
	})
	info.Transfer += int64(len(e.mu.outbox))
}
