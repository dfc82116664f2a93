package limit

import (
	"container/list"
	"net/netip"
	"sync"
)

// table is a bounded LRU of clients.
type table struct {
	max   int
	fresh func() *client
	mu    sync.Mutex
	m     map[netip.Prefix]*list.Element
	order *list.List // front: most recently seen; values are *entry
}

type entry struct {
	key netip.Prefix
	c   *client
}

func newTable(max int, fresh func() *client) *table {
	return &table{max: max, fresh: fresh, m: make(map[netip.Prefix]*list.Element), order: list.New()}
}

// get returns key's client, creating it (and forgetting the least recently
// seen one when the table is full).
func (t *table) get(key netip.Prefix) *client {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.m[key]; ok {
		t.order.MoveToFront(e)
		return e.Value.(*entry).c
	}
	if t.order.Len() >= t.max {
		old := t.order.Back()
		t.order.Remove(old)
		delete(t.m, old.Value.(*entry).key)
	}
	c := t.fresh()
	t.m[key] = t.order.PushFront(&entry{key: key, c: c})
	return c
}

func (t *table) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.order.Len()
}
