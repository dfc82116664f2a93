package mirror

import (
	"container/list"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta"
)

// lru keeps hot manifests and tag answers in memory, bounded by bytes, so a
// cached tag within its TTL is answered without touching disk.
type lru struct {
	max int64

	mu    sync.Mutex
	size  int64
	order *list.List // front = most recent
	items map[lruKey]*list.Element
}

// lruKey names an entry: a manifest by digest, or a tag answer. A struct
// key costs no allocation per lookup.
type lruKey struct {
	d digest.Digest
	t meta.TagKey
}

type lruItem struct {
	key  lruKey
	cost int64
	// a manifest
	body []byte
	mt   string
	// or a tag answer
	tag meta.Tag
}

func newLRU(max int64) *lru {
	return &lru{max: max, order: list.New(), items: make(map[lruKey]*list.Element)}
}

func manifestKey(d digest.Digest) lruKey { return lruKey{d: d} }

func tagKey(k meta.TagKey) lruKey { return lruKey{t: k} }

func (c *lru) getManifest(d digest.Digest) ([]byte, string, bool) {
	it, ok := c.get(manifestKey(d))
	if !ok {
		return nil, "", false
	}
	return it.body, it.mt, true
}

func (c *lru) putManifest(d digest.Digest, body []byte, mt string) {
	c.put(&lruItem{key: manifestKey(d), cost: int64(len(body)) + 128, body: body, mt: mt})
}

func (c *lru) getTag(k meta.TagKey) (meta.Tag, bool) {
	it, ok := c.get(tagKey(k))
	if !ok {
		return meta.Tag{}, false
	}
	return it.tag, true
}

func (c *lru) putTag(k meta.TagKey, t meta.Tag) {
	c.put(&lruItem{key: tagKey(k), cost: int64(len(k.Upstream)+len(k.Repo)+len(k.Tag)) + 160, tag: t})
}

func (c *lru) removeTag(k meta.TagKey) { c.remove(tagKey(k)) }

func (c *lru) removeDigest(d digest.Digest) { c.remove(manifestKey(d)) }

func (c *lru) get(key lruKey) (*lruItem, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruItem), true
}

func (c *lru) put(it *lruItem) {
	if it.cost > c.max/4 {
		return // too big to be worth memory
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[it.key]; ok {
		c.size -= e.Value.(*lruItem).cost
		e.Value = it
		c.order.MoveToFront(e)
	} else {
		c.items[it.key] = c.order.PushFront(it)
	}
	c.size += it.cost
	for c.size > c.max {
		e := c.order.Back()
		old := e.Value.(*lruItem)
		c.order.Remove(e)
		delete(c.items, old.key)
		c.size -= old.cost
	}
}

func (c *lru) remove(key lruKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.size -= e.Value.(*lruItem).cost
		c.order.Remove(e)
		delete(c.items, key)
	}
}
