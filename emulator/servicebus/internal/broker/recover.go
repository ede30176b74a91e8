package broker

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	enc "github.com/orderflow/orderflow/emulator/servicebus/internal/encoding"
)

// Recovery rebuilds the broker's messages from the records of its journal.
// Usage, before the broker serves anything and with the entities created:
// NewRecovery, Apply (or ApplyAt) for each record in order, then Finish.
// The records are folded into the last state of each message first and
// materialized once at the end, so the time-driven transitions (expiry,
// scheduled activation) are judged at the restart, not replayed.
//
// With a ColdLog, SetHotBytes and ApplyAt, the fold keeps the stored forms
// of recovered messages in memory only up to a budget; past it a message
// is recovered cold (its record's position only, as an evicted message),
// so that recovering a backlog larger than the budget does not need the
// backlog's memory. The ColdLog must read those positions back from Finish
// on (a snapshot replaces them, as at run time).
//
// Recovery rules:
//   - a message is in the state of its last put record, unless a later
//     delete record removed it;
//   - a message whose last record is a lock (a delivery in progress at the
//     crash) had its lock expire: it comes back with DeliveryCount+1, or
//     goes to the dead-letter queue if that delivery was the
//     MaxDeliveryCount-th, as a lock expiry does;
//   - sequence numbers continue after the highest one recorded or stored;
//   - duplicate-detection history still within its window is restored;
//   - records for entities that no longer exist are dropped (counted in
//     RecoveryStats.Orphans).
type Recovery struct {
	b        *Broker
	msgs     map[string]map[int64]*recovered // by lower-case path, then sequence number
	paths    map[string]string               // lower-case path → path as recorded
	seqs     map[string]int64
	dedup    map[string][]dedupEntry
	sessions map[string]map[string][]byte
	forwards map[string]forwarding // by lower-case path of the queue or subscription
	// slabs hold the recovered stored forms by lower-case path, as a
	// store's would: consecutive messages of an entity share chunks, apart
	// from the garbage of decoding the log (which then frees whole spans).
	slabs map[string]*slab
	// budget is the stored bytes the fold keeps in memory (negative: no
	// bound, SetHotBytes); hot is what the messages it holds keep.
	budget, hot int64
}

// recovered is a message's last state in the log. It is kept as the
// stored record (entry) from the moment its record is read: the Message the
// record decodes to is garbage at once, so the log's messages are held
// pointer-free while the fold goes on (the collector does not scan them,
// and the peak is the stored forms, not decoded messages plus them). Past
// the budget the entry is cold: no stored form, the record's position.
type recovered struct {
	e      *entry
	locked bool
}

// RecoveryStats says what Finish restored.
type RecoveryStats struct {
	Messages int // messages put back in queues, subscriptions, DLQs and topics' schedules
	Locked   int // of which were locked at the crash (delivery counted)
	Orphans  int // records whose entity no longer exists
}

// NewRecovery starts a recovery; the broker journals nothing until Finish.
func (b *Broker) NewRecovery() *Recovery {
	b.replaying.Store(true)
	return &Recovery{b: b, msgs: map[string]map[int64]*recovered{}, paths: map[string]string{},
		seqs: map[string]int64{}, dedup: map[string][]dedupEntry{}, sessions: map[string]map[string][]byte{},
		forwards: map[string]forwarding{}, slabs: map[string]*slab{}, budget: -1}
}

// SetHotBytes bounds the stored bytes (stored.go) of the messages the fold
// keeps in memory: once the messages it holds keep budget bytes, a message
// whose record ApplyAt got with a position is recovered cold, its bytes
// read back from the ColdLog when needed (by Finish for what it must
// change, by the snapshot that follows it, by deliveries). Without a
// ColdLog, or with a negative budget (the default), every message is kept
// in memory. The bound is on what the fold holds, which is what Evict
// counts, so the first eviction after the start has little or nothing to
// do; the fold may pass it by one message.
func (r *Recovery) SetHotBytes(budget int64) { r.budget = budget }

// Apply folds one journal record into the state being rebuilt.
func (r *Recovery) Apply(rec []byte) error { return r.ApplyAt(rec, 0) }

