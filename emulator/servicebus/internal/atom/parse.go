// Package atom is the XML codec of the Service Bus administration API: the
// ATOM entries and feeds that carry QueueDescription, TopicDescription,
// SubscriptionDescription, RuleDescription and NamespaceInfo. It does no
// I/O and knows nothing of the broker: Parse turns a request body into a
// Description of named fields, and the writers in write.go render
// responses in the element order and namespaces the SDKs expect.
//
// Parse is bounded: it refuses documents nested deeper than MaxDepth or
// with more than MaxElements elements, and the caller bounds the body
// size. encoding/xml expands no external entities.
package atom

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Namespaces of the administration API.
const (
	NSAtom     = "http://www.w3.org/2005/Atom"
	NSConnect  = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
	NSInstance = "http://www.w3.org/2001/XMLSchema-instance"
	NSSchema   = "http://www.w3.org/2001/XMLSchema"
	// NSCounts is the namespace of the CountDetails children.
	NSCounts = "http://schemas.microsoft.com/netservices/2011/06/servicebus"
)

// Limits of Parse. A real description is 5 levels deep (entry, content,
// RuleDescription, Filter, Properties, KeyValueOfstringanyType, Value: 7)
// and has well under a hundred elements.
const (
	MaxDepth    = 12
	MaxElements = 4096
)

// Description is the parsed content of a request entry.
type Description struct {
	// Kind is the content's root element: "QueueDescription",
	// "TopicDescription", "SubscriptionDescription" or "RuleDescription".
	Kind string
	// Fields are the simple child elements (text only) by name; elements
	// marked i:nil="true" are left out.
	Fields map[string]string
	// Rule is the RuleDescription itself, or the DefaultRuleDescription of
	// a SubscriptionDescription (nil when absent).
	Rule *Rule
}

// Rule is a rule's filter, action and name.
type Rule struct {
	Name   string
	Filter *Filter
	Action *Action
}

// Filter is a rule filter: Type is the i:type without prefix ("SqlFilter",
// "CorrelationFilter", "TrueFilter", "FalseFilter"); Fields holds
// SqlExpression or the correlation properties (CorrelationId, Label, ...).
type Filter struct {
	Type       string
	Fields     map[string]string
	Properties []Param // correlation filter application properties
	Parameters []Param // SQL filter parameters
}

// Action is a rule action ("EmptyRuleAction" or "SqlRuleAction").
type Action struct {
	Type          string
	SQLExpression string
	Parameters    []Param
}

// Param is one KeyValueOfstringanyType: Type is the XML Schema type name
// without prefix ("string", "int", "long", "double", "boolean", "dateTime").
type Param struct {
	Key, Type, Value string
}

// node is one element of the bounded tree Parse builds.
type node struct {
	name  xml.Name
	attrs []xml.Attr
	text  strings.Builder
	kids  []*node
}

// Parse reads an ATOM entry whose content is one description element.
func Parse(data []byte) (*Description, error) {
	root, err := tree(data)
	if err != nil {
		return nil, err
	}
	if root.name.Local != "entry" {
		return nil, fmt.Errorf("root element is <%s>, want <entry>: %w", root.name.Local, ErrSyntax)
	}
	content := root.kid("content")
	if content == nil {
		return nil, fmt.Errorf("<entry> has no <content>: %w", ErrSyntax)
	}
	if len(content.kids) != 1 {
		return nil, fmt.Errorf("<content> has %d child elements, want one description: %w", len(content.kids), ErrSyntax)
	}
	desc := content.kids[0]
	d := &Description{Kind: desc.name.Local, Fields: map[string]string{}}
	switch d.Kind {
	case "QueueDescription", "TopicDescription", "SubscriptionDescription":
		if def := desc.kid("DefaultRuleDescription"); def != nil && d.Kind == "SubscriptionDescription" {
			if d.Rule, err = rule(def); err != nil {
				return nil, err
			}
		}
	case "RuleDescription":
		if d.Rule, err = rule(desc); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown description <%s>: %w", d.Kind, ErrSyntax)
	}
	d.Fields = simpleFields(desc, "DefaultRuleDescription", "Filter", "Action", "Name")
	if d.Kind != "RuleDescription" {
		d.Fields = simpleFields(desc, "DefaultRuleDescription")
	}
	return d, nil
}

