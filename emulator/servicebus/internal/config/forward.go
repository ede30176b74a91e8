package config

import (
	"strings"
)

// forwardGraph collects the auto-forwarding settings of a file to check
// them as a whole: destinations must be queues or topics of the file, no
// chain may loop (through ForwardTo or ForwardDeadLetteredMessagesTo, and
// from a topic through any of its subscriptions), and session-enabled
// entities cannot use ForwardTo (Service Bus does not support it for
// session-enabled queues or subscriptions; their dead-letter queue may still
// forward). The broker checks the same at creation; checking the file
// gives one error per problem, naming the whole loop.
type forwardGraph struct {
	sources []forwardSource
}

type forwardSource struct {
	node  string // lower-case queue or topic name whose messages reach the source
	path  string // the source's own path, for errors
	where string
	dests []string // lower-case, non-empty
	raw   []string
}

func (g *forwardGraph) add(node, path, where string, session bool, fwd, fwdDLQ string) {
	s := forwardSource{node: strings.ToLower(node), path: path, where: where}
	for _, d := range []string{fwd, fwdDLQ} {
		if d != "" {
			s.dests = append(s.dests, strings.ToLower(d))
			s.raw = append(s.raw, d)
		}
	}
	if len(s.dests) == 0 {
		return
	}
	if session && fwd != "" {
		s.dests = nil // reported by check
	}
	g.sources = append(g.sources, s)
}

// check reports unknown destinations, session sources and loops. entities
// maps the file's lower-case queue and topic names to where they are
// defined.
func (g *forwardGraph) check(v *validator, entities map[string]string) {
	edges := map[string][]forwardEdge{}
	for _, s := range g.sources {
		if s.dests == nil {
			v.fail(ErrInvalid, "%s: ForwardTo is not supported on a session-enabled entity", s.where)
			continue
		}
		for i, d := range s.dests {
			if _, ok := entities[d]; !ok {
				v.fail(ErrInvalid, "%s: auto-forwarding destination %q is not a queue or topic of this file", s.where, s.raw[i])
				continue
			}
			edges[s.node] = append(edges[s.node], forwardEdge{via: s.path, to: d})
		}
	}
	reported := map[string]bool{}
	for _, s := range g.sources {
		if reported[s.node] {
			continue
		}
		if cycle := findCycle(edges, s.node); cycle != nil {
			for _, n := range cycle {
				reported[n] = true
			}
			v.fail(ErrInvalid, "%s: auto-forwarding loop %s", s.where, strings.Join(cycle, " -> "))
		}
	}
}

type forwardEdge struct {
	via string // the queue or subscription that forwards
	to  string
}

// findCycle returns a path from start back to start, or nil.
func findCycle(edges map[string][]forwardEdge, start string) []string {
	seen := map[string]bool{}
	var walk func(n string, path []string) []string
	walk = func(n string, path []string) []string {
		for _, e := range edges[n] {
			next := append(append([]string(nil), path...), e.via)
			if e.to == start {
				return append(next, e.to)
			}
			if !seen[e.to] {
				seen[e.to] = true
				if c := walk(e.to, next); c != nil {
					return c
				}
			}
		}
		return nil
	}
	return walk(start, nil)
}
