// Package config reads the official Azure Service Bus emulator's
// Config.json (UserConfig.Namespaces[].Queues[] and
// .Topics[].Subscriptions[].Rules[], Logging) and turns it into broker entities.
//
// Compatibility notes:
//   - // and /* */ comments are accepted outside strings, as the official
//     emulator does (its own sample has them).
//   - Defaults follow the official schema: LockDuration PT1M,
//     MaxDeliveryCount 3, DefaultMessageTimeToLive PT1H,
//     DeadLetteringOnMessageExpiration false.
//   - The official emulator's quotas are not enforced: any number of
//     namespaces (their entities share one broker), entities, subscriptions
//     and rules; any namespace name; TTL above 1 h and MaxDeliveryCount
//     above 10 are fine. What is checked: names present, well formed and
//     unique (queues and topics share one namespace-wide name space),
//     durations valid ISO 8601 and positive, LockDuration at most PT5M
//     (Service Bus's own maximum), MaxDeliveryCount at least 1.
//   - Unknown JSON fields are errors, so a misspelt setting is never
//     silently ignored.
//   - SQL filters and actions are parsed here: one that does not parse is
//     refused with its line and column. An empty Action is no action.
//   - ForwardTo / ForwardDeadLetteredMessagesTo must name a queue or topic
//     of the file; chains that loop, and forwarding from session-enabled
//     entities, are refused (forward.go). Entities are created
//     destinations first, whatever the file order.
package config

//lint:file-ignore ST1003 the JSON field names mirror the official Config.json keys (SqlFilter, MessageId, ...).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/sqlfilter"
)

// Config is a parsed Config.json.
type Config struct {
	UserConfig UserConfig
}

// UserConfig is the root object of the official schema.
type UserConfig struct {
	Namespaces []Namespace
	Logging    Logging
}

// Logging selects the official emulator's log sinks. Parsed and validated
// for compatibility; the emulator logs with log/slog whatever it says.
type Logging struct {
	// Type is "File", "Console", "File,Console" or "Console,File".
	Type string
}

// Namespace holds entities. Its name is not restricted.
type Namespace struct {
	Name   string
	Queues []Queue
	Topics []Topic
}

// Queue is a queue definition.
type Queue struct {
	Name       string
	Properties QueueProperties
}

// QueueProperties are a queue's settings; absent ones take the defaults.
type QueueProperties struct {
	DeadLetteringOnMessageExpiration    bool
	DefaultMessageTimeToLive            Duration
	DuplicateDetectionHistoryTimeWindow Duration
	ForwardDeadLetteredMessagesTo       string
	ForwardTo                           string
	LockDuration                        Duration
	MaxDeliveryCount                    *int
	RequiresDuplicateDetection          bool
	RequiresSession                     bool
	// MaxSizeInMegabytes is not in the official emulator's schema; it takes the name Service Bus
	// uses for the setting. Default 1024.
	MaxSizeInMegabytes int
}

// Topic is a topic definition with its subscriptions.
type Topic struct {
	Name          string
	Properties    TopicProperties
	Subscriptions []Subscription
}

// TopicProperties are a topic's settings.
type TopicProperties struct {
	DefaultMessageTimeToLive            Duration
	DuplicateDetectionHistoryTimeWindow Duration
	RequiresDuplicateDetection          bool
	// MaxSizeInMegabytes: as in QueueProperties. Default 1024.
	MaxSizeInMegabytes int
}

// Subscription is a subscription definition.
type Subscription struct {
	Name       string
	Properties SubscriptionProperties
	// Rules; none means the default match-all rule.
	Rules []Rule
}

// SubscriptionProperties are a subscription's settings.
type SubscriptionProperties struct {
	DeadLetteringOnMessageExpiration bool
	DefaultMessageTimeToLive         Duration
	LockDuration                     Duration
	MaxDeliveryCount                 *int
	ForwardDeadLetteredMessagesTo    string
	ForwardTo                        string
	RequiresSession                  bool
}

