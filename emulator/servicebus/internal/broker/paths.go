package broker

import "sort"

// Receivable lists the paths of every queue and subscription, sorted.
func (b *Broker) Receivable() []string {
	b.mu.RLock()
	var paths []string
	for _, q := range b.queues {
		paths = append(paths, q.path)
	}
	topics := make([]*topic, 0, len(b.topics))
	for _, t := range b.topics {
		topics = append(topics, t)
	}
	b.mu.RUnlock()
	for _, t := range topics {
		t.mu.Lock()
		for _, s := range t.subs {
			paths = append(paths, s.path)
		}
		t.mu.Unlock()
	}
	sort.Strings(paths)
	return paths
}