// tree parses data into nodes, enforcing MaxDepth and MaxElements.
func tree(data []byte) (*node, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*node
	var root *node
	elements := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, ErrSyntax)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			elements++
			if elements > MaxElements {
				return nil, fmt.Errorf("more than %d elements: %w", MaxElements, ErrSyntax)
			}
			if len(stack) >= MaxDepth {
				return nil, fmt.Errorf("elements nested deeper than %d: %w", MaxDepth, ErrSyntax)
			}
			n := &node{name: t.Name, attrs: t.Attr}
			if len(stack) == 0 {
				if root != nil {
					return nil, fmt.Errorf("more than one root element: %w", ErrSyntax)
				}
				root = n
			} else {
				parent := stack[len(stack)-1]
				parent.kids = append(parent.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("text outside the root element: %w", ErrSyntax)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no root element: %w", ErrSyntax)
	}
	return root, nil
}

func (n *node) kid(local string) *node {
	for _, k := range n.kids {
		if k.name.Local == local {
			return k
		}
	}
	return nil
}

func (n *node) attr(space, local string) string {
	for _, a := range n.attrs {
		if a.Name.Local == local && a.Name.Space == space {
			return a.Value
		}
	}
	return ""
}

// xsiType is the i:type attribute without its prefix.
func (n *node) xsiType() string {
	t := n.attr(NSInstance, "type")
	if _, local, ok := strings.Cut(t, ":"); ok {
		return local
	}
	return t
}

func (n *node) isNil() bool { return n.attr(NSInstance, "nil") == "true" }

// simpleFields collects the text of the child elements that have no
// children of their own, except the structured ones named in skip.
func simpleFields(n *node, skip ...string) map[string]string {
	out := map[string]string{}
	for _, k := range n.kids {
		if len(k.kids) > 0 || k.isNil() || slices.Contains(skip, k.name.Local) {
			continue
		}
		out[k.name.Local] = k.text.String()
	}
	return out
}

func rule(n *node) (*Rule, error) {
	r := &Rule{}
	if name := n.kid("Name"); name != nil {
		r.Name = name.text.String()
	}
	if f := n.kid("Filter"); f != nil && !f.isNil() {
		r.Filter = &Filter{Type: f.xsiType(), Fields: simpleFields(f, "Properties", "Parameters")}
		var err error
		if r.Filter.Properties, err = params(f.kid("Properties")); err != nil {
			return nil, err
		}
		if r.Filter.Parameters, err = params(f.kid("Parameters")); err != nil {
			return nil, err
		}
	}
	if a := n.kid("Action"); a != nil && !a.isNil() {
		r.Action = &Action{Type: a.xsiType()}
		if e := a.kid("SqlExpression"); e != nil {
			r.Action.SQLExpression = e.text.String()
		}
		var err error
		if r.Action.Parameters, err = params(a.kid("Parameters")); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func params(n *node) ([]Param, error) {
	if n == nil {
		return nil, nil
	}
	var out []Param
	for _, kv := range n.kids {
		if kv.name.Local != "KeyValueOfstringanyType" {
			return nil, fmt.Errorf("<%s> in <%s>, want KeyValueOfstringanyType: %w", kv.name.Local, n.name.Local, ErrSyntax)
		}
		key, val := kv.kid("Key"), kv.kid("Value")
		if key == nil || val == nil {
			return nil, fmt.Errorf("KeyValueOfstringanyType without Key or Value: %w", ErrSyntax)
		}
		out = append(out, Param{Key: key.text.String(), Type: val.xsiType(), Value: val.text.String()})
	}
	return out, nil
}
