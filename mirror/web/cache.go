package web

import (
	"container/list"
	"sync"
)

// lru is a least-recently-used cache bounded by the number of entries and
// by the sum of their costs (bytes, roughly). It is safe for concurrent use.
type lru[K comparable, V any] struct {
	mu       sync.Mutex
	maxLen   int
	maxCost  int64
	cost     int64
	order    *list.List // front = most recently used
	elements map[K]*list.Element
}

type lruItem[K comparable, V any] struct {
	key  K
	val  V
	cost int64
}

func newLRU[K comparable, V any](maxLen int, maxCost int64) *lru[K, V] {
	return &lru[K, V]{maxLen: maxLen, maxCost: maxCost, order: list.New(), elements: map[K]*list.Element{}}
}

// get returns the value for key and marks it recently used.
func (c *lru[K, V]) get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.elements[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruItem[K, V]).val, true
	}
	var zero V
	return zero, false
}

// put stores a value. A value costing more than the whole budget is not
// stored.
func (c *lru[K, V]) put(key K, val V, cost int64) {
	if cost > c.maxCost {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.elements[key]; ok {
		it := e.Value.(*lruItem[K, V])
		c.cost += cost - it.cost
		it.val, it.cost = val, cost
		c.order.MoveToFront(e)
	} else {
		c.elements[key] = c.order.PushFront(&lruItem[K, V]{key: key, val: val, cost: cost})
		c.cost += cost
	}
	for c.order.Len() > c.maxLen || c.cost > c.maxCost {
		e := c.order.Back()
		it := e.Value.(*lruItem[K, V])
		c.order.Remove(e)
		delete(c.elements, it.key)
		c.cost -= it.cost
	}
}

// remove deletes key if present.
func (c *lru[K, V]) remove(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.elements[key]; ok {
		it := e.Value.(*lruItem[K, V])
		c.order.Remove(e)
		delete(c.elements, key)
		c.cost -= it.cost
	}
}

// len returns the number of entries.
func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
