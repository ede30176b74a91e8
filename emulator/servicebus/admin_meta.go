package servicebus

import (
	"strings"
	"sync"
	"time"

	"github.com/orderflow/orderflow/emulator/servicebus/internal/atom"
	"github.com/orderflow/orderflow/emulator/servicebus/internal/broker"
)

// extras are the properties Service Bus has that the broker does not use.
type extras struct {
	created           time.Time     // the broker entity's CreatedAt they belong to
	status            broker.Status // applied to the broker entity, kept here until then
	userMetadata      string
	autoDeleteOnIdle  time.Duration
	batched           bool
	partitioning      bool
	express           bool
	maxMessageKB      int64
	dlqOnFilterErrors bool
	supportOrdering   bool
}

func defaultExtras(kind string) extras {
	return extras{autoDeleteOnIdle: maxDuration, batched: true,
		maxMessageKB: 256, supportOrdering: kind == "TopicDescription"}
}

const maxDuration = time.Duration(1<<63 - 1)

// ruleMeta is what a rule's description has beyond the broker rule: its
// creation time and the SQL parameters, kept to report them back.
type ruleMeta struct {
	sub                    time.Time // the subscription's CreatedAt it belongs to
	created                time.Time
	filterExpr, actionExpr string
	filterParams           []atom.Param
	actionParams           []atom.Param
}

// adminMeta keeps extras per entity path and ruleMeta per rule path (lower
// case). An entry stamped with another creation time than the broker
// entity's belongs to an older entity of the same name and is ignored, so
// entities created or deleted over AMQP or the Go API never inherit stale
// properties; deletions through the API drop the entries of the subtree.
type adminMeta struct {
	mu    sync.Mutex
	byKey map[string]extras
	rules map[string]ruleMeta
	start time.Time
}

func newAdminMeta(start time.Time) *adminMeta {
	return &adminMeta{byKey: map[string]extras{}, rules: map[string]ruleMeta{}, start: start.UTC()}
}

func (m *adminMeta) get(path, kind string, created time.Time) extras {
	m.mu.Lock()
	defer m.mu.Unlock()
	if x, ok := m.byKey[strings.ToLower(path)]; ok && x.created.Equal(created) {
		return x
	}
	x := defaultExtras(kind)
	x.created = created
	return x
}

func (m *adminMeta) put(path string, x extras) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byKey[strings.ToLower(path)] = x
}

// rule returns the rule's metadata if it belongs to the subscription
// created at sub.
func (m *adminMeta) rule(path string, sub time.Time) (ruleMeta, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rules[strings.ToLower(path)]
	return r, ok && r.sub.Equal(sub)
}

func (m *adminMeta) setRule(path string, r ruleMeta) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rules[strings.ToLower(path)] = r
}

// dropTree forgets path and everything under it.
func (m *adminMeta) dropTree(path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := strings.ToLower(path)
	delete(m.byKey, key)
	delete(m.rules, key)
	for k := range m.byKey {
		if strings.HasPrefix(k, key+"/") {
			delete(m.byKey, k)
		}
	}
	for k := range m.rules {
		if strings.HasPrefix(k, key+"/") {
			delete(m.rules, k)
		}
	}
}
