package servicebus

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/atom"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/config"
)

// Bounds Service Bus enforces on the properties it accepts (Standard tier).
const (
	minLockDuration      = 5 * time.Second
	maxLockDuration      = 5 * time.Minute
	minDedupWindow       = 20 * time.Second
	maxDedupWindow       = 7 * 24 * time.Hour
	minAutoDeleteOnIdle  = 5 * time.Minute
	maxUserMetadataChars = 1024
)

// fields reads typed properties from a description, keeping the first
// problem (named after the element) for a 400 answer.
type fields struct {
	m   map[string]string
	err error
}

func (f *fields) fail(name, format string, args ...any) {
	if f.err == nil {
		f.err = adminBadRequest("%s: %s", name, fmt.Sprintf(format, args...))
	}
}

func (f *fields) raw(name string) (string, bool) {
	v, ok := f.m[name]
	return strings.TrimSpace(v), ok
}

func (f *fields) str(name, def string) string {
	if v, ok := f.m[name]; ok {
		return v
	}
	return def
}

func (f *fields) boolean(name string, def bool) bool {
	v, ok := f.raw(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		f.fail(name, "%q is not true or false", v)
	}
	return b
}

func (f *fields) integer(name string, def, lo, hi int64) int64 {
	v, ok := f.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil:
		f.fail(name, "%q is not an integer", v)
	case n < lo || n > hi:
		f.fail(name, "%d is out of range [%d, %d]", n, lo, hi)
	}
	return n
}

// duration parses an xs:duration; .NET's TimeSpan.MaxValue (and anything
// beyond Go's range) means "never".
func (f *fields) duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := f.raw(name)
	if !ok {
		return def
	}
	if v == atom.MaxTimeSpan {
		return maxDuration
	}
	d, err := config.ParseDuration(v)
	if err != nil {
		if longDuration(v) {
			return maxDuration
		}
		f.fail(name, "%v", err)
		return def
	}
	if d < lo || d > hi {
		f.fail(name, "%s is out of range [%s, %s]", v, atom.FormatDuration(lo), atom.FormatDuration(hi))
	}
	return d
}

// longDuration reports a well-formed duration of more days than Go can
// count (about 106,751): the SDKs send such values for "never".
func longDuration(v string) bool {
	days, _, ok := strings.Cut(strings.TrimPrefix(v, "P"), "D")
	if !ok || !strings.HasPrefix(v, "P") {
		return false
	}
	n, err := strconv.ParseInt(days, 10, 64)
	return err == nil && n > 106751
}

func (f *fields) status() broker.Status {
	v, ok := f.raw("Status")
	if !ok {
		return broker.StatusActive
	}
	for _, s := range []broker.Status{broker.StatusActive, broker.StatusDisabled, broker.StatusSendDisabled, broker.StatusReceiveDisabled} {
		if v == s.String() {
			return s
		}
	}
	f.fail("Status", "%q: want Active, Disabled, SendDisabled or ReceiveDisabled", v)
	return broker.StatusActive
}

// forward reads ForwardTo/ForwardDeadLetteredMessagesTo: a name, or an
// absolute URL (sb://namespace/name) whose path is the name.
func (f *fields) forward(name string) string {
	v, ok := f.raw(name)
	if !ok || v == "" {
		return ""
	}
	if strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil {
			f.fail(name, "%q is not a URL or entity name", v)
			return ""
		}
		v = strings.Trim(u.Path, "/")
	}
	if v == "" {
		f.fail(name, "no entity name")
	}
	return v
}

// The settings more than one kind of entity has, with their defaults and
// the service's bounds, read the same way for each.

func (f *fields) lockDuration() time.Duration {
	return f.duration("LockDuration", broker.DefaultLockDuration, minLockDuration, maxLockDuration)
}

func (f *fields) maxDeliveryCount() int {
	return int(f.integer("MaxDeliveryCount", broker.DefaultMaxDeliveryCount, 1, 1<<31-1))
}

func (f *fields) ttl() time.Duration {
	return f.duration("DefaultMessageTimeToLive", broker.DefaultMessageTimeToLive, time.Second, maxDuration)
}

func (f *fields) dedupWindow() time.Duration {
	return f.duration("DuplicateDetectionHistoryTimeWindow", broker.DefaultDuplicateDetectionWindow, minDedupWindow, maxDedupWindow)
}

// maxSize reads MaxSizeInMegabytes: a multiple of 1024, as Service Bus takes (1024 to 5120 on
// the Standard tier). An update may keep the entity's current limit (cur) whatever it is, so a
// description read back can be sent again when the Go API or a Config.json gave a smaller one.
func (f *fields) maxSize(cur int) int {
	const name = "MaxSizeInMegabytes"
	n := f.integer(name, broker.DefaultMaxSizeInMegabytes, 1, 81920)
	if _, ok := f.m[name]; ok && f.err == nil && n%1024 != 0 && n != int64(cur) {
		f.fail(name, "%d: want a multiple of 1024 (1024 to 5120 on the Standard tier)", n)
	}
	return int(n)
}

