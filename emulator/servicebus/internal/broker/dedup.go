package broker

import (
	"fmt"
	"strings"
	"time"
)

// dedupLog is the duplicate-detection history of a queue or topic: the
// MessageIds accepted during the last window. A send whose MessageId is in
// it is accepted and dropped, as on Service Bus (the send is reported as
// accepted and the new message is ignored). The window counts from the first accepted send
// of an id; duplicates do not extend it. Messages without a MessageId are
// never duplicates. Guarded by the owning queue's or topic's mutex.
type dedupLog struct {
	window time.Duration
	seen   map[string]time.Time
	order  []dedupEntry // in acceptance order, so expired ids leave from the front
}

type dedupEntry struct {
	id string
	at time.Time
}

// newDedupLog returns nil (detection off) unless on.
func newDedupLog(on bool, window time.Duration) *dedupLog {
	if !on {
		return nil
	}
	if window <= 0 {
		window = DefaultDuplicateDetectionWindow
	}
	return &dedupLog{window: window, seen: make(map[string]time.Time)}
}

// duplicate reports whether m repeats a MessageId accepted within the
// window before now, and records it otherwise. A nil log finds nothing.
func (d *dedupLog) duplicate(m *Message, now time.Time) bool {
	if d == nil || !m.Properties.Has(PropMessageID) {
		return false
	}
	v, ok := idString(m.Properties.MessageID)
	if !ok {
		return false
	}
	id := v.(string)
	d.expire(now)
	if at, ok := d.seen[id]; ok && now.Sub(at) < d.window {
		return true
	}
	// A clone: the id may be a view of the sent transfer's buffer
	// (decodeSent), which the history must not keep alive after the
	// message is gone.
	id = strings.Clone(id)
	d.seen[id] = now
	d.order = append(d.order, dedupEntry{id: id, at: now})
	return false
}

// expire forgets the ids older than the window.
func (d *dedupLog) expire(now time.Time) {
	n := 0
	for _, e := range d.order {
		if now.Sub(e.at) < d.window {
			break
		}
		if d.seen[e.id].Equal(e.at) {
			delete(d.seen, e.id)
		}
		n++
	}
	if n > 0 {
		d.order = append(d.order[:0], d.order[n:]...)
	}
}

// checkWindow refuses a negative DuplicateDetectionHistoryTimeWindow.
func checkWindow(what string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s: DuplicateDetectionHistoryTimeWindow %v is negative: %w", what, d, ErrInvalid)
	}
	return nil
}
