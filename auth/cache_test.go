package auth

import (
	"context"
	"crypto/sha256"
	"sync"
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

// TestCacheEvictsExpiringFirst fills a shard: a full shard drops an
// expired entry, and with none expired exactly the one expiring first,
// whichever of its entries that is; live entries stay, a replaced or
// removed entry leaves the order right.
func TestCacheEvictsExpiringFirst(t *testing.T) {
	const perShard, now = 64, 1000
	c := newTokenCache(perShard * cacheShards)
	// Expiries in a scrambled order: entry i expires at now+100+(i*37)%64.
	until := func(i int) int64 { return now + 100 + int64(i*37%perShard) }
	for i := range perShard {
		u := until(i)
		if i == 40 {
			u = now - 1 // expired
		}
		c.put(shardKey(i), &validToken{until: u}, now)
	}
	c.put(shardKey(100), &validToken{until: now + 500}, now)
	if c.get(shardKey(100), now) == nil {
		t.Fatal("the new entry is missing")
	}
	if _, ok := c.shards[0].m[shardKey(40)]; ok {
		t.Error("the expired entry was kept")
	}
	// Full again with none expired: the entry expiring first goes, then
	// the next; i*37%64 == 0 for i == 0, == 1 for i == 45.
	for _, gone := range []int{0, 45} {
		c.put(shardKey(101+gone), &validToken{until: now + 500}, now)
		if c.get(shardKey(gone), now) != nil {
			t.Errorf("entry %d, expiring first, was kept", gone)
		}
	}
	for i := range perShard {
		if i != 40 && i != 0 && i != 45 && c.get(shardKey(i), now) == nil {
			t.Errorf("live entry %d was dropped", i)
		}
	}
	if n := len(c.shards[0].m); n != perShard {
		t.Errorf("shard holds %d entries, want %d", n, perShard)
	}
	// Replacing a present key drops nothing, and its new expiry counts:
	// entry 17 (i*37%64 == 53) now expires before every other.
	c.put(shardKey(17), &validToken{until: now + 1}, now)
	if n := len(c.shards[0].m); n != perShard {
		t.Errorf("after a replacement the shard holds %d entries, want %d", n, perShard)
	}
	// A removed entry leaves the heap too: 17 removed, the next new
	// entry fits without dropping anyone.
	c.remove(shardKey(17))
	c.put(shardKey(200), &validToken{until: now + 500}, now)
	for i := range perShard {
		if i != 40 && i != 0 && i != 45 && i != 17 && c.get(shardKey(i), now) == nil {
			t.Errorf("after a removal, live entry %d was dropped", i)
		}
	}
	// Entry 26 (i*37%64 == 2) is now the first to go, 18 (26) is not:
	// the heap still orders the shard.
	c.put(shardKey(201), &validToken{until: now + 500}, now)
	if c.get(shardKey(26), now) != nil || c.get(shardKey(18), now) == nil {
		t.Error("after a replacement and a removal, the entry expiring first did not make room")
	}
	sh := &c.shards[0]
	for i, v := range sh.byExpiry {
		if v.slot != i || sh.m[v.key] != v {
			t.Fatalf("heap slot %d holds an entry that says %d", i, v.slot)
		}
	}
	if len(sh.byExpiry) != len(sh.m) {
		t.Errorf("heap holds %d entries, map %d", len(sh.byExpiry), len(sh.m))
	}
}

// TestCacheConcurrentKeepsOrder puts, replaces and removes from many
// goroutines (run with -race): every shard stays within its bound, with
// its map and heap holding the same entries.
func TestCacheConcurrentKeepsOrder(t *testing.T) {
	c := newTokenCache(4 * cacheShards)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := sha256.Sum256([]byte{byte(g), byte(i % 97)})
				switch i % 5 {
				case 0:
					c.remove(k)
				case 1:
					c.get(k, 0)
				default:
					c.put(k, &validToken{until: int64(i % 13)}, 0)
				}
			}
		})
	}
	wg.Wait()
	for s := range c.shards {
		sh := &c.shards[s]
		if len(sh.m) > c.perShard || len(sh.byExpiry) != len(sh.m) {
			t.Fatalf("shard %d: map %d, heap %d, bound %d", s, len(sh.m), len(sh.byExpiry), c.perShard)
		}
		for i, v := range sh.byExpiry {
			if v.slot != i || sh.m[v.key] != v {
				t.Fatalf("shard %d: heap slot %d is out of step", s, i)
			}
			if p := (i - 1) / 2; i > 0 && sh.byExpiry[p].until > v.until {
				t.Fatalf("shard %d: heap order broken at %d", s, i)
			}
		}
	}
}

// BenchmarkTokenCachePutFull puts new tokens into a full default-size
// cache, as introspection of tokens never seen before does.
func BenchmarkTokenCachePutFull(b *testing.B) {
	c := newTokenCache(DefaultCacheSize)
	const now = 1000
	for i := range DefaultCacheSize {
		c.put(sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), &validToken{until: now + 600}, now)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.put(sha256.Sum256([]byte{1, byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)}), &validToken{until: now + 600}, now)
	}
}

// BenchmarkIntrospectNewTokens introspects access tokens the Service
// has not checked before, as a resource server's introspection of fresh
// tokens runs on a busy node (trustid-bench token-validate): the parse,
// the SM2 verification and the checks.
func BenchmarkIntrospectNewTokens(b *testing.B) {
	e := newEnv(b)
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	caller := Client{ID: c.ID}
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
