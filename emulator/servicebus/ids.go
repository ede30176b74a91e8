package servicebus

// idPool hands out the lowest never-used id or a released one, in O(1): channel numbers of a
// connection and handles of a session. Released ids are reused first (a stack), so the ids in use
// stay dense and the pool never holds more than the peak number in use.
type idPool struct {
	next uint32
	free []uint32
}

// get returns a free id not above max, or false when every id up to max is in use.
func (p *idPool) get(max uint32) (uint32, bool) {
	if n := len(p.free); n > 0 {
		id := p.free[n-1]
		p.free = p.free[:n-1]
		return id, true
	}
	if p.next > max || p.next == 1<<32-1 {
		return 0, false
	}
	id := p.next
	p.next++
	return id, true
}

// put releases id for reuse.
func (p *idPool) put(id uint32) { p.free = append(p.free, id) }
