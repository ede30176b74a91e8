package broker

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ReceiveMode is the settlement mode of a receiver.
type ReceiveMode uint8

const (
	// PeekLock locks each delivered message for the entity's LockDuration;
	// it must then be settled by lock token.
	PeekLock ReceiveMode = iota
	// ReceiveAndDelete removes each message as it is delivered.
	ReceiveAndDelete
)

// Broker is the in-memory Service Bus core: entities, messages, locks and
// timers. It does no I/O and is safe for concurrent use. There is no global
// lock on the message path: the registry is read-locked only to resolve an
// address, and each queue or subscription (with its DLQ) has its own mutex.
type Broker struct {
	cfg Config

	mu     sync.RWMutex
	queues map[string]*entity // by lower-case name
	topics map[string]*topic  // by lower-case name

	replaying atomic.Bool // Recover is rebuilding state: nothing is journaled

	// cold is Config.Journal when it can read records back (ColdLog).
	cold ColdLog

	stopped  atomic.Bool
	done     chan struct{}
	stopOnce sync.Once
}

// New returns a running broker with no entities.
func New(cfg Config) *Broker {
	b := &Broker{
		cfg:    cfg.withDefaults(),
		queues: make(map[string]*entity),
		topics: make(map[string]*topic),
		done:   make(chan struct{}),
	}
	b.cold, _ = cfg.Journal.(ColdLog)
	return b
}

func (b *Broker) now() time.Time { return b.cfg.Clock.Now() }

// Stop stops the broker's timers and makes blocked Receive calls return
// ErrStopped. Other operations keep working (without timers). Idempotent,
// bounded (it only stops timers), and safe on a broker that was never used,
// even a zero Broker.
func (b *Broker) Stop() {
	b.stopOnce.Do(func() {
		b.stopped.Store(true)
		if b.done != nil { // nil only for a zero Broker not made by New
			close(b.done)
		}
		for _, e := range b.snapshot() {
			e.main.alarm.stop()
			e.dlq.alarm.stop()
		}
		b.mu.RLock()
		for _, t := range b.topics {
			t.alarm.stop()
		}
		b.mu.RUnlock()
	})
}

// snapshot returns every queue and subscription.
func (b *Broker) snapshot() []*entity {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]*entity, 0, len(b.queues))
	for _, q := range b.queues {
		out = append(out, q)
	}
	for _, t := range b.topics {
		t.mu.Lock()
		out = append(out, t.subList...)
		t.mu.Unlock()
	}
	return out
}

// RunTimers processes every lock expiry, TTL expiry and scheduled activation
// due at the Config.Clock's Now. The broker's own timers (on that clock) do
// this by themselves; tests call it to check that the outcome does not
// depend on which path processed a deadline. Settlement and
// receive also check expiry on the spot, so results never depend on timer
// latency.
func (b *Broker) RunTimers() {
	b.mu.RLock()
	topics := make([]*topic, 0, len(b.topics))
	for _, t := range b.topics {
		topics = append(topics, t)
	}
	b.mu.RUnlock()
	for _, t := range topics {
		t.runTimers() // fans out first, so due copies get processed below
	}
	for _, e := range b.snapshot() {
		e.runTimers()
	}
}

func validName(kind, name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("%s name is empty: %w", kind, ErrInvalid)
	}
	if strings.HasSuffix(strings.ToLower(name), strings.ToLower(deadLetterSuffix)) {
		return fmt.Errorf("%s name %q ends in %s: %w", kind, name, deadLetterSuffix, ErrInvalid)
	}
	return nil
}

// CreateQueue adds a queue. ErrExists if a queue or topic has the name
// (case-insensitive); ErrInvalid for bad settings, including forwarding
// to a missing entity or in a loop (forward.go).
func (b *Broker) CreateQueue(cfg QueueConfig) (err error) {
	defer b.journalEntityAfter(&err, KindQueue, "", cfg.Name)
	if err := validName("queue", cfg.Name); err != nil {
		return err
	}
	if err := checkWindow("queue "+cfg.Name, cfg.DuplicateDetectionHistoryTimeWindow); err != nil {
		return err
	}
	limits, err := newLimits("queue "+cfg.Name, cfg.LockDuration, cfg.MaxDeliveryCount, cfg.DefaultMessageTimeToLive, cfg.DeadLetteringOnMessageExpiration)
	if err != nil {
		return err
	}
	key := strings.ToLower(cfg.Name)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.queues[key] != nil || b.topics[key] != nil {
		return fmt.Errorf("queue %s: %w", cfg.Name, ErrExists)
	}
	if err := b.checkForwardLocked("queue "+cfg.Name, cfg.Name, cfg.RequiresSession, cfg.ForwardTo, cfg.ForwardDeadLetteredTo); err != nil {
		return err
	}
	quota, err := newQuota("queue "+cfg.Name, cfg.MaxSizeInMegabytes)
	if err != nil {
		return err
	}
	q := newEntity(b, KindQueue, cfg.Name, limits, quota)
	q.dedup = newDedupLog(cfg.RequiresDuplicateDetection, cfg.DuplicateDetectionHistoryTimeWindow)
	q.forwardTo, q.forwardDLQ = cfg.ForwardTo, cfg.ForwardDeadLetteredTo
	q.enableSessions(cfg.RequiresSession)
	b.queues[key] = q
	b.cfg.Logger.Debug("queue created", "name", cfg.Name, "lockDuration", limits.lockDuration,
		"maxDeliveryCount", limits.maxDeliveryCount, "ttl", limits.ttl)
	return nil
}

