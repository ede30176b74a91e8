package broker

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
)

// This file is what the administration API needs beyond creating and
// deleting entities: listing, reading back the effective settings,
// updating them in place, runtime counts and rule management.

// adminState is what the administration API reads and sets on an entity or
// topic beyond its settings: timestamps (Unix nanoseconds) and status, kept
// in atomics so that the message path reads them without a lock of its own.
type adminState struct {
	created, updated, accessed atomic.Int64
	status                     atomic.Uint32 // a Status
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
	if Status(st.status.Swap(uint32(s))) != s {
		st.updated.Store(b.now().UnixNano())
	}
	return nil
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
}

// Total is the message count Service Bus reports as MessageCount.
func (i Info) Total() int64 {
	return i.Active + i.DeadLetter + i.TransferDeadLetter + i.Scheduled + i.Transfer
}

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
	cfg := TopicConfig{Name: t.name, DefaultMessageTimeToLive: t.ttl}
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
// become active from now on.
func (b *Broker) UpdateQueue(cfg QueueConfig) error {
	q, err := b.entityOf(KindQueue, cfg.Name)
	if err != nil {
		return err
	}
	what := "queue " + cfg.Name
	if err := checkWindow(what, cfg.DuplicateDetectionHistoryTimeWindow); err != nil {
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
	q.admin.updated.Store(b.now().UnixNano())
	return nil
}

// UpdateTopic changes a topic's settings; RequiresDuplicateDetection is
// fixed at creation.
func (b *Broker) UpdateTopic(cfg TopicConfig) error {
	t, err := b.topic(cfg.Name)
	if err != nil {
		return err
	}
	what := "topic " + cfg.Name
	if err := checkWindow(what, cfg.DuplicateDetectionHistoryTimeWindow); err != nil {
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
	t.admin.updated.Store(b.now().UnixNano())
	return nil
}

// UpdateSubscription changes a subscription's settings (its rules are
// managed with AddRule, ReplaceRule and RemoveRule; cfg.Rules is ignored).
// RequiresSession is fixed at creation.
func (b *Broker) UpdateSubscription(topicName string, cfg SubscriptionConfig) error {
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
		t.scheduled.ascend(0, func(e *entry) bool { info.SizeInBytes += int64(len(e.msg.Body)); return true })
		subs := t.subList
		info.SubscriptionCount = len(subs)
		info.CreatedAt, info.UpdatedAt, info.AccessedAt = t.admin.times()
		info.Status = Status(t.admin.status.Load())
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
	return info, nil
}

// count adds the entity's messages to info; e.mu is held.
func (e *entity) count(info *Info) {
	e.main.all.ascend(0, func(en *entry) bool {
		if en.msg.State == StateScheduled {
			info.Scheduled++
		} else {
			info.Active++
		}
		info.SizeInBytes += int64(len(en.msg.Body))
		return true
	})
	e.dlq.all.ascend(0, func(en *entry) bool {
		switch en.msg.ApplicationProperties[PropDeadLetterReason] {
		case ReasonMaxTransferHopCountExceeded, ReasonForwardingDestinationGone:
			info.TransferDeadLetter++
		default:
			info.DeadLetter++
		}
		info.SizeInBytes += int64(len(en.msg.Body))
		return true
	})
	info.Transfer += int64(len(e.mu.outbox))
}

// ruleList is the subscription's current rules; never modified in place
// (AddRule and friends swap in a new slice), so callers may range over it
// without a lock.
func (e *entity) ruleList() []Rule {
	if p := e.rules.Load(); p != nil {
		return *p
	}
	return nil
}

// Rules returns a subscription's rules in creation order.
func (b *Broker) Rules(topicName, sub string) ([]Rule, error) {
	s, err := b.entityOf(KindSubscription, topicName+subscriptionsInfix+sub)
	if err != nil {
		return nil, err
	}
	return slices.Clone(s.ruleList()), nil
}

// AddRule adds a rule to a subscription; ErrExists when it has a rule of
// that name (case-insensitive), ErrInvalid without a name or filter.
func (b *Broker) AddRule(topicName, sub string, r Rule) error {
	return b.changeRules(topicName, sub, r.Name, func(rules []Rule, i int) ([]Rule, error) {
		if i >= 0 {
			return nil, fmt.Errorf("rule %s: %w", r.Name, ErrExists)
		}
		return append(rules, r), nil
	}, &r)
}

// ReplaceRule replaces the filter and action of an existing rule
// (ErrNotFound when there is none of that name).
func (b *Broker) ReplaceRule(topicName, sub string, r Rule) error {
	return b.changeRules(topicName, sub, r.Name, func(rules []Rule, i int) ([]Rule, error) {
		if i < 0 {
			return nil, fmt.Errorf("rule %s: %w", r.Name, ErrNotFound)
		}
		r.Name = rules[i].Name
		rules[i] = r
		return rules, nil
	}, &r)
}

// RemoveRule removes a rule (ErrNotFound when there is none of that name).
// A subscription left without rules receives nothing, as in Service Bus.
func (b *Broker) RemoveRule(topicName, sub, name string) error {
	return b.changeRules(topicName, sub, name, func(rules []Rule, i int) ([]Rule, error) {
		if i < 0 {
			return nil, fmt.Errorf("rule %s: %w", name, ErrNotFound)
		}
		return slices.Delete(rules, i, i+1), nil
	}, nil)
}

func (b *Broker) changeRules(topicName, sub, name string, change func([]Rule, int) ([]Rule, error), add *Rule) error {
	s, err := b.entityOf(KindSubscription, topicName+subscriptionsInfix+sub)
	if err != nil {
		return err
	}
	if add != nil {
		if _, err := checkRules(s.path, []Rule{*add}); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rules := slices.Clone(s.ruleList())
	i := slices.IndexFunc(rules, func(r Rule) bool { return strings.EqualFold(r.Name, name) })
	next, err := change(rules, i)
	if err != nil {
		return fmt.Errorf("subscription %s: %w", s.path, err)
	}
	s.rules.Store(&next)
	s.admin.updated.Store(b.now().UnixNano())
	return nil
}

// touched records a send or receive on the entity.
func (e *entity) touched(now time.Time) { e.admin.touch(now) }

// NewSQLFilterWithParameters parses a SQL filter whose @parameters take the
// given values (keys include the "@"; see sqlfilter.ParseFilterWithParameters).
func NewSQLFilterWithParameters(expr string, params map[string]any) (*SQLFilter, error) {
	f, err := sqlfilter.ParseFilterWithParameters(expr, params)
	if err != nil {
		return nil, fmt.Errorf("SQL filter %q: %w: %w", expr, ErrInvalid, err)
	}
	return &SQLFilter{f: f}, nil
}

// NewSQLActionWithParameters is NewSQLAction with @parameters.
func NewSQLActionWithParameters(expr string, params map[string]any) (*sqlfilter.Action, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	a, err := sqlfilter.ParseActionWithParameters(expr, params)
	if err != nil {
		return nil, fmt.Errorf("SQL action %q: %w: %w", expr, ErrInvalid, err)
	}
	return a, nil
}
