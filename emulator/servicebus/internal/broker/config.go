package broker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/clock"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
)

// Defaults applied to zero-valued configuration fields. They are Azure
// Service Bus's defaults, except the TTL, which follows the official
// emulator (Azure's own default is "forever").
const (
	DefaultLockDuration             = time.Minute
	DefaultMaxDeliveryCount         = 10
	DefaultMessageTimeToLive        = time.Hour
	DefaultDuplicateDetectionWindow = 20 * time.Second
)

// Config configures a Broker. The zero value is valid.
type Config struct {
	// Clock is the broker's time: every timestamp it stamps or compares
	// (enqueue, lock, expiry, duplicate-detection history) and every timer
	// (lock expiry, TTL, scheduled enqueue, session lock expiry) goes
	// through it. Default nil: the real clock. A clock.Fake makes entity
	// time move only when the test advances it, and fires the due timers
	// then.
	Clock clock.Clock
	// Logger receives debug lines for entity changes. Default: discard.
	Logger *slog.Logger
	// Journal, when set, receives every durable state change (journal.go)
	// so that Recover can rebuild the messages after a restart. Nil: memory
	// only, nothing is encoded.
	Journal Journal
}

func (c Config) withDefaults() Config {
	c.Clock = clock.Or(c.Clock)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// QueueConfig describes a queue. Zero-valued fields take the documented
// defaults.
type QueueConfig struct {
	// Name of the queue (case-insensitive, unique among queues and topics).
	// Required.
	Name string
	// LockDuration of a PeekLock delivery. Default 1 min.
	LockDuration time.Duration
	// MaxDeliveryCount: when Abandon or a lock expiry ends a delivery and
	// DeliveryCount+1 reaches this limit, the message is dead-lettered with
	// reason MaxDeliveryCountExceeded, so (without deferral, which also
	// counts) a message is delivered at most this many times. Default 10.
	MaxDeliveryCount int
	// DefaultMessageTimeToLive, and the maximum effective TTL of a message.
	// Default 1 h.
	DefaultMessageTimeToLive time.Duration
	// DeadLetteringOnMessageExpiration moves expired messages to the DLQ
	// (reason TTLExpiredException) instead of dropping them. Default false.
	DeadLetteringOnMessageExpiration bool

	// RequiresSession makes the queue session-enabled: every message needs
	// a session id (Send refuses others with ErrNotAllowed) and only
	// session receivers (AcceptSession, AcceptNextSession) consume it; see
	// session.go. Default false.
	RequiresSession bool
	// RequiresDuplicateDetection drops (after accepting) a message whose
	// MessageId was already accepted by the queue within
	// DuplicateDetectionHistoryTimeWindow. Default false.
	RequiresDuplicateDetection bool
	// DuplicateDetectionHistoryTimeWindow is how long a MessageId is
	// remembered, counted from the first accepted send. Default 20 s; only
	// used with RequiresDuplicateDetection.
	DuplicateDetectionHistoryTimeWindow time.Duration
	// ForwardTo names a queue or topic (which must exist) that every
	// message of this queue is moved to as soon as it becomes active; the
	// queue itself then cannot be received from. Default "" (none). See
	// forward.go for loops and the hop limit.
	ForwardTo string
	// ForwardDeadLetteredTo names a queue or topic (which must exist) that
	// receives this queue's dead-lettered messages instead of its
	// dead-letter queue. Default "" (none).
	ForwardDeadLetteredTo string
	// MaxSizeInMegabytes bounds the bytes of all messages the queue holds,
	// its dead-letter queue included; a send beyond it fails with
	// ErrQuotaExceeded. Default 1024, as on Service Bus.
	MaxSizeInMegabytes int
}

// TopicConfig describes a topic. Subscriptions are created separately.
type TopicConfig struct {
	// Name of the topic (case-insensitive, unique among queues and topics).
	// Required.
	Name string
	// DefaultMessageTimeToLive caps the TTL of messages sent to the topic.
	// Default 1 h.
	DefaultMessageTimeToLive time.Duration

	// RequiresDuplicateDetection and DuplicateDetectionHistoryTimeWindow:
	// as in QueueConfig (default false, 20 s). Duplicates are dropped before
	// the fan-out, so no subscription gets them.
	RequiresDuplicateDetection          bool
	DuplicateDetectionHistoryTimeWindow time.Duration
	// MaxSizeInMegabytes bounds the bytes of all messages of the topic:
	// each subscription's copies (dead-lettered ones included) and the
	// scheduled messages waiting at the topic. Default 1024.
	MaxSizeInMegabytes int
}

// SubscriptionConfig describes a subscription of a topic.
type SubscriptionConfig struct {
	// Name of the subscription (case-insensitive, unique in its topic).
	// Required.
	Name string
	// LockDuration, MaxDeliveryCount, DefaultMessageTimeToLive and
	// DeadLetteringOnMessageExpiration: as in QueueConfig, same defaults.
	// The effective TTL of a copy is also capped by the topic's default.
	LockDuration                     time.Duration
	MaxDeliveryCount                 int
	DefaultMessageTimeToLive         time.Duration
	DeadLetteringOnMessageExpiration bool
	// Rules select the messages the subscription receives: one copy if any
	// rule without an action matches, plus one copy per matching rule with
	// an action (see rule.go). No rules means the default rule "$Default"
	// with a match-all filter.
	Rules []Rule

	// RequiresSession makes the subscription session-enabled: only session
	// receivers consume it, and a topic message without session id is
	// dead-lettered with reason "Session id is null." Default false.
	RequiresSession bool
	// ForwardTo and ForwardDeadLetteredTo: as in QueueConfig (default "").
	ForwardTo             string
	ForwardDeadLetteredTo string
}

// Rule is a named filter of a subscription, with an optional SQL action.
type Rule struct {
	// Name of the rule, unique in its subscription. Required.
	Name string
	// Filter decides which messages match. Required.
	Filter Filter
	// Action, when not nil, changes the subscription's own copy of each
	// matching message (which also gets the RuleName property). Default
	// nil: no action.
	Action *sqlfilter.Action
	// Properties are what the administration API keeps about the rule
	// beyond the filter and action (its creation time, the parameters'
	// types as given). Opaque to the broker, which journals them with the
	// rule; JSON, or nil for none.
	Properties []byte
}

// DefaultRuleName is the name of the match-all rule a subscription gets when
// it is created without rules.
const DefaultRuleName = "$Default"

// entityLimits is the validated, defaulted per-entity settings shared by
// queues and subscriptions.
type entityLimits struct {
	lockDuration     time.Duration
	maxDeliveryCount int
	ttl              time.Duration
	dlqOnExpiration  bool
}

func newLimits(name string, lock time.Duration, maxDelivery int, ttl time.Duration, dlqOnExp bool) (entityLimits, error) {
	switch {
	case lock < 0:
		return entityLimits{}, fmt.Errorf("%s: LockDuration %v is negative: %w", name, lock, ErrInvalid)
	case maxDelivery < 0:
		return entityLimits{}, fmt.Errorf("%s: MaxDeliveryCount %d is negative: %w", name, maxDelivery, ErrInvalid)
	case ttl < 0:
		return entityLimits{}, fmt.Errorf("%s: DefaultMessageTimeToLive %v is negative: %w", name, ttl, ErrInvalid)
	}
	if lock == 0 {
		lock = DefaultLockDuration
	}
	if maxDelivery == 0 {
		maxDelivery = DefaultMaxDeliveryCount
	}
	if ttl == 0 {
		ttl = DefaultMessageTimeToLive
	}
	return entityLimits{lockDuration: lock, maxDeliveryCount: maxDelivery, ttl: ttl, dlqOnExpiration: dlqOnExp}, nil
}