// CreateTopic adds a topic without subscriptions (messages sent to it are
// dropped until a subscription exists, as in Service Bus).
func (b *Broker) CreateTopic(cfg TopicConfig) (err error) {
	defer b.journalEntityAfter(&err, KindTopic, "", cfg.Name)
	if err := validName("topic", cfg.Name); err != nil {
		return err
	}
	if err := checkWindow("topic "+cfg.Name, cfg.DuplicateDetectionHistoryTimeWindow); err != nil {
		return err
	}
	limits, err := newLimits("topic "+cfg.Name, 0, 0, cfg.DefaultMessageTimeToLive, false)
	if err != nil {
		return err
	}
	quota, err := newQuota("topic "+cfg.Name, cfg.MaxSizeInMegabytes)
	if err != nil {
		return err
	}
	key := strings.ToLower(cfg.Name)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.queues[key] != nil || b.topics[key] != nil {
		return fmt.Errorf("topic %s: %w", cfg.Name, ErrExists)
	}
	b.topics[key] = newTopic(b, cfg, limits.ttl, quota)
	b.cfg.Logger.Debug("topic created", "name", cfg.Name, "ttl", limits.ttl)
	return nil
}

// CreateSubscription adds a subscription to an existing topic. Without
// rules it gets the match-all $Default rule.
func (b *Broker) CreateSubscription(topicName string, cfg SubscriptionConfig) (err error) {
	defer b.journalEntityAfter(&err, KindSubscription, topicName, cfg.Name)
	path := topicName + subscriptionsInfix + cfg.Name
	if err := validName("subscription", cfg.Name); err != nil {
		return err
	}
	limits, err := newLimits("subscription "+path, cfg.LockDuration, cfg.MaxDeliveryCount, cfg.DefaultMessageTimeToLive, cfg.DeadLetteringOnMessageExpiration)
	if err != nil {
		return err
	}
	rules, err := checkRules(path, cfg.Rules)
	if err != nil {
		return err
	}
	b.mu.RLock()
	t := b.topics[strings.ToLower(topicName)]
	b.mu.RUnlock()
	if t == nil {
		return fmt.Errorf("topic %s: %w", topicName, ErrNotFound)
	}
	sub := newEntity(b, KindSubscription, t.name+subscriptionsInfix+cfg.Name, limits, t.quota)
	sub.topic = t
	sub.rules.Store(&rules)
	sub.enableSessions(cfg.RequiresSession)
	sub.forwardTo, sub.forwardDLQ = cfg.ForwardTo, cfg.ForwardDeadLetteredTo
	if err := b.addSubscription(t, sub, cfg); err != nil {
		return err
	}
	b.cfg.Logger.Debug("subscription created", "path", sub.path, "rules", len(rules))
	return nil
}

func checkRules(path string, rules []Rule) ([]Rule, error) {
	if len(rules) == 0 {
		return []Rule{{Name: DefaultRuleName, Filter: TrueFilter{}}}, nil
	}
	seen := make(map[string]bool, len(rules))
	for i, r := range rules {
		switch {
		case strings.TrimSpace(r.Name) == "":
			return nil, fmt.Errorf("subscription %s: rule %d has no name: %w", path, i, ErrInvalid)
		case seen[strings.ToLower(r.Name)]:
			return nil, fmt.Errorf("subscription %s: rule %s is defined twice: %w", path, r.Name, ErrInvalid)
		case r.Filter == nil:
			return nil, fmt.Errorf("subscription %s: rule %s has no filter: %w", path, r.Name, ErrInvalid)
		}
		seen[strings.ToLower(r.Name)] = true
	}
	return append([]Rule(nil), rules...), nil
}

// Delete removes the queue, the topic (with its subscriptions) or the
// subscription at address, with all their messages. Their receivers get
// ErrNotFound; outstanding lock tokens become unknown.
func (b *Broker) Delete(address string) (err error) {
	defer b.journalDeleteAfter(&err, address)
	tg, err := b.resolve(address)
	if err != nil {
		return err
	}
	if tg.addr.DeadLetter {
		return fmt.Errorf("delete %s: a dead-letter queue goes with its entity: %w", address, ErrNotAllowed)
	}
	switch tg.addr.Kind {
	case KindQueue:
		b.mu.Lock()
		delete(b.queues, strings.ToLower(tg.ent.path))
		b.mu.Unlock()
		tg.ent.kill()
	case KindTopic:
		b.mu.Lock()
		delete(b.topics, strings.ToLower(tg.top.name))
		b.mu.Unlock()
		for _, sub := range tg.top.kill() {
			sub.kill()
		}
	case KindSubscription:
		name := tg.ent.path[len(tg.ent.topic.name)+len(subscriptionsInfix):]
		sub, err := tg.ent.topic.removeSub(name)
		if err != nil {
			return err
		}
		sub.kill()
	}
	b.cfg.Logger.Debug("entity deleted", "path", tg.addr.Path)
	return nil
}
