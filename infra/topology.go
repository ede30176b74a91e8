package infra

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/orderflow/orderflow/shared/topology"
)

const (
	namespaceType    = "Microsoft.ServiceBus/namespaces"
	topicType        = "Microsoft.ServiceBus/namespaces/topics"
	subscriptionType = "Microsoft.ServiceBus/namespaces/topics/subscriptions"
)

// TopologyDerived checks that the Service Bus entities come from
// topology.json instead of being copied by hand:
//   - the namespace is Standard or Premium (topics), disableLocalAuth true,
//     minimumTlsVersion '1.2';
//   - the topic's name is <t>.topic, where <t> is a variable bound to
//     loadJsonContent() of the topology file (path relative to the module);
//   - exactly one subscriptions resource, a loop `for s in <t>.subscriptions`
//     whose parent is that topic, and whose name and every other field of a
//     topology subscription (maxDeliveryCount, lockDuration, TTL,
//     dead-lettering; "function" excepted) is set to s.<field>.
func (c Checker) TopologyDerived() error {
	fields, err := c.subscriptionFields()
	if err != nil {
		return err
	}
	t, err := c.read()
	if err != nil {
		return err
	}
	var errs []error
	namespaces := t.resources(namespaceType)
	if len(namespaces) != 1 {
		return &Finding{File: c.dir(), Msg: fmt.Sprintf("want one %s resource, found %d", namespaceType, len(namespaces))}
	}
	ns := namespaces[0]
	errs = append(errs, checkNamespace(ns)...)

	topics := t.resources(topicType)
	if len(topics) != 1 {
		return errors.Join(append(errs, &Finding{File: c.dir(), Msg: fmt.Sprintf("want one %s resource (the topology's topic), found %d", topicType, len(topics))})...)
	}
	topic := topics[0]
	topoVar := c.topologyVar(topic.f)
	if topoVar == "" {
		errs = append(errs, topic.finding("no variable loads %s with loadJsonContent() (path relative to %s)", c.topologyPath(), topic.f.Path))
	}
	body := topic.d.Value.Body()
	if name, _ := body.Prop("name"); topoVar == "" || name.String() != topoVar+".topic" {
		errs = append(errs, topic.finding("topic name must be %s.topic, got %q", topoVar, name.String()))
	}
	if parent, _ := body.Prop("parent"); parent.String() != ns.d.Name || topic.f != ns.f {
		errs = append(errs, topic.finding("topic parent must be namespace %s", ns.d.Name))
	}

	subs := t.resources(subscriptionType)
	if len(subs) != 1 {
		return errors.Join(append(errs, &Finding{File: c.dir(), Msg: fmt.Sprintf("want one %s resource looping over the topology's subscriptions, found %d", subscriptionType, len(subs))})...)
	}
	sub := subs[0]
	v, src, ok := sub.d.Value.Loop()
	if !ok || topoVar == "" || src != topoVar+".subscriptions" || sub.f != topic.f {
		errs = append(errs, sub.finding("subscriptions must be declared as [for s in %s.subscriptions: …] next to the topic, got %q", topoVar, src))
		return errors.Join(errs...)
	}
	sbody := sub.d.Value.Body()
	if parent, _ := sbody.Prop("parent"); parent.String() != topic.d.Name {
		errs = append(errs, sub.finding("subscription parent must be topic %s", topic.d.Name))
	}
	for _, field := range fields {
		path := "properties." + field
		if field == "name" {
			path = "name"
		}
		got, ok := sbody.Prop(path)
		if want := v + "." + field; !ok || got.String() != want {
			errs = append(errs, sub.finding("subscription %s must be %s (from topology.json), got %q", path, want, got.String()))
		}
	}
	return errors.Join(errs...)
}

// checkNamespace checks the namespace tier and Entra-only access.
func checkNamespace(ns located) []error {
	var errs []error
	body := ns.d.Value.Body()
	if sku, _ := body.Prop("sku.name"); sku.String() != "'Standard'" && sku.String() != "'Premium'" {
		errs = append(errs, ns.finding("namespace sku.name must be 'Standard' or 'Premium' (topics), got %q", sku.String()))
	}
	if v, _ := body.Prop("properties.disableLocalAuth"); v.String() != "true" {
		errs = append(errs, ns.finding("namespace properties.disableLocalAuth must be true (no SAS keys), got %q", v.String()))
	}
	if v, _ := body.Prop("properties.minimumTlsVersion"); v.String() != "'1.2'" {
		errs = append(errs, ns.finding("namespace properties.minimumTlsVersion must be '1.2', got %q", v.String()))
	}
	return errs
}

// subscriptionFields validates the topology file and returns the union of
// the JSON field names of its subscriptions, except "function" (which names
// the consumer, not a Service Bus property), sorted.
func (c Checker) subscriptionFields() ([]string, error) {
	path := c.topologyPath()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading topology: %w", err)
	}
	if _, err := topology.Parse(b); err != nil {
		return nil, &Finding{File: path, Msg: err.Error()}
	}
	var raw struct {
		Subscriptions []map[string]json.RawMessage `json:"subscriptions"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, &Finding{File: path, Msg: err.Error()}
	}
	set := map[string]bool{}
	for _, s := range raw.Subscriptions {
		for k := range s {
			if k != "function" {
				set[k] = true
			}
		}
	}
	fields := make([]string, 0, len(set))
	for k := range set {
		fields = append(fields, k)
	}
	sort.Strings(fields)
	return fields, nil
}