// Rule is a subscription rule.
type Rule struct {
	Name       string
	Properties RuleProperties
}

// RuleProperties hold the filter (and action) of a rule.
type RuleProperties struct {
	// FilterType is "Correlation" or "Sql".
	FilterType        string
	CorrelationFilter *CorrelationFilter
	SqlFilter         *SQLExpression
	Action            *SQLExpression
}

// SQLExpression is the body of a SQL filter or action.
type SQLExpression struct {
	SqlExpression string //nolint:revive // the schema's spelling
}

// CorrelationFilter matches system properties and application properties
// for equality. Label is the message Subject.
type CorrelationFilter struct {
	ContentType      string
	CorrelationId    string //nolint:revive // the schema's spelling
	Label            string
	MessageId        string //nolint:revive // the schema's spelling
	ReplyTo          string
	ReplyToSessionId string //nolint:revive // the schema's spelling
	SessionId        string //nolint:revive // the schema's spelling
	To               string
	// Properties are application properties: JSON strings, booleans and
	// numbers (integers become int64, others float64).
	Properties map[string]json.RawMessage
}

// Defaults of the official schema for absent properties.
const (
	DefaultLockDuration      = time.Minute
	DefaultMaxDeliveryCount  = 3
	DefaultMessageTimeToLive = time.Hour
	// MaxLockDuration is Service Bus's own upper bound.
	MaxLockDuration = 5 * time.Minute
)

// Load reads and parses the Config.json at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading emulator config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("emulator config %s: %w", path, err)
	}
	return c, nil
}

// Parse parses and validates a Config.json document. All problems found
// are reported together (errors.Join), each naming the entity and field.
func Parse(data []byte) (*Config, error) {
	var c Config
	if err := decodeStrict(data, &c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// decodeStrict decodes one JSON object (comments allowed) into v, refusing unknown fields and
// trailing data; errors give line and column.
func decodeStrict(data []byte, v any) error {
	clean, err := stripComments(data)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(data, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		line, col := position(data, int(dec.InputOffset()))
		return fmt.Errorf("line %d, column %d: data after the top-level object: %w", line, col, ErrSyntax)
	}
	return nil
}

func describeJSONError(src []byte, dec *json.Decoder, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(src, int(syn.Offset))
		return fmt.Errorf("line %d, column %d: %v: %w", line, col, syn, ErrSyntax)
	case errors.As(err, &typ):
		line, col := position(src, int(typ.Offset))
		return fmt.Errorf("line %d, column %d: field %s: want %s, got JSON %s: %w", line, col, typ.Field, typ.Type, typ.Value, ErrInvalid)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("empty document: %w", ErrSyntax)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("unexpected end of document: %w", ErrSyntax)
	case errors.Is(err, ErrInvalid):
		line, col := position(src, int(dec.InputOffset()))
		return fmt.Errorf("near line %d, column %d: %w", line, col, err)
	}
	// Unknown fields and other decoder complaints.
	line, col := position(src, int(dec.InputOffset()))
	return fmt.Errorf("near line %d, column %d: %v: %w", line, col, err, ErrInvalid)
}

// namePattern is the schema's entity-name pattern.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9]$|^[A-Za-z0-9][\w\-./]*[A-Za-z0-9]$`)

// validate checks the whole document and collects every problem.
func (c *Config) validate() error {
	v := &validator{}
	u := &c.UserConfig
	if len(u.Namespaces) == 0 {
		v.fail(ErrInvalid, "UserConfig.Namespaces: at least one namespace is required")
	}
	switch strings.ToLower(strings.ReplaceAll(u.Logging.Type, " ", "")) {
	case "", "file", "console", "file,console", "console,file":
	default:
		v.fail(ErrInvalid, "UserConfig.Logging.Type %q: want File, Console, File,Console or Console,File", u.Logging.Type)
	}
	entities := map[string]string{} // lower-case name -> where it was defined
	fwd := &forwardGraph{}
	for i, ns := range u.Namespaces {
		nsWhere := fmt.Sprintf("namespace %d", i)
		if strings.TrimSpace(ns.Name) == "" {
			v.fail(ErrInvalid, "%s: Name is required", nsWhere)
		} else {
			nsWhere = "namespace " + ns.Name
		}
		for j, q := range ns.Queues {
			where := v.entityName(fmt.Sprintf("%s: queue %d", nsWhere, j), "queue", q.Name, entities)
			p := q.Properties
			v.entityLimits(where, p.LockDuration, p.MaxDeliveryCount, p.DefaultMessageTimeToLive)
			v.duration(where, "DuplicateDetectionHistoryTimeWindow", p.DuplicateDetectionHistoryTimeWindow)
			v.maxSize(where, p.MaxSizeInMegabytes)
			fwd.add(q.Name, q.Name, where, p.RequiresSession, p.ForwardTo, p.ForwardDeadLetteredMessagesTo)
		}
		for j, t := range ns.Topics {
			where := v.entityName(fmt.Sprintf("%s: topic %d", nsWhere, j), "topic", t.Name, entities)
			v.duration(where, "DefaultMessageTimeToLive", t.Properties.DefaultMessageTimeToLive)
			v.duration(where, "DuplicateDetectionHistoryTimeWindow", t.Properties.DuplicateDetectionHistoryTimeWindow)
			v.maxSize(where, t.Properties.MaxSizeInMegabytes)
			subs := map[string]bool{}
			for k, s := range t.Subscriptions {
				sw := v.entityName(fmt.Sprintf("%s: subscription %d", where, k), "subscription "+t.Name+"/Subscriptions/", s.Name, nil)
				if key := strings.ToLower(s.Name); s.Name != "" && subs[key] {
					v.fail(ErrInvalid, "%s: defined twice", sw)
				} else {
					subs[key] = true
				}
				p := s.Properties
				v.entityLimits(sw, p.LockDuration, p.MaxDeliveryCount, p.DefaultMessageTimeToLive)
				fwd.add(t.Name, t.Name+"/Subscriptions/"+s.Name, sw, p.RequiresSession, p.ForwardTo, p.ForwardDeadLetteredMessagesTo)
				v.rules(sw, s.Rules)
			}
		}
	}
	fwd.check(v, entities)
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) fail(kind error, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(format+": %w", append(args, kind)...))
}

