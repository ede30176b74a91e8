// Package broker is the core of the Service Bus emulator: queues, topics,
// subscriptions with rules, and the life of each message (locks,
// settlement, delivery counting, dead-lettering, time to live, scheduling,
// deferral). It does no I/O and does not speak the AMQP protocol: the wire
// layer decodes transfers into Message values, calls Send, drives a Receiver
// with its link credit, and maps the sentinel errors of errors.go to AMQP
// conditions and $management status codes. The one AMQP piece it uses is the
// type codec, in sqlview.go: SQL filters and actions read and write
// application properties as AMQP-typed values.
//
// # Addresses
//
// "queue", "topic" (send only), "topic/Subscriptions/sub", and the
// dead-letter queue of a queue or subscription, "<path>/$DeadLetterQueue".
// Matching is case-insensitive. Sequence numbers are per queue or per topic
// (all subscription copies of a topic message share it), start at 1, and a
// dead-lettered message keeps its number in the DLQ.
//
// # Entity size
//
// A queue or topic holds at most MaxSizeInMegabytes (default 1024) of
// messages, counted at Message.Size in every state, dead-lettered ones
// included; a topic counts each subscription's copy and its scheduled
// messages (quota.go). Send refuses what does not fit with
// ErrQuotaExceeded; auto-forwarded and dead-lettered messages are never
// refused, so the limit may be overshot by what they bring.
//
// # Message states
//
// A message is scheduled, available, locked or deferred (State plus whether
// LockToken is set), or gone. The transitions:
//
//	Send                   ──▶ available, or scheduled if ScheduledEnqueueTime is in the future
//	scheduled  ──time──────▶ available                 CancelScheduled ──▶ gone
//	available  ──TryReceive▶ locked (PeekLock: fresh LockToken, LockedUntil = now + LockDuration)
//	available  ──TryReceive▶ gone   (ReceiveAndDelete)
//	available  ──TTL───────▶ gone, or DLQ "TTLExpiredException" (DeadLetteringOnMessageExpiration)
//	locked     ──Complete──▶ gone
//	locked     ──Release───▶ available, DeliveryCount unchanged
//	locked     ──Abandon───▶ available, DeliveryCount+1, or DLQ "MaxDeliveryCountExceeded"
//	locked     ──lock expiry▶ same as Abandon
//	locked     ──Defer─────▶ deferred, DeliveryCount+1 (never dead-letters)
//	locked     ──DeadLetter▶ DLQ with DeadLetterReason/DeadLetterErrorDescription
//	deferred   ──ReceiveBySequenceNumber▶ locked (still Deferred) or gone (ReceiveAndDelete)
//
// A locked deferred message goes back to deferred (not available) when it
// is abandoned, released or its lock expires. Deferred messages never
// expire. Peek sees every state and changes nothing.
//
// DeliveryCount is the number of previous deliveries (header.delivery-count
// on the wire; the SDK shows it plus one). Abandon, lock expiry and Defer
// count a delivery; Complete, DeadLetter and Release do not. With
// MaxDeliveryCount = 3 a message is delivered at most three times before
// Abandon or lock expiry dead-letters it; the DLQ copy carries
// DeliveryCount 2 (the SDK shows 3, the number of deliveries made).
//
// In a dead-letter queue messages never expire, nothing is counted, and
// DeadLetter is refused (ErrNotAllowed); Complete, Abandon, Defer, Release,
// RenewLock, Peek and ReceiveBySequenceNumber work as on the main entity.
//
// Locks belong to the entity, not to a Receiver: a lock token stays valid
// until it expires or the message is settled, whichever link, connection or
// $management request settles it. An unknown or expired token gives
// ErrLockLost; an expired lock is also processed on the spot, so outcomes
// never depend on timer latency.
//
// # Time
//
// The effective TTL is the message's header TTL capped by the entity's
// DefaultMessageTimeToLive (and, for subscriptions, the topic's), or that
// default when the message has none; ExpiresAt = EnqueuedTime + TTL, where
// EnqueuedTime of a scheduled message is its ScheduledEnqueueTime. Each
// queue/subscription store keeps a min-heap of its entries' next deadline
// (lock expiry, expiry or activation) and one timer for the earliest. Time
// is read and timers are set only through Config.Clock: the real clock by
// default, a clock.Fake in tests, whose Advance fires the due timers before
// it returns. Broker.RunTimers processes everything due at the clock's Now
// on demand.
//
// # Storage
//
// A stored message is not a Message: it is its client-supplied part in a
// compact stored form (stored.go), one pointer-free byte slice cut from its
// entity's slab (slab.go) and shared by a topic message's subscription
// copies, plus a record of the broker-owned fields (entry.go). Messages
// handed out are decoded from those, fresh; Send keeps nothing of what it
// is given. docs/servicebus-durability.md has the arithmetic.
//
// # Cost
//
// Send, receive and settlement are O(log n) in the entity's message count
// (heaps for availability and deadlines, a skip list by sequence number for
// Peek and lookups, a map by lock token). Entities are independent: each
// queue or subscription has its own mutex, shared with its DLQ; the
// registry lock is only read-locked to resolve an address.
//
// # Sessions
//
// A queue or subscription with RequiresSession (session.go) keeps its
// available messages per session id (the group-id), FIFO within each
// session. Only SessionReceivers consume it: AcceptSession(id) locks a
// named session (with or without messages), AcceptNextSession waits for a
// free session with available messages and picks the one whose oldest
// message is oldest (a heap of the free sessions: O(log sessions) plus the
// held sessions, whose expired locks it ends first). One receiver holds a
// session at a time, for LockDuration unless renewed; when the lock
// expires or the receiver closes, the message locks taken under it are
// released without counting a delivery. Send refuses a message without session id on a session
// queue (ErrNotAllowed); a session subscription dead-letters such a topic
// copy ("Session id is null."). Session state and ListSessions are in
// session_state.go. The dead-letter queue is not session-enabled.
//
// # Durability
//
// With Config.Journal, every durable change (journal.go) becomes a record:
// message puts, deletes and locks from the store's own transitions, sequence
// numbers, duplicate-detection entries, session state, and the definition
// of an entity after each change of its settings or rules (entityjournal.go,
// a deferred call in each exported entity operation). Records are appended
// under the entity's lock, so each entity's changes are in order. Recovery
// (recover.go) folds them into the last state of each message and puts the
// messages back, counting the delivery of a message locked at the crash;
// Snapshot writes the state back as records, for compaction. The journal
// is the wire layer's write-ahead log; the broker itself still does no I/O.
//
// # Rules, duplicate detection, auto-forwarding
//
// A subscription's rules (rule.go) have a Filter (TrueFilter,
// CorrelationFilter or SQLFilter) and an optional SQL Action. As on Service
// Bus, all matching rules without an action give
// one copy; each matching rule with an action gives its own copy, changed
// by the action and carrying the application property RuleName. Extra
// copies get new topic sequence numbers. A SQL filter or action that fails
// for a message (type mismatch, ...) does not select it and is logged.
//
// Duplicate detection (dedup.go) drops, after accepting, a message whose
// MessageId the queue or topic accepted within its window.
//
// Auto-forwarding (forward.go): ForwardTo and ForwardDeadLetteredTo, with
// loops refused at creation and at most MaxForwardHops hops at run time.
//
// Management (for the administration API): entities are listed and their
// effective settings read back and changed in place (manage.go; what
// Service Bus fixes at creation stays fixed), rules added, replaced and
// removed on live subscriptions (rulechange.go; a subscription without rules
// receives nothing), an entity's Status refuses sends or receives
// (status.go), and EntityInfo counts messages by state (info.go).
package broker
