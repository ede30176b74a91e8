package infra

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/orderflow/orderflow/shared/topology"
)

// rabbitMQSuffix names a consumer's RabbitMQ twin: <Function>RabbitMQ.
const rabbitMQSuffix = "RabbitMQ"

// binding is the part of a function.json binding the checks read.
type binding struct {
	Type                    string `json:"type"`
	Direction               string `json:"direction"`
	TopicName               string `json:"topicName"`
	SubscriptionName        string `json:"subscriptionName"`
	QueueName               string `json:"queueName"`
	Connection              string `json:"connection"`
	ConnectionStringSetting string `json:"connectionStringSetting"`
}

// TriggerFunctions lists the function folders in FunctionsDir whose trigger
// is serviceBusTrigger or rabbitMQTrigger, sorted.
func (c Checker) TriggerFunctions() ([]string, error) {
	fns, err := c.readFunctions()
	if err != nil {
		return nil, err
	}
	var out []string
	for name, bs := range fns {
		for _, b := range bs {
			if b.Type == "serviceBusTrigger" || b.Type == "rabbitMQTrigger" {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Triggers checks the app folder's message triggers against topology.json
// and the function app's settings:
//   - every topology subscription has a serviceBusTrigger function named
//     after its "function" on topic/subscription from topology.json, and a
//     rabbitMQTrigger function <function>RabbitMQ on the queue of the same
//     name (the names AppSettings disables per broker);
//   - no message trigger exists outside the topology;
//   - each Service Bus binding's connection is set identity-based
//     (<connection>__fullyQualifiedNamespace) and each RabbitMQ
//     connectionStringSetting is set.
func (c Checker) Triggers() error {
	top, err := c.readTopology()
	if err != nil {
		return err
	}
	fns, err := c.readFunctions()
	if err != nil {
		return err
	}
	_, settings, err := c.siteSettings()
	if err != nil {
		return err
	}
	set := map[string]bool{}
	for _, s := range settings {
		set[s.name] = true
	}
	dir := c.functionsDir()
	var errs []error
	expected := map[string]bool{}
	for _, sub := range top.Subscriptions {
		expected[sub.Function] = true
		expected[sub.Function+rabbitMQSuffix] = true
		errs = append(errs, checkTrigger(dir, sub.Function, fns[sub.Function], "serviceBusTrigger", func(b binding) string {
			if b.TopicName != top.Topic || b.SubscriptionName != sub.Name {
				return fmt.Sprintf("listens on %s/%s, topology.json says %s/%s", b.TopicName, b.SubscriptionName, top.Topic, sub.Name)
			}
			return ""
		})...)
		errs = append(errs, checkTrigger(dir, sub.Function+rabbitMQSuffix, fns[sub.Function+rabbitMQSuffix], "rabbitMQTrigger", func(b binding) string {
			if b.QueueName != sub.Name {
				return fmt.Sprintf("listens on queue %q, topology.json says %q", b.QueueName, sub.Name)
			}
			return ""
		})...)
	}
	names := make([]string, 0, len(fns))
	for name := range fns {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		file := filepath.Join(dir, name, "function.json")
		for _, b := range fns[name] {
			switch {
			case (b.Type == "serviceBusTrigger" || b.Type == "rabbitMQTrigger") && !expected[name]:
				errs = append(errs, &Finding{File: file, Msg: fmt.Sprintf("%s is not a consumer in topology.json", b.Type)})
			case strings.HasPrefix(b.Type, "serviceBus"):
				if conn := b.Connection; !set[conn+"__fullyQualifiedNamespace"] {
					errs = append(errs, &Finding{File: file, Msg: fmt.Sprintf("connection %q: app setting %s__fullyQualifiedNamespace is not set", conn, conn)})
				}
			case strings.HasPrefix(b.Type, "rabbitMQ"):
				if !set[b.ConnectionStringSetting] {
					errs = append(errs, &Finding{File: file, Msg: fmt.Sprintf("connectionStringSetting %q is not an app setting", b.ConnectionStringSetting)})
				}
			}
		}
	}
	return errors.Join(errs...)
}

// checkTrigger checks that function name exists and its trigger has type
// typ and passes match (which returns "" or the mismatch).
func checkTrigger(dir, name string, bs []binding, typ string, match func(binding) string) []error {
	file := filepath.Join(dir, name, "function.json")
	if bs == nil {
		return []error{&Finding{File: file, Msg: fmt.Sprintf("missing: topology.json needs a %s function %s", typ, name)}}
	}
	for _, b := range bs {
		if b.Type != typ {
			continue
		}
		if msg := match(b); msg != "" {
			return []error{&Finding{File: file, Msg: msg}}
		}
		return nil
	}
	return []error{&Finding{File: file, Msg: "has no " + typ}}
}

func (c Checker) functionsDir() string {
	if c.FunctionsDir == "" {
		return filepath.Join(c.dir(), "..", "functions")
	}
	return c.FunctionsDir
}

// readFunctions reads <FunctionsDir>/*/function.json into bindings by
// function (folder) name.
func (c Checker) readFunctions() (map[string][]binding, error) {
	paths, err := filepath.Glob(filepath.Join(c.functionsDir(), "*", "function.json"))
	if err != nil {
		return nil, fmt.Errorf("listing function.json files: %w", err)
	}
	out := map[string][]binding{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading function.json: %w", err)
		}
		var doc struct {
			Bindings []binding `json:"bindings"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, &Finding{File: p, Msg: err.Error()}
		}
		out[filepath.Base(filepath.Dir(p))] = doc.Bindings
	}
	return out, nil
}

func (c Checker) readTopology() (topology.Topology, error) {
	path := c.topologyPath()
	b, err := os.ReadFile(path)
	if err != nil {
		return topology.Topology{}, fmt.Errorf("reading topology: %w", err)
	}
	top, err := topology.Parse(b)
	if err != nil {
		return topology.Topology{}, &Finding{File: path, Msg: err.Error()}
	}
	return top, nil
}