// extras reads the properties the broker does not act on.
func (f *fields) extras(kind string, prev extras, update bool) extras {
	x := defaultExtras(kind)
	x.Status = f.status()
	x.UserMetadata = f.str("UserMetadata", "")
	if len([]rune(x.UserMetadata)) > maxUserMetadataChars {
		f.fail("UserMetadata", "longer than %d characters", maxUserMetadataChars)
	}
	x.AutoDeleteOnIdle = f.duration("AutoDeleteOnIdle", maxDuration, minAutoDeleteOnIdle, maxDuration)
	x.Batched = f.boolean("EnableBatchedOperations", true)
	x.Partitioning = f.boolean("EnablePartitioning", false)
	if update && x.Partitioning != prev.Partitioning {
		f.fail("EnablePartitioning", "cannot be changed after creation")
	}
	x.Express = f.boolean("EnableExpress", false)
	x.MaxMessageKB = f.integer("MaxMessageSizeInKilobytes", x.MaxMessageKB, 1, 102400)
	x.DLQOnFilterErrors = f.boolean("DeadLetteringOnFilterEvaluationExceptions", false)
	x.SupportOrdering = f.boolean("SupportOrdering", x.SupportOrdering)
	return x
}

// existing resolves path to a queue, topic or subscription (not a dead-letter queue).
func (c *adminCall) existing(path string) (broker.Address, bool) {
	addr, err := c.h.srv.broker.Resolve(path)
	return addr, err == nil && !addr.DeadLetter
}

// precheck answers create-on-existing (409) and update-on-missing (404).
func (c *adminCall) precheck(path string, update bool) bool {
	_, ok := c.existing(path)
	switch {
	case update && !ok:
		c.fail(fmt.Errorf("%s: %w", path, broker.ErrNotFound))
		return false
	case !update && ok:
		c.fail(fmt.Errorf("SubCode=40900. Conflict. The messaging entity %s already exists: %w", path, broker.ErrExists))
		return false
	}
	return true
}

func (c *adminCall) prevExtras(path, kind string) extras {
	info, err := c.h.srv.broker.EntityInfo(path)
	if err != nil {
		return defaultExtras(kind)
	}
	return extrasOf(kind, info)
}

// done stores the status and the extras with the entity and answers its
// entry: 201 for a creation, 200 for an update.
func (c *adminCall) done(kind broker.EntityKind, path, descKind string, x extras, update bool) {
	if err := c.h.srv.broker.SetStatusAndProperties(path, x.Status, x.encode()); err != nil {
		c.fail(err)
		return
	}
	code := http.StatusCreated
	if update {
		code = http.StatusOK
	}
	c.entryOf(code, kind, path)
}

// Entity names Service Bus accepts: letters, digits, '.', '-', '_' (and '/'
// between segments of queue and topic names), starting and ending with a
// letter or digit; rule names may start with '$' ($Default).
var (
	entityName = regexp.MustCompile(`^[A-Za-z0-9]([\w\-./]*[A-Za-z0-9])?$`)
	subName    = regexp.MustCompile(`^[A-Za-z0-9]([\w\-.]*[A-Za-z0-9])?$`)
	ruleName   = regexp.MustCompile(`^[A-Za-z0-9$][\w\-.$]*$`)
)

// Name length limits of the service.
const (
	maxEntityName = 260
	maxSubName    = 50
	maxRuleName   = 50
)

// checkNames validates the names of the entity being created.
func (ap adminPath) checkNames() error {
	check := func(what, name string, re *regexp.Regexp, maxLen int, extra string) error {
		if len(name) > maxLen || !re.MatchString(name) {
			return adminBadRequest("%s name %q: want at most %d letters, digits, '.', '-' or '_'%s, starting and ending with a letter or digit",
				what, name, maxLen, extra)
		}
		return nil
	}
	switch ap.kind {
	case pathEntity:
		return check("entity", ap.name, entityName, maxEntityName, " (and '/' between segments)")
	case pathSubscription:
		return check("subscription", ap.sub, subName, maxSubName, "")
	case pathRule:
		return check("rule", ap.rule, ruleName, maxRuleName, " (a rule name may start with '$')")
	}
	return nil
}

// entityTarget checks a queue or topic PUT: 409 for creating an existing
// name, 404 for updating a missing one, 400 for updating the other kind.
func (c *adminCall) entityTarget(kind broker.EntityKind, update bool) bool {
	name := c.ap.name
	if !c.precheck(name, update) {
		return false
	}
	if addr, _ := c.existing(name); update && addr.Kind != kind {
		c.fail(adminBadRequest("%s is a %s, not a %s", name, addr.Kind, kind))
		return false
	}
	return true
}

