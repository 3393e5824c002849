package lru

import (
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := New[string, int](3)
	for i, k := range []string{"a", "b", "c"} {
		c.Put(k, i, now.Add(time.Minute), now)
	}
	if v, ok := c.Get("a", now); !ok || v != 0 {
		t.Fatalf("a: %v %v", v, ok)
	}
	// "b" is now the least recently used: adding "d" evicts it.
	c.Put("d", 3, now.Add(time.Minute), now)
	if _, ok := c.Get("b", now); ok {
		t.Error("b not evicted")
	}
	if c.Len() != 3 {
		t.Errorf("len %d", c.Len())
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := c.Get(k, now); !ok {
			t.Errorf("%s evicted", k)
		}
	}
	// Expiry removes on lookup.
	later := now.Add(time.Minute)
	if _, ok := c.Get("a", later); ok {
		t.Error("expired entry returned")
	}
	if c.Len() != 2 {
		t.Errorf("expired entry kept: len %d", c.Len())
	}
	// Put sweeps expired entries at the cold end.
	c.Put("e", 4, later.Add(time.Minute), later)
	if c.Len() != 1 {
		t.Errorf("expired entries not swept by Put: len %d", c.Len())
	}
	// Overwrite keeps one entry.
	c.Put("e", 5, later.Add(time.Minute), later)
	if v, _ := c.Get("e", later); v != 5 || c.Len() != 1 {
		t.Errorf("overwrite: %d, len %d", v, c.Len())
	}
	c.Delete("e")
	if c.Len() != 0 {
		t.Error("delete")
	}
}

func TestCacheBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := New[int, int](100)
	for i := range 10_000 {
		c.Put(i, i, now.Add(time.Hour), now)
	}
	if c.Len() != 100 {
		t.Fatalf("len %d, want 100", c.Len())
	}
	if _, ok := c.Get(9_999, now); !ok {
		t.Error("newest evicted")
	}
}