// ApplyAt is Apply for a record at pos in the ColdLog (0: none), which the
// ColdLog reads back (ReadAt) from Finish until the snapshot that follows
// it replaced the recovered messages' positions.
func (r *Recovery) ApplyAt(rec []byte, pos uint64) error {
	x, err := decodeRecord(rec)
	if err != nil {
		return err
	}
	key := strings.ToLower(x.path)
	r.paths[key] = x.path
	switch x.kind {
	case recPut:
		byseq := r.msgs[key]
		if byseq == nil {
			byseq = map[int64]*recovered{}
			r.msgs[key] = byseq
		}
		if old := byseq[x.seq]; old != nil {
			r.hot -= int64(len(old.e.data))
		}
		if pos != 0 && r.b.cold != nil && r.budget >= 0 && r.hot >= r.budget {
			// Past the budget: the record at pos is this message's
			// state, as an evicted message's is (nothing decoded here
			// is kept).
			byseq[x.seq] = &recovered{e: coldEntry(x.msg, pos)}
			break
		}
		sl := r.slabs[key]
		if sl == nil {
			sl = &slab{}
			r.slabs[key] = sl
		}
		data, err := encodeStored(x.msg, sl)
		var e *entry
		if err == nil {
			e, err = newEntry(x.msg, data)
		}
		if err != nil {
			return fmt.Errorf("journal record of message %d at %s: %w", x.seq, x.path, err)
		}
		byseq[x.seq] = &recovered{e: e}
		r.hot += int64(len(data))
	case recDel:
		if m := r.msgs[key][x.seq]; m != nil {
			r.hot -= int64(len(m.e.data))
			delete(r.msgs[key], x.seq)
		}
	case recLock:
		if m := r.msgs[key][x.seq]; m != nil {
			m.locked = true
		}
	case recSeq:
		r.seqs[key] = max(r.seqs[key], x.seq)
	case recDedup:
		r.dedup[key] = append(r.dedup[key], dedupEntry{id: x.id, at: x.at})
	case recEntity:
		fwd, err := r.b.applyEntity(x.path, x.data)
		if err != nil {
			// An entity the journal cannot recreate (its definition no
			// longer valid): its messages become orphans, reported.
			r.b.cfg.Logger.Warn("journaled entity not recreated", "topic", x.path, "name", x.id, "err", err)
			break
		}
		fpath := x.id
		if x.path != "" {
			fpath = x.path + subscriptionsInfix + x.id
		}
		r.forwards[strings.ToLower(fpath)] = fwd
	case recDelete:
		if err := r.b.Delete(x.path); err != nil && !isNotFound(err) {
			r.b.cfg.Logger.Warn("journaled deletion not applied", "path", x.path, "err", err)
		}
		// What the deleted entity held is gone, even if one of the same
		// name is created later.
		for k, byseq := range r.msgs {
			if k == key || strings.HasPrefix(k, key+"/") {
				for _, m := range byseq {
					r.hot -= int64(len(m.e.data))
				}
				delete(r.msgs, k)
			}
		}
		for k := range r.forwards {
			if k == key || strings.HasPrefix(k, key+"/") {
				delete(r.forwards, k)
			}
		}
	case recSession:
		if r.sessions[key] == nil {
			r.sessions[key] = map[string][]byte{}
		}
		r.sessions[key][x.id] = x.data
	}
	return nil
}

// Finish puts the rebuilt messages into their entities and turns the
// journal back on. The caller then replaces the journal's content with
// Snapshot, so that what Finish changed (counted deliveries, expiries) is
// durable and the journal starts from the rebuilt state.
func (r *Recovery) Finish() RecoveryStats {
	defer r.b.replaying.Store(false)
	var st RecoveryStats
	now := r.b.now()
	for _, key := range slices.Sorted(maps.Keys(r.msgs)) {
		byseq := r.msgs[key]
		if len(byseq) == 0 {
			continue
		}
		tg, err := r.b.resolve(r.paths[key])
		if err != nil {
			st.Orphans += len(byseq)
			r.b.cfg.Logger.Warn("recovered messages of a missing entity dropped", "path", r.paths[key], "messages", len(byseq))
			continue
		}
		list := slices.SortedFunc(maps.Values(byseq), func(a, b *recovered) int { return cmp.Compare(a.e.seq, b.e.seq) })
		st.Messages += len(list)
		if tg.top != nil {
			last := list[len(list)-1].e.seq
			// A topic keeps its scheduled messages in memory.
			tg.top.restoreScheduled(r.readBack(list), now)
			r.bumpSeq(tg, last)
			continue
		}
		tg.ent.mu.Lock()
		for _, rm := range list {
			if rm.locked {
				st.Locked++
			}
			tg.s.restore(rm, now)
		}
		tg.ent.mu.Unlock()
		r.bumpSeq(tg, list[len(list)-1].e.seq)
	}
	for key, seq := range r.seqs {
		if tg, err := r.b.resolve(r.paths[key]); err == nil {
			r.bumpSeq(tg, seq)
		}
	}
	for key, entries := range r.dedup {
		if tg, err := r.b.resolve(r.paths[key]); err == nil {
			r.restoreDedup(tg, entries, now)
		}
	}
	for key, states := range r.sessions {
		if tg, err := r.b.resolve(r.paths[key]); err == nil && tg.ent != nil && tg.ent.sessions != nil {
			tg.ent.mu.Lock()
			for id, data := range states {
				if len(data) > 0 {
					m := tg.ent.sessions.get(id)
					m.state, m.stateAt = data, now
				}
			}
			tg.ent.mu.Unlock()
		}
	}
	// Forwarding last: every destination exists now, and the restored
	// messages stay where they were (those of a forwarding source waited
	// there at the crash, e.g. sent before ForwardTo was set).
	for _, key := range slices.Sorted(maps.Keys(r.forwards)) {
		if fwd := r.forwards[key]; fwd != (forwarding{}) {
			if err := r.b.setForwarding(key, fwd); err != nil {
				r.b.cfg.Logger.Warn("journaled auto-forwarding not restored", "path", key, "err", err)
			}
		}
	}
	return st
}

