package auth

import (
	"crypto/sha256"
	"sync"
)

// tokenCache holds validated access tokens by the SHA-256 of the token
// string, so a repeated bearer token skips the signature check
// (Authorize; introspection and revocation verify in full). It is bounded:
// each of its shards holds at most size/shards entries; a full shard
// drops one of evictSample entries it samples to make room: an expired
// one if any, else the one expiring first. A put costs the same however
// large the shard (a full scan for expired entries on every put cost 9 %
// of the node's CPU when each token was new). Entries are immutable and
// expire with their token (validToken.until); an expired entry is never
// returned. Only hashes are kept as keys.
type tokenCache struct {
	shards   [cacheShards]cacheShard
	perShard int
}

const cacheShards = 16

type cacheShard struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]cacheEntry
}

// cacheEntry is a cached token with its expiry beside it in the map, so
// that victim reads the map's own memory: reading each sampled token's
// until through its pointer, a cache miss per entry on a busy node, was
// most of what a put cost there.
type cacheEntry struct {
	v     *validToken
	until int64
}

func newTokenCache(size int) *tokenCache {
	c := &tokenCache{perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(k [sha256.Size]byte) *cacheShard { return &c.shards[k[0]%cacheShards] }

// get returns the live entry for k, or nil.
func (c *tokenCache) get(k [sha256.Size]byte, now int64) *validToken {
	sh := c.shard(k)
	sh.mu.RLock()
	e := sh.m[k]
	sh.mu.RUnlock()
	if e.v == nil || now >= e.until {
		return nil
	}
	return e.v
}

func (c *tokenCache) put(k [sha256.Size]byte, v *validToken, now int64) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, ok := sh.m[k]; !ok && len(sh.m) >= c.perShard; {
		delete(sh.m, sh.victim(now))
	}
	sh.m[k] = cacheEntry{v: v, until: v.until}
}

// evictSample is how many entries a full shard looks at to choose one
// to drop.
const evictSample = 8

// victim is the key to drop from a full shard: among the first
// evictSample entries of a map iteration (which starts at a random
// place), an expired one, else the one expiring first. The caller holds
// the lock.
func (sh *cacheShard) victim(now int64) [sha256.Size]byte {
	var (
		key   [sha256.Size]byte
		until int64
		n     int
	)
	for k, e := range sh.m {
		if now >= e.until {
			return k
		}
		if n == 0 || e.until < until {
			key, until = k, e.until
		}
		if n++; n == evictSample {
			break
		}
	}
	return key
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
