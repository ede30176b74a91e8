package servicebus

// idPool hands out channel numbers of a connection or handles of a session in O(1): released
// ids first (a stack), then the lowest never used. The ids in use stay dense, and the pool never
// holds more than the peak number in use.
type idPool struct {
	next uint64 // lowest id never handed out
	free []uint32
}

// get returns a free id not above max, or false when every id up to max is in use.
func (p *idPool) get(max uint32) (uint32, bool) {
	if n := len(p.free); n > 0 {
		id := p.free[n-1]
		p.free = p.free[:n-1]
		return id, true
	}
	if p.next > uint64(max) {
		return 0, false
	}
	p.next++
	return uint32(p.next - 1), true
}

// put releases id for reuse.
func (p *idPool) put(id uint32) { p.free = append(p.free, id) }
