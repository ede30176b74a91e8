package broker

import "sync/atomic"

// entity is a queue or a subscription: its main store and its dead-letter
// store share one mutex, so moving a message to the DLQ is atomic and needs
// no lock ordering.
type entity struct {
	b      *Broker
	mu     entityLock // Unlock also flushes the forwarding outbox (forward.go)
	kind   EntityKind
	path   string // canonical, e.g. "orders" or "events/Subscriptions/audit"
	limits entityLimits

	main, dlq *store
	deleted   bool
	// slab holds the stored forms of the messages sent to a queue.
	slab slab
	// quota is the entity's size limit; a subscription shares its topic's.
	quota *quota

	// seq is the last sequence number of a queue (topics number their
	// subscriptions' messages).
	seq int64

	// sessions is non-nil on a session-enabled entity (RequiresSession);
	// set at creation.
	sessions *sessionSet

	// Subscriptions only. rules is swapped whole by the rule changes of
	// rulechange.go, never modified in place; read it with ruleList.
	topic *topic
	rules atomic.Pointer[[]Rule]

	// admin holds timestamps and status (status.go).
	admin adminState

	// dedup is the duplicate-detection history of a queue (nil: off).
	dedup *dedupLog
	// forwardTo and forwardDLQ are the auto-forwarding destinations ("":
	// none); changed only by UpdateQueue/UpdateSubscription, under both
	// b.mu and mu, so either lock suffices to read them.
	forwardTo, forwardDLQ string
}

func newEntity(b *Broker, kind EntityKind, path string, limits entityLimits, q *quota) *entity {
	e := &entity{b: b, kind: kind, path: path, limits: limits, quota: q}
	e.main = newStore(e, false, path)
	e.dlq = newStore(e, true, path+deadLetterSuffix)
	e.mu.flush = func(out []forwarded) { b.flushForwards(e, out) }
	e.admin.init(b.now())
	return e
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
		// A deleted subscription's copies no longer count against its topic's quota.
		s.all.ascend(0, func(en *entry) bool { e.quota.drop(en); return true })
	}
	if e.sessions != nil {
		e.sessions.kill()
	}
}

func (e *entity) runTimers() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.deleted {
		return
	}
	now := e.b.now()
	// Session locks first: messages locked under an expired session are
	// released (not counted) rather than expired one by one.
	e.main.runSessionTimers(now)
	e.main.runTimers(now)
	e.dlq.runTimers(now)
}
