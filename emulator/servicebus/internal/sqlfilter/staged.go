package sqlfilter

import "strings"

// staged is the message as an action sees it while running: the message
// plus the changes made so far, which commit writes back in one go.
type staged struct {
	m       MutableProperties
	changes []change // at most one per property, in first-change order
}

// change is the pending state of one property.
type change struct {
	sys     bool
	name    string // canonical for sys; as written for user
	key     string // user: the key to write (the message's spelling if it had one)
	value   any
	removed bool
}

func (s *staged) find(sys bool, name string) *change {
	for i := range s.changes {
		c := &s.changes[i]
		if c.sys == sys && (c.name == name || !sys && strings.EqualFold(c.name, name)) {
			return c
		}
	}
	return nil
}

func (s *staged) sys(name string) (any, bool) {
	if c := s.find(true, name); c != nil {
		return c.value, c.value != nil
	}
	return s.m.System(name)
}

func (s *staged) user(name string) (any, bool) {
	if c := s.find(false, name); c != nil {
		return c.value, !c.removed
	}
	_, v, ok := lookupUser(s.m.UserProperties(), name)
	return v, ok
}

// userChange returns the change record for a user property, creating it
// with the message's spelling of the key when the message has one.
func (s *staged) userChange(name string) *change {
	if c := s.find(false, name); c != nil {
		return c
	}
	key, v, ok := lookupUser(s.m.UserProperties(), name)
	if !ok {
		key = name
	}
	s.changes = append(s.changes, change{name: name, key: key, value: v, removed: !ok})
	return &s.changes[len(s.changes)-1]
}

func (s *staged) setSys(name string, v any) {
	if c := s.find(true, name); c != nil {
		c.value = v
		return
	}
	s.changes = append(s.changes, change{sys: true, name: name, value: v})
}

// setUser stores raw, or v converted to the existing property's
// floating-point type when C# would convert implicitly (long to
// double/float).
func (s *staged) setUser(name string, v, raw any) {
	c := s.userChange(name)
	if _, isInt := v.(int64); isInt && !c.removed {
		switch c.value.(type) {
		case float64:
			raw = float64(v.(int64))
		case float32:
			raw = float32(v.(int64))
		}
	}
	c.value, c.removed = raw, false
}

func (s *staged) remove(name string) {
	c := s.userChange(name)
	c.value, c.removed = nil, true
}

// commit writes the changes to the message.
func (s *staged) commit() {
	for _, c := range s.changes {
		switch {
		case c.sys:
			s.m.SetSystem(c.name, c.value)
		case c.removed:
			s.m.RemoveUser(c.key)
		default:
			s.m.SetUser(c.key, c.value)
		}
	}
}
