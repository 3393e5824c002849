package auth

import (
	"crypto/sha256"
	"sync"
)

// tokenCache holds validated access tokens by the SHA-256 of the token
// string, so a repeated token skips the signature check. It is bounded:
// each of its shards holds at most size/shards entries; a full shard first
// drops expired entries, then an arbitrary one. Entries are immutable and
// expire with their token (exp plus leeway). Only hashes are kept as keys.
type tokenCache struct {
	shards   [cacheShards]cacheShard
	perShard int
}

const cacheShards = 16

type cacheShard struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]*validToken
}

func newTokenCache(size int) *tokenCache {
	c := &tokenCache{perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]*validToken)
	}
	return c
}

func (c *tokenCache) shard(k [sha256.Size]byte) *cacheShard { return &c.shards[k[0]%cacheShards] }

// get returns the live entry for k, or nil.
func (c *tokenCache) get(k [sha256.Size]byte, now int64) *validToken {
	sh := c.shard(k)
	sh.mu.RLock()
	v := sh.m[k]
	sh.mu.RUnlock()
	if v == nil || now >= v.until {
		return nil
	}
	return v
}

func (c *tokenCache) put(k [sha256.Size]byte, v *validToken, now int64) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[k]; !ok && len(sh.m) >= c.perShard {
		for key, e := range sh.m {
			if now >= e.until {
				delete(sh.m, key)
			}
		}
		for key := range sh.m {
			if len(sh.m) < c.perShard {
				break
			}
			delete(sh.m, key)
		}
	}
	sh.m[k] = v
}

func (c *tokenCache) remove(k [sha256.Size]byte) {
	sh := c.shard(k)
	sh.mu.Lock()
	delete(sh.m, k)
	sh.mu.Unlock()
}

func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].m)
		c.shards[i].mu.RUnlock()
	}
	return n
}