// entityName checks a name and returns how to refer to the entity in
// errors. seen (when non-nil) enforces namespace-wide uniqueness.
func (v *validator) entityName(fallback, kind, name string, seen map[string]string) string {
	if strings.TrimSpace(name) == "" {
		v.fail(ErrInvalid, "%s: Name is required", fallback)
		return fallback
	}
	where := kind + " " + name
	if strings.HasPrefix(kind, "subscription ") {
		where = kind + name
	}
	if !namePattern.MatchString(name) {
		v.fail(ErrInvalid, "%s: Name must be letters, digits, '_', '-', '.', '/', starting and ending with a letter or digit", where)
	}
	if seen != nil {
		key := strings.ToLower(name)
		if prev, ok := seen[key]; ok {
			v.fail(ErrInvalid, "%s: name already used by %s (queue and topic names share one space, case-insensitively)", where, prev)
		} else {
			seen[key] = where
		}
	}
	return where
}

func (v *validator) duration(where, field string, d Duration) {
	if d.Err != nil {
		v.errs = append(v.errs, fmt.Errorf("%s: %s: %w", where, field, d.Err))
		return
	}
	if d.Set && d.Duration <= 0 {
		v.fail(ErrInvalid, "%s: %s must be positive", where, field)
	}
}

// maxSize checks MaxSizeInMegabytes: 0 (absent) takes the default; Service Bus's largest premium
// size, 80 GB, bounds it.
func (v *validator) maxSize(where string, mb int) {
	if mb < 0 || mb > 81920 {
		v.fail(ErrInvalid, "%s: MaxSizeInMegabytes %d is outside 1..81920", where, mb)
	}
}