// readBack returns list with the stored forms of its cold messages read
// back. One that cannot be read is left out: the ColdLog has failed then
// (it refuses appends and compactions), and its owner fails stop.
func (r *Recovery) readBack(list []*recovered) []*recovered {
	kept := list[:0]
	for _, rm := range list {
		if rm.e.data == nil {
			data, err := r.b.stored(rm.e)
			if err != nil {
				continue // reported by stored
			}
			rm.e.data, rm.e.pos = data, 0
		}
		kept = append(kept, rm)
	}
	return kept
}

// bumpSeq makes the numbering of tg's queue or topic continue after seq.
func (r *Recovery) bumpSeq(tg target, seq int64) {
	switch {
	case tg.top != nil:
		tg.top.mu.Lock()
		tg.top.seq = max(tg.top.seq, seq)
		tg.top.mu.Unlock()
	case tg.ent.topic != nil:
		r.bumpSeq(target{top: tg.ent.topic}, seq)
	default:
		tg.ent.mu.Lock()
		tg.ent.seq = max(tg.ent.seq, seq)
		tg.ent.mu.Unlock()
	}
}

func (r *Recovery) restoreDedup(tg target, entries []dedupEntry, now time.Time) {
	var d *dedupLog
	switch {
	case tg.top != nil:
		tg.top.mu.Lock()
		defer tg.top.mu.Unlock()
		d = tg.top.dedup
	case tg.ent != nil && tg.ent.topic == nil:
		tg.ent.mu.Lock()
		defer tg.ent.mu.Unlock()
		d = tg.ent.dedup
	}
	if d == nil {
		return
	}
	for _, e := range entries {
		if now.Sub(e.at) < d.window {
			if _, ok := d.seen[e.id]; !ok {
				d.seen[e.id] = e.at
				d.order = append(d.order, e)
			}
		}
	}
}

// restore puts a recovered message back; the entity's mu is held. A lock
// held at the crash has expired: the delivery counts (see Recovery).
func (s *store) restore(rm *recovered, now time.Time) {
	e := rm.e
	if e.ext != nil {
		e.ext.lockToken, e.ext.lockedUntil = uuid.Nil, time.Time{}
	}
	dlqNow := false
	if rm.locked && !s.dlq {
		if int(e.deliveryCount)+1 >= s.ent.limits.maxDeliveryCount {
			dlqNow = true
		} else {
			e.deliveryCount++
		}
	}
	s.add(e, now)
	if dlqNow && s.all.get(e.seq) == e {
		s.deadLetter(e, ReasonMaxDeliveryCountExceeded,
			fmt.Sprintf("Message could not be consumed after %d delivery attempts.", s.ent.limits.maxDeliveryCount), nil, now)
	}
}

// restoreScheduled puts recovered scheduled messages back at the topic.
func (t *topic) restoreScheduled(list []*recovered, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, rm := range list {
		e := rm.e
		t.scheduled.insert(e.seq, e)
		t.quota.add(e)
		t.timers.set(e, e.scheduled())
	}
	t.alarm.arm(t.timers.next(), now)
}

