package servicebus

import (
	"encoding/json"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/atom"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// extras are the properties Service Bus has that the broker does not act
// on. They are stored as the broker entity's properties (JSON), so they
// live and die with the entity and are journaled with its definition.
type extras struct {
	Status            broker.Status `json:"-"` // the broker entity's own
	UserMetadata      string
	AutoDeleteOnIdle  time.Duration
	Batched           bool  `json:"EnableBatchedOperations"`
	Partitioning      bool  `json:"EnablePartitioning"`
	Express           bool  `json:"EnableExpress"`
	MaxMessageKB      int64 `json:"MaxMessageSizeInKilobytes"`
	DLQOnFilterErrors bool  `json:"DeadLetteringOnFilterEvaluationExceptions"`
	SupportOrdering   bool
}

func defaultExtras(kind string) extras {
	return extras{AutoDeleteOnIdle: maxDuration, Batched: true,
		MaxMessageKB: 256, SupportOrdering: kind == "TopicDescription"}
}

const maxDuration = time.Duration(1<<63 - 1)

// extrasOf reads the extras of an entity of kind (its description's name)
// from its broker Info: the defaults where it has none (an entity created
// by Config.json, over AMQP or through the Go API).
func extrasOf(kind string, info broker.Info) extras {
	x := defaultExtras(kind)
	if len(info.Properties) > 0 {
		// Only encode below writes them; a field it did not write keeps
		// its default.
		_ = json.Unmarshal(info.Properties, &x)
	}
	x.Status = info.Status
	return x
}

func (x extras) encode() []byte {
	b, _ := json.Marshal(x) // plain fields: cannot fail
	return b
}

// ruleMeta is what a rule's description has beyond the broker rule: its
// creation time and the SQL parameters as given (their XML types), kept to
// report them back. It is stored as the broker rule's properties.
type ruleMeta struct {
	// Created is zero for a subscription's first rule, created with it:
	// the subscription's creation time is reported.
	Created      time.Time    `json:",omitzero"`
	FilterExpr   string       `json:",omitempty"`
	ActionExpr   string       `json:",omitempty"`
	FilterParams []atom.Param `json:",omitempty"`
	ActionParams []atom.Param `json:",omitempty"`
}

// ruleMetaOf reads a broker rule's properties; the zero ruleMeta for a rule
// that has none (added over AMQP or by Config.json).
func ruleMetaOf(r broker.Rule) ruleMeta {
	var rm ruleMeta
	if len(r.Properties) > 0 {
		_ = json.Unmarshal(r.Properties, &rm) // written by encode only
	}
	return rm
}

func (rm ruleMeta) encode() []byte {
	b, _ := json.Marshal(rm) // plain fields: cannot fail
	return b
}
