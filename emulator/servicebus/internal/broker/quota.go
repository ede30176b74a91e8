package broker

import (
	"fmt"
	"sync/atomic"
)

// DefaultMaxSizeInMegabytes is the entity size limit of Service Bus's standard tier default.
const DefaultMaxSizeInMegabytes = 1024

// quota is the size limit of a queue or a topic (MaxSizeInMegabytes). Like Service Bus, it counts
// every message the entity holds: active, locked, deferred, scheduled and dead-lettered; a topic's
// quota is shared by its subscriptions, so it counts each subscription's copy. used is atomic
// because the stores of one topic are guarded by different locks; max is, because an update
// changes it while messages flow.
type quota struct {
	max  atomic.Int64
	used atomic.Int64
}

func newQuota(name string, megabytes int) (*quota, error) {
	if err := checkMaxSize(name, megabytes); err != nil {
		return nil, err
	}
	q := &quota{}
	q.setMax(megabytes)
	return q, nil
}

func checkMaxSize(name string, megabytes int) error {
	if megabytes < 0 {
		return fmt.Errorf("%s: MaxSizeInMegabytes %d is negative: %w", name, megabytes, ErrInvalid)
	}
	return nil
}

// setMax changes the limit (0 means the default) of a checked size. Messages already held stay
// when it shrinks below them; sends are refused until enough of them leave.
func (q *quota) setMax(megabytes int) {
	if megabytes == 0 {
		megabytes = DefaultMaxSizeInMegabytes
	}
	q.max.Store(int64(megabytes) << 20)
}

// megabytes is the effective limit.
func (q *quota) megabytes() int { return int(q.max.Load() >> 20) }

// admit reports whether msgs fit; the check and the later adds are not atomic, so concurrent
// senders may overshoot by one send each, as on Service Bus, where the quota is also checked
// before a send is stored.
func (q *quota) admit(path string, msgs []*Message) error {
	var n int64
	for _, m := range msgs {
		n += m.size()
	}
	if used, limit := q.used.Load(), q.max.Load(); used+n > limit {
		return fmt.Errorf("the messaging entity '%s' has reached its maximum size of %d MB (%d bytes used, %d to add): %w",
			path, limit>>20, used, n, ErrQuotaExceeded)
	}
	return nil
}

func (q *quota) add(e *entry)  { q.used.Add(int64(e.size)) }
func (q *quota) drop(e *entry) { q.used.Add(-int64(e.size)) }

// size is what a message counts against its entity's quota: its encoded size as sent, or the
// length of its body when the sender did not say.
func (m *Message) size() int64 {
	if m.Size > 0 {
		return int64(m.Size)
	}
	return int64(len(m.Body))
}