// Snapshot emits records that rebuild the broker's current messages,
// sequence numbers, duplicate-detection history and session states: the
// content of a compacted journal. Messages locked now are emitted with a
// lock record, so a crash before they are settled counts the delivery.
// emit must not keep rec after it returns (SnapshotAt).
func (b *Broker) Snapshot(emit func(rec []byte) error) error {
	return b.SnapshotAt(func(rec []byte) (uint64, error) { return 0, emit(rec) })
}

// SnapshotAt is Snapshot whose emit returns where each record went (a
// ColdLog's compaction): each stored message's position becomes its
// snapshot record's, under the entity's lock, so that once the snapshot is
// over no message refers to the log's previous file (which the compaction
// then closes). A position of 0 changes nothing. emit must not keep rec
// after it returns: messages' records are encoded into one buffer (the
// log copies each record).
func (b *Broker) SnapshotAt(emit func(rec []byte) (uint64, error)) error {
	putAt := func(fields ...any) (uint64, error) {
		rec, err := enc.AppendList(nil, fields)
		if err != nil {
			return 0, err
		}
		return emit(rec)
	}
	put := func(fields ...any) error {
		_, err := putAt(fields...)
		return err
	}
	if err := b.snapshotEntities(put); err != nil {
		return err
	}
	b.mu.RLock()
	topics := slices.Collect(maps.Values(b.topics))
	b.mu.RUnlock()
	for _, t := range topics {
		t.mu.Lock()
		var err error
		t.scheduled.ascend(0, func(e *entry) bool {
			// Scheduled at a topic: always hot (never given a position).
			err = put(messageRecord(t.name, e.message(e.data))...)
			return err == nil
		})
		if err == nil {
			err = put(recSeq, t.name, t.seq)
		}
		if err == nil {
			err = snapshotDedup(put, t.name, t.dedup)
		}
		t.mu.Unlock()
		if err != nil {
			return err
		}
	}
	for _, ent := range b.snapshot() {
		ent.mu.Lock()
		err := ent.snapshotTo(putAt, emit)
		ent.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// snapshotEntities emits the definition of every entity: topics, queues,
// then subscriptions (after their topic).
func (b *Broker) snapshotEntities(put func(fields ...any) error) error {
	def := func(kind EntityKind, topic, name string) error {
		d, err := b.entityDefOf(kind, topic, name)
		if err != nil {
			return err
		}
		js, err := json.Marshal(d)
		if err != nil {
			return err
		}
		return put(recEntity, kind.String(), topic, name, js)
	}
	for _, t := range b.Topics() {
		if err := def(KindTopic, "", t); err != nil {
			return err
		}
	}
	for _, q := range b.Queues() {
		if err := def(KindQueue, "", q); err != nil {
			return err
		}
	}
	for _, t := range b.Topics() {
		subs, err := b.Subscriptions(t)
		if err != nil {
			continue // deleted meanwhile
		}
		for _, s := range subs {
			if err := def(KindSubscription, t, s); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *entity) snapshotTo(putAt func(fields ...any) (uint64, error), emit func(rec []byte) (uint64, error)) error {
	put := func(fields ...any) error {
		_, err := putAt(fields...)
		return err
	}
	var err error
	var rec []byte // each message's record, encoded into the same buffer (emit copies it)
	for _, s := range []*store{e.main, e.dlq} {
		s.all.ascend(0, func(en *entry) bool {
			if rec, err = e.b.appendRecord(rec[:0], s.path, en); err != nil {
				return false
			}
			var pos uint64
			if pos, err = emit(rec); err == nil && en.lockToken() != uuid.Nil {
				err = put(recLock, s.path, en.seq)
			}
			if err == nil && pos != 0 {
				en.pos = pos
			}
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	if e.topic == nil {
		if err := put(recSeq, e.path, e.seq); err != nil {
			return err
		}
		if err := snapshotDedup(put, e.path, e.dedup); err != nil {
			return err
		}
	}
	if e.sessions != nil {
		for id, m := range e.sessions.byID {
			if m.state != nil {
				if err := put(recSession, e.path, id, m.state); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func snapshotDedup(put func(fields ...any) error, path string, d *dedupLog) error {
	if d == nil {
		return nil
	}
	for _, e := range d.order {
		if d.seen[e.id].Equal(e.at) {
			if err := put(recDedup, path, e.id, e.at.UnixNano()); err != nil {
				return err
			}
		}
	}
	return nil
}
