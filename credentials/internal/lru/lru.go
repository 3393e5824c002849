// Package lru is a bounded cache with expiry for the credentials package:
// resolved keys and fetched documents. It holds at most its capacity,
// evicting the least recently used entry; an expired entry is removed
// when it is looked up, and the oldest entries are swept on every Put.
package lru

import (
	"container/list"
	"sync"
	"time"
)

// Cache maps K to V with a capacity and per-entry expiry. The zero value
// is not usable; build one with New. It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *entry[K, V], most recently used first
	items map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key     K
	val     V
	expires time.Time
}

// New returns a cache of at most capacity entries (at least 1).
func New[K comparable, V any](capacity int) *Cache[K, V] {
	return &Cache[K, V]{max: max(1, capacity), order: list.New(), items: map[K]*list.Element{}}
}

// Get returns the value for k if it is present and not expired at now;
// an expired entry is removed.
func (c *Cache[K, V]) Get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.items[k]
	if !ok {
		return zero, false
	}
	e := el.Value.(*entry[K, V])
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, k)
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.val, true
}

// Put stores v for k until expires, evicting expired entries from the
// least recently used end and then, when full, the least recently used
// entry. now is the current time.
func (c *Cache[K, V]) Put(k K, v V, expires, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		e := el.Value.(*entry[K, V])
		e.val, e.expires = v, expires
		c.order.MoveToFront(el)
		return
	}
	// Drop expired entries at the cold end (bounded work per Put).
	for range 4 {
		back := c.order.Back()
		if back == nil || now.Before(back.Value.(*entry[K, V]).expires) {
			break
		}
		c.order.Remove(back)
		delete(c.items, back.Value.(*entry[K, V]).key)
	}
	for c.order.Len() >= c.max {
		back := c.order.Back()
		c.order.Remove(back)
		delete(c.items, back.Value.(*entry[K, V]).key)
	}
	c.items[k] = c.order.PushFront(&entry[K, V]{key: k, val: v, expires: expires})
}

// Delete removes k.
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.order.Remove(el)
		delete(c.items, k)
	}
}

// Len returns the number of entries held, expired ones included until
// they are swept.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