// apply runs the creation or the update once the fields are read, then
// answers the entity's entry.
func (c *adminCall) apply(kind broker.EntityKind, path, descKind string, f *fields, x extras, update bool, create, change func() error) {
	if f.err != nil {
		c.fail(f.err)
		return
	}
	op := create
	if update {
		op = change
	}
	if err := op(); err != nil {
		c.fail(err)
		return
	}
	if addr, ok := c.existing(path); ok {
		path = addr.Path
	}
	c.done(kind, path, descKind, x, update)
}

func (c *adminCall) putQueue(d *atom.Description, update bool) {
	if !c.entityTarget(broker.KindQueue, update) {
		return
	}
	name := c.ap.name
	f := &fields{m: d.Fields}
	cfg := broker.QueueConfig{
		Name:                                name,
		LockDuration:                        f.lockDuration(),
		MaxDeliveryCount:                    f.maxDeliveryCount(),
		DefaultMessageTimeToLive:            f.ttl(),
		DeadLetteringOnMessageExpiration:    f.boolean("DeadLetteringOnMessageExpiration", false),
		RequiresSession:                     f.boolean("RequiresSession", false),
		RequiresDuplicateDetection:          f.boolean("RequiresDuplicateDetection", false),
		DuplicateDetectionHistoryTimeWindow: f.dedupWindow(),
		ForwardTo:                           f.forward("ForwardTo"),
		ForwardDeadLetteredTo:               f.forward("ForwardDeadLetteredMessagesTo"),
	}
	b := c.h.srv.broker
	var cur broker.QueueConfig
	if update {
		cur, _ = b.QueueSettings(name) // entityTarget found it; a racing delete fails the update
	}
	cfg.MaxSizeInMegabytes = f.maxSize(cur.MaxSizeInMegabytes)
	x := f.extras(d.Kind, c.prevExtras(name, d.Kind), update)
	c.apply(broker.KindQueue, name, d.Kind, f, x, update,
		func() error { return b.CreateQueue(cfg) }, func() error { return b.UpdateQueue(cfg) })
}

func (c *adminCall) putTopic(d *atom.Description, update bool) {
	if !c.entityTarget(broker.KindTopic, update) {
		return
	}
	name := c.ap.name
	f := &fields{m: d.Fields}
	cfg := broker.TopicConfig{
		Name:                                name,
		DefaultMessageTimeToLive:            f.ttl(),
		RequiresDuplicateDetection:          f.boolean("RequiresDuplicateDetection", false),
		DuplicateDetectionHistoryTimeWindow: f.dedupWindow(),
	}
	b := c.h.srv.broker
	var cur broker.TopicConfig
	if update {
		cur, _ = b.TopicSettings(name) // as in putQueue
	}
	cfg.MaxSizeInMegabytes = f.maxSize(cur.MaxSizeInMegabytes)
	x := f.extras(d.Kind, c.prevExtras(name, d.Kind), update)
	c.apply(broker.KindTopic, name, d.Kind, f, x, update,
		func() error { return b.CreateTopic(cfg) }, func() error { return b.UpdateTopic(cfg) })
}

func (c *adminCall) putSubscription(d *atom.Description, update bool) {
	b := c.h.srv.broker
	if _, err := b.TopicSettings(c.ap.topic); err != nil {
		c.fail(err)
		return
	}
	path := c.ap.topic + "/Subscriptions/" + c.ap.sub
	if !c.precheck(path, update) {
		return
	}
	f := &fields{m: d.Fields}
	cfg := broker.SubscriptionConfig{
		Name:                             c.ap.sub,
		LockDuration:                     f.lockDuration(),
		MaxDeliveryCount:                 f.maxDeliveryCount(),
		DefaultMessageTimeToLive:         f.ttl(),
		DeadLetteringOnMessageExpiration: f.boolean("DeadLetteringOnMessageExpiration", false),
		RequiresSession:                  f.boolean("RequiresSession", false),
		ForwardTo:                        f.forward("ForwardTo"),
		ForwardDeadLetteredTo:            f.forward("ForwardDeadLetteredMessagesTo"),
	}
	x := f.extras(d.Kind, c.prevExtras(path, d.Kind), update)
	if d.Rule != nil && !update && f.err == nil {
		r, rm, err := brokerRule(d.Rule, broker.DefaultRuleName)
		if err != nil {
			c.fail(err)
			return
		}
		// Created stays zero: the rule reports the subscription's creation time.
		r.Properties = rm.encode()
		cfg.Rules = []broker.Rule{r}
	}
	create := func() error { return b.CreateSubscription(c.ap.topic, cfg) }
	c.apply(broker.KindSubscription, path, d.Kind, f, x, update, create,
		func() error { return b.UpdateSubscription(c.ap.topic, cfg) })
}
