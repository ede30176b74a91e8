package broker

// skiplist is an ordered set of entries keyed by sequence number. It backs
// Peek (ascending iteration from any key) and lookups by sequence number in
// O(log n), whatever order keys arrive in (a DLQ receives them out of order).
//
// Its nodes are the entries themselves (entry.sl): no allocation of its own
// for the ~94% of entries with at most two levels, and 16 bytes fewer per
// stored message than a separate node would cost. An entry is therefore in
// at most one skip list at a time, keyed by its seq.
type skiplist struct {
	head  entry // sentinel: only its links are used
	level int
	n     int
	rnd   uint64
}

const slMaxLevel = 24 // enough for 4^24 entries at p = 1/4

// slLinks are an entry's skip-list links: levels 0 and 1 inline, the rest
// (nodes of three levels or more) in high.
type slLinks struct {
	low   [2]*entry
	high  *[]*entry
	level int32
}

func (n *slLinks) next(i int) *entry {
	if i < len(n.low) {
		return n.low[i]
	}
	return (*n.high)[i-len(n.low)]
}

func (n *slLinks) setNext(i int, e *entry) {
	if i < len(n.low) {
		n.low[i] = e
		return
	}
	(*n.high)[i-len(n.low)] = e
}

// setLevel gives n lvl levels, all nil.
func (n *slLinks) setLevel(lvl int) {
	*n = slLinks{level: int32(lvl)}
	if lvl > len(n.low) {
		high := make([]*entry, lvl-len(n.low))
		n.high = &high
	}
}

func newSkiplist() *skiplist {
	l := &skiplist{level: 1, rnd: 0x9E3779B97F4A7C15}
	l.head.sl.setLevel(slMaxLevel)
	return l
}

func (l *skiplist) randomLevel() int {
	// xorshift64: deterministic, no locking, good enough for balancing.
	l.rnd ^= l.rnd << 13
	l.rnd ^= l.rnd >> 7
	l.rnd ^= l.rnd << 17
	lvl, r := 1, l.rnd
	for lvl < slMaxLevel && r&3 == 0 {
		lvl++
		r >>= 2
	}
	return lvl
}

// path fills update with the last node before key at each level and
// returns the first node with key ≥ key.
func (l *skiplist) path(key int64, update *[slMaxLevel]*entry) *entry {
	x := &l.head
	for i := l.level - 1; i >= 0; i-- {
		for nx := x.sl.next(i); nx != nil && nx.seq < key; nx = x.sl.next(i) {
			x = nx
		}
		update[i] = x
	}
	return x.sl.next(0)
}

// insert adds e under key (e.seq), replacing an entry with the same key.
func (l *skiplist) insert(key int64, e *entry) {
	var update [slMaxLevel]*entry
	if nx := l.path(key, &update); nx != nil && nx.seq == key {
		if nx == e {
			return
		}
		l.remove(key)
		l.path(key, &update)
	}
	lvl := l.randomLevel()
	if lvl > l.level {
		for i := l.level; i < lvl; i++ {
			update[i] = &l.head
		}
		l.level = lvl
	}
	e.sl.setLevel(lvl)
	for i := 0; i < lvl; i++ {
		e.sl.setNext(i, update[i].sl.next(i))
		update[i].sl.setNext(i, e)
	}
	l.n++
}

// remove deletes key and reports whether it was present.
func (l *skiplist) remove(key int64) bool {
	var update [slMaxLevel]*entry
	x := l.path(key, &update)
	if x == nil || x.seq != key {
		return false
	}
	for i := 0; i < int(x.sl.level); i++ {
		update[i].sl.setNext(i, x.sl.next(i))
	}
	// A removed entry may stay referenced (a stale FIFO slot): it must not
	// keep its former successors alive.
	x.sl = slLinks{}
	for l.level > 1 && l.head.sl.next(l.level-1) == nil {
		l.level--
	}
	l.n--
	return true
}

// seek returns the first entry with key ≥ from, or nil.
func (l *skiplist) seek(from int64) *entry {
	x := &l.head
	for i := l.level - 1; i >= 0; i-- {
		for nx := x.sl.next(i); nx != nil && nx.seq < from; nx = x.sl.next(i) {
			x = nx
		}
	}
	return x.sl.next(0)
}

// get returns the entry with key, or nil.
func (l *skiplist) get(key int64) *entry {
	if e := l.seek(key); e != nil && e.seq == key {
		return e
	}
	return nil
}

// ascend calls fn for entries with key ≥ from in key order until fn
// returns false. fn may remove the entry it is given.
func (l *skiplist) ascend(from int64, fn func(*entry) bool) {
	for e := l.seek(from); e != nil; {
		next := e.sl.next(0)
		if !fn(e) {
			return
		}
		e = next
	}
}

func (l *skiplist) len() int { return l.n }
