package broker

import "sync"

// entity is a queue or a subscription: its main store and its dead-letter
// store share one mutex, so moving a message to the DLQ is atomic and needs
// no lock ordering.
type entity struct {
	b      *Broker
	mu     sync.Mutex
	kind   EntityKind
	path   string // canonical, e.g. "orders" or "events/Subscriptions/audit"
	limits entityLimits

	main, dlq *store
	deleted   bool

	// seq is the last sequence number of a queue (topics number their
	// subscriptions' messages).
	seq int64

	// Subscriptions only. rules is immutable after creation.
	topic *topic
	rules []Rule
}

func newEntity(b *Broker, kind EntityKind, path string, limits entityLimits) *entity {
	e := &entity{b: b, kind: kind, path: path, limits: limits}
	e.main = newStore(e, false, path)
	e.dlq = newStore(e, true, path+deadLetterSuffix)
	return e
}

// matches reports whether any rule of the subscription selects m.
func (e *entity) matches(m *Message) bool {
	if len(e.rules) == 0 {
		return true
	}
	for _, r := range e.rules {
		if r.Filter.Match(m) {
			return true
		}
	}
	return false
}

// kill marks the entity deleted, stops its timers and wakes its receivers,
// which then get ErrNotFound.
func (e *entity) kill() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.deleted = true
	for _, s := range []*store{e.main, e.dlq} {
		s.alarm.stop()
		s.wake()
	}
}

func (e *entity) runTimers() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.deleted {
		return
	}
	now := e.b.now()
	e.main.runTimers(now)
	e.dlq.runTimers(now)
}
