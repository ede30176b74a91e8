package sqlfilter

// MapProperties is a plain implementation of MutableProperties, for tests
// and for callers that keep properties in maps. System is keyed by canonical
// name; a nil map reads as empty and is allocated on first write.
type MapProperties struct {
	Sys  map[string]any
	User map[string]any
}

// System implements Properties.
func (p *MapProperties) System(name string) (any, bool) {
	v, ok := p.Sys[name]
	return v, ok
}

// UserProperties implements Properties.
func (p *MapProperties) UserProperties() map[string]any { return p.User }

// SetSystem implements MutableProperties; nil deletes.
func (p *MapProperties) SetSystem(name string, value any) {
	if value == nil {
		delete(p.Sys, name)
		return
	}
	if p.Sys == nil {
		p.Sys = map[string]any{}
	}
	p.Sys[name] = value
}

// SetUser implements MutableProperties.
func (p *MapProperties) SetUser(key string, value any) {
	if p.User == nil {
		p.User = map[string]any{}
	}
	p.User[key] = value
}

// RemoveUser implements MutableProperties.
func (p *MapProperties) RemoveUser(key string) { delete(p.User, key) }
