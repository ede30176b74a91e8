package broker

// skiplist is an ordered set of entries keyed by sequence number. It backs
// Peek (ascending iteration from any key) and lookups by sequence number in
// O(log n), whatever order keys arrive in (a DLQ receives them out of order).
type skiplist struct {
	head  slNode
	level int
	n     int
	rnd   uint64
}

const slMaxLevel = 24 // enough for 4^24 entries at p = 1/4

type slNode struct {
	key  int64
	e    *entry
	next []*slNode
	// inline backs next for the ~94% of nodes with at most two levels, so
	// that most inserts allocate once.
	inline [2]*slNode
}

func newSkiplist() *skiplist {
	return &skiplist{head: slNode{next: make([]*slNode, slMaxLevel)}, level: 1, rnd: 0x9E3779B97F4A7C15}
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

// insert adds or replaces key.
func (l *skiplist) insert(key int64, e *entry) {
	var update [slMaxLevel]*slNode
	x := &l.head
	for i := l.level - 1; i >= 0; i-- {
		for x.next[i] != nil && x.next[i].key < key {
			x = x.next[i]
		}
		update[i] = x
	}
	if nx := x.next[0]; nx != nil && nx.key == key {
		nx.e = e
		return
	}
	lvl := l.randomLevel()
	if lvl > l.level {
		for i := l.level; i < lvl; i++ {
			update[i] = &l.head
		}
		l.level = lvl
	}
	n := &slNode{key: key, e: e}
	if lvl <= len(n.inline) {
		n.next = n.inline[:lvl]
	} else {
		n.next = make([]*slNode, lvl)
	}
	for i := 0; i < lvl; i++ {
		n.next[i] = update[i].next[i]
		update[i].next[i] = n
	}
	l.n++
}

// remove deletes key and reports whether it was present.
func (l *skiplist) remove(key int64) bool {
	var update [slMaxLevel]*slNode
	x := &l.head
	for i := l.level - 1; i >= 0; i-- {
		for x.next[i] != nil && x.next[i].key < key {
			x = x.next[i]
		}
		update[i] = x
	}
	x = x.next[0]
	if x == nil || x.key != key {
		return false
	}
	for i := 0; i < len(x.next); i++ {
		update[i].next[i] = x.next[i]
	}
	for l.level > 1 && l.head.next[l.level-1] == nil {
		l.level--
	}
	l.n--
	return true
}

// seek returns the first node with key ≥ from, or nil.
func (l *skiplist) seek(from int64) *slNode {
	x := &l.head
	for i := l.level - 1; i >= 0; i-- {
		for x.next[i] != nil && x.next[i].key < from {
			x = x.next[i]
		}
	}
	return x.next[0]
}

// get returns the entry with key, or nil.
func (l *skiplist) get(key int64) *entry {
	if n := l.seek(key); n != nil && n.key == key {
		return n.e
	}
	return nil
}

// ascend calls fn for entries with key ≥ from in key order until fn
// returns false.
func (l *skiplist) ascend(from int64, fn func(*entry) bool) {
	for n := l.seek(from); n != nil; n = n.next[0] {
		if !fn(n.e) {
			return
		}
	}
}

func (l *skiplist) len() int { return l.n }
