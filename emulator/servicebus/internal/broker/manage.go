package broker

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Listing entities, reading back their effective settings and changing them
// in place: what the administration API needs beyond Create* and Delete.

// Queues returns the queue names (as created), sorted case-insensitively.
func (b *Broker) Queues() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return names(b.queues, func(q *entity) string { return q.path })
}

// Topics returns the topic names (as created), sorted case-insensitively.
func (b *Broker) Topics() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return names(b.topics, func(t *topic) string { return t.name })
}

// names lists the names of a registry map's values, sorted.
func names[T any](m map[string]T, name func(T) string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, name(v))
	}
	return sortFold(out)
}

// Subscriptions returns the subscription names of a topic, sorted
// case-insensitively.
func (b *Broker) Subscriptions(topicName string) ([]string, error) {
	t, err := b.topic(topicName)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	out := make([]string, 0, len(t.subList))
	for _, s := range t.subList {
		out = append(out, s.path[len(t.name)+len(subscriptionsInfix):])
	}
	t.mu.Unlock()
	return sortFold(out), nil
}

func sortFold(s []string) []string {
	slices.SortFunc(s, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return s
}

func (b *Broker) topic(name string) (*topic, error) {
	b.mu.RLock()
	t := b.topics[strings.ToLower(name)]
	b.mu.RUnlock()
	if t == nil {
		return nil, fmt.Errorf("topic %s: %w", name, ErrNotFound)
	}
	return t, nil
}

// entityOf resolves a queue (kind KindQueue) or a subscription.
func (b *Broker) entityOf(kind EntityKind, path string) (*entity, error) {
	tg, err := b.resolve(path)
	if err != nil {
		return nil, err
	}
	if tg.addr.DeadLetter || tg.addr.Kind != kind {
		return nil, fmt.Errorf("%s %q: %w", kind, path, ErrNotFound)
	}
	return tg.ent, nil
}

// QueueSettings returns a queue's effective settings (defaults filled in).
func (b *Broker) QueueSettings(name string) (QueueConfig, error) {
	q, err := b.entityOf(KindQueue, name)
	if err != nil {
		return QueueConfig{}, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	cfg := QueueConfig{
		Name:                             q.path,
		LockDuration:                     q.limits.lockDuration,
		MaxDeliveryCount:                 q.limits.maxDeliveryCount,
		DefaultMessageTimeToLive:         q.limits.ttl,
		DeadLetteringOnMessageExpiration: q.limits.dlqOnExpiration,
		RequiresSession:                  q.sessions != nil,
		ForwardTo:                        q.forwardTo,
		ForwardDeadLetteredTo:            q.forwardDLQ,
		MaxSizeInMegabytes:               q.quota.megabytes(),
	}
	cfg.RequiresDuplicateDetection, cfg.DuplicateDetectionHistoryTimeWindow = q.dedup.settings()
	return cfg, nil
}

// TopicSettings returns a topic's effective settings.
func (b *Broker) TopicSettings(name string) (TopicConfig, error) {
	t, err := b.topic(name)
	if err != nil {
		return TopicConfig{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cfg := TopicConfig{Name: t.name, DefaultMessageTimeToLive: t.ttl, MaxSizeInMegabytes: t.quota.megabytes()}
	cfg.RequiresDuplicateDetection, cfg.DuplicateDetectionHistoryTimeWindow = t.dedup.settings()
	return cfg, nil
}

// SubscriptionSettings returns a subscription's effective settings with
// its rules.
func (b *Broker) SubscriptionSettings(topicName, name string) (SubscriptionConfig, error) {
	s, err := b.entityOf(KindSubscription, topicName+subscriptionsInfix+name)
	if err != nil {
		return SubscriptionConfig{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return SubscriptionConfig{
		Name:                             s.path[len(s.topic.name)+len(subscriptionsInfix):],
		LockDuration:                     s.limits.lockDuration,
		MaxDeliveryCount:                 s.limits.maxDeliveryCount,
		DefaultMessageTimeToLive:         s.limits.ttl,
		DeadLetteringOnMessageExpiration: s.limits.dlqOnExpiration,
		Rules:                            slices.Clone(s.ruleList()),
		RequiresSession:                  s.sessions != nil,
		ForwardTo:                        s.forwardTo,
		ForwardDeadLetteredTo:            s.forwardDLQ,
	}, nil
}

func (d *dedupLog) settings() (bool, time.Duration) {
	if d == nil {
		return false, DefaultDuplicateDetectionWindow
	}
	return true, d.window
}

// UpdateQueue changes the settings of an existing queue, as Service Bus
// allows: RequiresSession and RequiresDuplicateDetection are fixed at
// creation (ErrInvalid when they differ). Zero durations and counts mean
// the defaults, as in CreateQueue. A new ForwardTo applies to messages that
// become active from now on; a new MaxSizeInMegabytes to the next send.
func (b *Broker) UpdateQueue(cfg QueueConfig) (err error) {
	defer b.journalEntityAfter(&err, KindQueue, "", cfg.Name)
	q, err := b.entityOf(KindQueue, cfg.Name)
	if err != nil {
		return err
	}
	what := "queue " + cfg.Name
	if err := checkWindow(what, cfg.DuplicateDetectionHistoryTimeWindow); err != nil {
		return err
	}
	if err := checkMaxSize(what, cfg.MaxSizeInMegabytes); err != nil {
		return err
	}
	limits, err := newLimits(what, cfg.LockDuration, cfg.MaxDeliveryCount, cfg.DefaultMessageTimeToLive, cfg.DeadLetteringOnMessageExpiration)
	if err != nil {
		return err
	}
	// sessions and dedup are fixed at creation: readable without q.mu.
	if err := fixedAtCreation(what, q.sessions != nil, cfg.RequiresSession, q.dedup != nil, cfg.RequiresDuplicateDetection); err != nil {
		return err
	}
	// The loop check locks topics, which must not happen under q.mu; b.mu
	// keeps the forwarding graph still until the change is made.
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkForwardLocked(what, q.path, cfg.RequiresSession, cfg.ForwardTo, cfg.ForwardDeadLetteredTo); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock() // runs before b.mu's: nothing was queued for forwarding
	q.limits = limits
	q.dedup.setWindow(cfg.DuplicateDetectionHistoryTimeWindow)
	q.forwardTo, q.forwardDLQ = cfg.ForwardTo, cfg.ForwardDeadLetteredTo
	q.quota.setMax(cfg.MaxSizeInMegabytes)
	q.admin.updated.Store(b.now().UnixNano())
	return nil
}

// UpdateTopic changes a topic's settings; RequiresDuplicateDetection is
// fixed at creation. Zero values mean the defaults, as in CreateTopic.
func (b *Broker) UpdateTopic(cfg TopicConfig) (err error) {
	defer b.journalEntityAfter(&err, KindTopic, "", cfg.Name)
	t, err := b.topic(cfg.Name)
	if err != nil {
		return err
	}
	what := "topic " + cfg.Name
	if err := checkWindow(what, cfg.DuplicateDetectionHistoryTimeWindow); err != nil {
		return err
	}
	if err := checkMaxSize(what, cfg.MaxSizeInMegabytes); err != nil {
		return err
	}
	limits, err := newLimits(what, 0, 0, cfg.DefaultMessageTimeToLive, false)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := fixedAtCreation(what, false, false, t.dedup != nil, cfg.RequiresDuplicateDetection); err != nil {
		return err
	}
	t.ttl = limits.ttl
	t.dedup.setWindow(cfg.DuplicateDetectionHistoryTimeWindow)
	t.quota.setMax(cfg.MaxSizeInMegabytes)
	t.admin.updated.Store(b.now().UnixNano())
	return nil
}

// UpdateSubscription changes a subscription's settings (its rules are
// managed with AddRule, ReplaceRule and RemoveRule; cfg.Rules is ignored).
// RequiresSession is fixed at creation.
func (b *Broker) UpdateSubscription(topicName string, cfg SubscriptionConfig) (err error) {
	defer b.journalEntityAfter(&err, KindSubscription, topicName, cfg.Name)
	s, err := b.entityOf(KindSubscription, topicName+subscriptionsInfix+cfg.Name)
	if err != nil {
		return err
	}
	what := "subscription " + s.path
	limits, err := newLimits(what, cfg.LockDuration, cfg.MaxDeliveryCount, cfg.DefaultMessageTimeToLive, cfg.DeadLetteringOnMessageExpiration)
	if err != nil {
		return err
	}
	if err := fixedAtCreation(what, s.sessions != nil, cfg.RequiresSession, false, false); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkForwardLocked(what, s.topic.name, cfg.RequiresSession, cfg.ForwardTo, cfg.ForwardDeadLetteredTo); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = limits
	s.forwardTo, s.forwardDLQ = cfg.ForwardTo, cfg.ForwardDeadLetteredTo
	s.admin.updated.Store(b.now().UnixNano())
	return nil
}

func fixedAtCreation(what string, session, wantSession, dedup, wantDedup bool) error {
	if session != wantSession {
		return fmt.Errorf("%s: RequiresSession cannot be changed after creation: %w", what, ErrInvalid)
	}
	if dedup != wantDedup {
		return fmt.Errorf("%s: RequiresDuplicateDetection cannot be changed after creation: %w", what, ErrInvalid)
	}
	return nil
}

// setWindow changes the history window; ids already remembered keep the
// time they were accepted, so a shorter window forgets them sooner.
func (d *dedupLog) setWindow(w time.Duration) {
	if d == nil {
		return
	}
	if w <= 0 {
		w = DefaultDuplicateDetectionWindow
	}
	d.window = w
}