func (v *validator) entityLimits(where string, lock Duration, maxDelivery *int, ttl Duration) {
	v.duration(where, "LockDuration", lock)
	if lock.Err == nil && lock.Duration > MaxLockDuration {
		v.fail(ErrInvalid, "%s: LockDuration %v is above the Service Bus maximum of PT5M", where, lock.Duration)
	}
	if maxDelivery != nil && *maxDelivery < 1 {
		v.fail(ErrInvalid, "%s: MaxDeliveryCount %d must be at least 1", where, *maxDelivery)
	}
	v.duration(where, "DefaultMessageTimeToLive", ttl)
}

func (v *validator) rules(where string, rules []Rule) {
	names := map[string]bool{}
	for i, r := range rules {
		rw := fmt.Sprintf("%s: rule %d", where, i)
		if strings.TrimSpace(r.Name) == "" {
			v.fail(ErrInvalid, "%s: Name is required", rw)
		} else {
			rw = fmt.Sprintf("%s: rule %q", where, r.Name)
			if names[strings.ToLower(r.Name)] {
				v.fail(ErrInvalid, "%s: defined twice", rw)
			}
			names[strings.ToLower(r.Name)] = true
		}
		p := r.Properties
		switch {
		case strings.EqualFold(p.FilterType, "Sql"):
			switch {
			case p.SqlFilter == nil:
				v.fail(ErrInvalid, "%s: FilterType Sql needs a SqlFilter", rw)
			case p.CorrelationFilter != nil:
				v.fail(ErrInvalid, "%s: FilterType Sql with a CorrelationFilter", rw)
			default:
				if _, err := sqlfilter.ParseFilter(p.SqlFilter.SqlExpression); err != nil {
					v.fail(ErrInvalid, "%s: SqlFilter.SqlExpression %q: %v", rw, p.SqlFilter.SqlExpression, err)
				}
			}
		case strings.EqualFold(p.FilterType, "Correlation"):
			if p.SqlFilter != nil {
				v.fail(ErrInvalid, "%s: FilterType Correlation with a SqlFilter", rw)
			}
			if p.CorrelationFilter == nil {
				v.fail(ErrInvalid, "%s: FilterType Correlation needs a CorrelationFilter", rw)
			} else if err := p.CorrelationFilter.check(); err != nil {
				v.fail(ErrInvalid, "%s: CorrelationFilter: %v", rw, err)
			}
		default:
			v.fail(ErrInvalid, "%s: FilterType %q: want Correlation or Sql", rw, p.FilterType)
		}
		if p.Action != nil {
			if _, err := broker.NewSQLAction(p.Action.SqlExpression); err != nil {
				var syn *sqlfilter.SyntaxError
				if errors.As(err, &syn) {
					err = syn
				}
				v.fail(ErrInvalid, "%s: Action.SqlExpression %q: %v", rw, p.Action.SqlExpression, err)
			}
		}
	}
}

// check requires at least one condition and valid property values.
func (f *CorrelationFilter) check() error {
	if f.ContentType == "" && f.CorrelationId == "" && f.Label == "" && f.MessageId == "" && f.ReplyTo == "" &&
		f.ReplyToSessionId == "" && f.SessionId == "" && f.To == "" && len(f.Properties) == 0 {
		return errors.New("at least one property is required")
	}
	_, err := f.properties()
	return err
}

// properties converts the JSON property values to broker values.
func (f *CorrelationFilter) properties() (map[string]any, error) {
	if len(f.Properties) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(f.Properties))
	for k, raw := range f.Properties {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("property %q: %v", k, err)
		}
		switch x := v.(type) {
		case string, bool:
			out[k] = x
		case json.Number:
			if i, err := x.Int64(); err == nil {
				out[k] = i
			} else if fl, err := x.Float64(); err == nil {
				out[k] = fl
			} else {
				return nil, fmt.Errorf("property %q: number %s out of range", k, x)
			}
		default:
			return nil, fmt.Errorf("property %q: want a string, number or boolean, got %s", k, raw)
		}
	}
	return out, nil
}
