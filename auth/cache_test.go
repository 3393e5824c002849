package auth

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
)

// shardKey is a cache key in shard 0, told apart by i.
func shardKey(i int) [sha256.Size]byte {
	var k [sha256.Size]byte
	k[0] = cacheShards // shard 0
	k[1], k[2] = byte(i), byte(i>>8)
	return k
}

// TestCacheEvictsExpiredFirst fills a shard no larger than the sample,
// so the choice is deterministic: a full shard drops an expired entry,
// and with none expired the one expiring first; live entries stay.
func TestCacheEvictsExpiredFirst(t *testing.T) {
	c := newTokenCache(evictSample * cacheShards)
	const now = 1000
	for i := range evictSample {
		until := int64(now + 100 + i)
		if i == 3 {
			until = now - 1 // expired
		}
		c.put(shardKey(i), &validToken{until: until}, now)
	}
	c.put(shardKey(100), &validToken{until: now + 500}, now)
	if c.get(shardKey(100), now) == nil {
		t.Fatal("the new entry is missing")
	}
	if _, ok := c.shards[0].m[shardKey(3)]; ok {
		t.Error("the expired entry was kept")
	}
	for i := range evictSample {
		if i != 3 && c.get(shardKey(i), now) == nil {
			t.Errorf("live entry %d was dropped", i)
		}
	}
	// Full again with none expired: the entry expiring first (0) goes.
	c.put(shardKey(101), &validToken{until: now + 500}, now)
	if c.get(shardKey(0), now) != nil || c.get(shardKey(101), now) == nil {
		t.Error("with none expired, the entry expiring first should make room")
	}
	if n := len(c.shards[0].m); n != evictSample {
		t.Errorf("shard holds %d entries, want %d", n, evictSample)
	}
	// Replacing a present key drops nothing.
	c.put(shardKey(101), &validToken{until: now + 600}, now)
	if n := len(c.shards[0].m); n != evictSample {
		t.Errorf("after a replacement the shard holds %d entries, want %d", n, evictSample)
	}
	if c.get(shardKey(1), now) == nil {
		t.Error("a replacement dropped another entry")
	}
}

// BenchmarkTokenCachePutFull puts new tokens into a full default-size
// cache, as validation of tokens never seen before does. Every entry is
// its own validToken, as on a node, where reading them is cache misses.
func BenchmarkTokenCachePutFull(b *testing.B) {
	c := newTokenCache(DefaultCacheSize)
	const now = 1000
	tokens := make([]*validToken, 1<<16)
	for i := range tokens {
		tokens[i] = &validToken{until: now + 600}
	}
	for i := range DefaultCacheSize {
		c.put(sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), tokens[i], now)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.put(sha256.Sum256([]byte{1, byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)}), tokens[i%len(tokens)], now)
	}
}

// BenchmarkIntrospectNewTokens introspects access tokens the Service
// has not checked before, as a resource server's introspection of fresh
// tokens runs on a busy node (trustid-bench token-validate): the parse,
// the SM2 verification and the checks.
func BenchmarkIntrospectNewTokens(b *testing.B) {
	e := newEnv(b)
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	caller := c.Client // the registry's record, as AuthenticateClient gives it
	tokens := make([]string, b.N)
	for i := range tokens {
		tokens[i] = e.token(c, "")
	}
	ctx := context.Background()
	b.ResetTimer()
	cpu0 := testenv.CPUTime()
	for i := range b.N {
		res, err := e.svc.Introspect(ctx, caller, tokens[i])
		if err != nil || !res.Active {
			b.Fatal(res, err)
		}
	}
	// CPU time holds up better than wall time on a shared machine.
	b.ReportMetric(float64(testenv.CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
}
