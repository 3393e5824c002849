// Package storetest is the behavioural conformance suite for implementations
// of [store.Store]: every implementation (in-memory, Redis) runs the same
// [Run] so they cannot drift apart, and stores several processes share
// (Redis) also run [RunShared], the behaviours between two of them. It
// uses real time with short TTLs, so a full run takes a few seconds.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/store"
)

// KeyLister is implemented by stores that can list their raw stored keys.
// When the store under test implements it, the suite checks that no caller
// key is stored in clear. Both [store.Memory] and the Redis store (package store/redis) implement it.
type KeyLister interface {
	// StoredKeys returns every key the store holds under its prefix.
	StoredKeys(ctx context.Context) ([]string, error)
}

// Timing of the expiry tests. Redis expires with millisecond granularity.
const (
	shortTTL = 80 * time.Millisecond
	longTTL  = time.Minute
	// settle is how long the tests wait for a shortTTL entry to expire.
	settle = 3 * shortTTL
)

// Contenders is the number of goroutines racing in the atomicity tests.
const Contenders = 200

// Run runs every behaviour subtest against the implementation built by
// newStore. newStore is called once per subtest and must return an empty
// store that shares no keys with stores returned earlier (for a shared
// backend, use a fresh Prefix each time); it should register any cleanup of
// the backend with t.Cleanup. The suite closes each store it gets.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"TokenPutConsumeOnce", testTokenPutConsumeOnce},
		{"TokenConsumeMissing", testTokenConsumeMissing},
		{"TokenPutExisting", testTokenPutExisting},
		{"TokenExpiry", testTokenExpiry},
		{"TokenValueIsCopied", testTokenValueIsCopied},
		{"TokenEmptyValue", testTokenEmptyValue},
		{"TokenPeek", testTokenPeek},
		{"TokenSpend", testTokenSpend},
		{"TokenSpendExpiry", testTokenSpendExpiry},
		{"NonceReplay", testNonceReplay},
		{"NonceExpiry", testNonceExpiry},
		{"KVSetGetDelete", testKVSetGetDelete},
		{"KVExpiry", testKVExpiry},
		{"KVCompareAndSwap", testKVCompareAndSwap},
		{"KVClaim", testKVClaim},
		{"KVClaimFree", testKVClaimFree},
		{"KVCompareAndDelete", testKVCompareAndDelete},
		{"KVCompareExpired", testKVCompareExpired},
		{"NamespacesAreSeparate", testNamespacesAreSeparate},
		{"RateLimitExact", testRateLimitExact},
		{"RateLimitWindow", testRateLimitWindow},
		{"RateLimitReset", testRateLimitReset},
		{"WatchNotify", testWatchNotify},
		{"BadInput", testBadInput},
		{"ContextCanceled", testContextCanceled},
		{"Ping", testPing},
		{"Closed", testClosed},
		{"KeysNotInClear", testKeysNotInClear},
		{"ConcurrentConsume", testConcurrentConsume},
		{"ConcurrentMarkUsed", testConcurrentMarkUsed},
		{"ConcurrentSpend", testConcurrentSpend},
		{"ConcurrentCompareAndSwap", testConcurrentCompareAndSwap},
		{"ConcurrentClaim", testConcurrentClaim},
		{"ConcurrentAllow", testConcurrentAllow},
		{"ConcurrentDistinctKeys", testConcurrentDistinctKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// secret returns a random key that looks like a bearer token.
func secret(label string) string {
	return label + "-" + rand.Text()
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantValue(t *testing.T, what string, got []byte, err error, want []byte) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func testTokenPutConsumeOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("qr")
	noErr(t, "Put", s.Put(ctx, k, []byte("payload"), longTTL))
	v, err := s.Consume(ctx, k)
	wantValue(t, "first Consume", v, err, []byte("payload"))
	_, err = s.Consume(ctx, k)
	wantErr(t, "second Consume", err, store.ErrNotFound)
}

func testTokenConsumeMissing(t *testing.T, s store.Store) {
	v, err := s.Consume(t.Context(), secret("never-put"))
	wantErr(t, "Consume", err, store.ErrNotFound)
	if v != nil {
		t.Fatalf("Consume returned %q with ErrNotFound", v)
	}
}

func testTokenPutExisting(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("qr")
	noErr(t, "Put", s.Put(ctx, k, []byte("first"), longTTL))
	wantErr(t, "Put over live token", s.Put(ctx, k, []byte("second"), longTTL), store.ErrExists)
	v, err := s.Consume(ctx, k)
	wantValue(t, "Consume", v, err, []byte("first"))
	// Once consumed, the key is free again.
	noErr(t, "Put after Consume", s.Put(ctx, k, []byte("third"), longTTL))
}

func testTokenExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	short, long := secret("short"), secret("long")
	noErr(t, "Put short", s.Put(ctx, short, []byte("s"), shortTTL))
	noErr(t, "Put long", s.Put(ctx, long, []byte("l"), longTTL))
	time.Sleep(settle)
	_, err := s.Consume(ctx, short)
	wantErr(t, "Consume expired", err, store.ErrNotFound)
	v, err := s.Consume(ctx, long)
	wantValue(t, "Consume live", v, err, []byte("l"))

	// An expired token does not block a new Put under its key.
	again := secret("again")
	noErr(t, "Put", s.Put(ctx, again, []byte("1"), shortTTL))
	time.Sleep(settle)
	noErr(t, "Put after expiry", s.Put(ctx, again, []byte("2"), longTTL))
	v, err = s.Consume(ctx, again)
	wantValue(t, "Consume", v, err, []byte("2"))
}

func testTokenValueIsCopied(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("qr")
	val := []byte("original")
	noErr(t, "Put", s.Put(ctx, k, val, longTTL))
	copy(val, "MUTATED!")
	v, err := s.Consume(ctx, k)
	wantValue(t, "Consume", v, err, []byte("original"))
}

func testTokenEmptyValue(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("qr")
	noErr(t, "Put nil value", s.Put(ctx, k, nil, longTTL))
	v, err := s.Consume(ctx, k)
	wantValue(t, "Consume", v, err, nil)
	_, err = s.Consume(ctx, k)
	wantErr(t, "second Consume", err, store.ErrNotFound)
}

func testTokenPeek(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("rt")
	_, err := s.Peek(ctx, k)
	wantErr(t, "Peek missing", err, store.ErrNotFound)
	noErr(t, "Put", s.Put(ctx, k, []byte("record"), longTTL))
	v, err := s.Peek(ctx, k)
	wantValue(t, "Peek", v, err, []byte("record"))
	// The caller owns what Peek returns, and Peek does not consume.
	v[0] = 'X'
	v, err = s.Peek(ctx, k)
	wantValue(t, "Peek again", v, err, []byte("record"))
	_, err = s.Get(ctx, k)
	wantErr(t, "Get of a token", err, store.ErrNotFound)
	v, err = s.Consume(ctx, k)
	wantValue(t, "Consume after Peek", v, err, []byte("record"))
	_, err = s.Peek(ctx, k)
	wantErr(t, "Peek consumed", err, store.ErrNotFound)
	noErr(t, "Set", s.Set(ctx, k, []byte("kv"), longTTL))
	_, err = s.Peek(ctx, k)
	wantErr(t, "Peek of a key/value entry", err, store.ErrNotFound)
	noErr(t, "Put empty", s.Put(ctx, k, nil, longTTL))
	v, err = s.Peek(ctx, k)
	wantValue(t, "Peek empty value", v, err, nil)
}

func testTokenSpend(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("rt")
	_, err := s.Spend(ctx, k, longTTL)
	wantErr(t, "Spend missing", err, store.ErrNotFound)
	noErr(t, "Put", s.Put(ctx, k, []byte("record"), longTTL))
	v, err := s.Spend(ctx, k, longTTL)
	wantValue(t, "first Spend", v, err, []byte("record"))
	v[0] = 'X'
	for _, what := range []string{"second Spend", "third Spend"} {
		v, err = s.Spend(ctx, k, longTTL)
		wantErr(t, what, err, store.ErrReplayed)
		if string(v) != "record" {
			t.Fatalf("%s = %q, want the spent value", what, v)
		}
	}
	_, err = s.Peek(ctx, k)
	wantErr(t, "Peek spent", err, store.ErrNotFound)
	_, err = s.Consume(ctx, k)
	wantErr(t, "Consume spent", err, store.ErrNotFound)
	wantErr(t, "Put over spent", s.Put(ctx, k, []byte("again"), longTTL), store.ErrExists)
	// Consume and Put left the spent token as it was.
	v, err = s.Spend(ctx, k, longTTL)
	wantErr(t, "Spend after Consume and Put", err, store.ErrReplayed)
	if string(v) != "record" {
		t.Fatalf("Spend after Consume and Put = %q", v)
	}
	// A consumed token cannot be spent, an empty value can.
	c := secret("code")
	noErr(t, "Put", s.Put(ctx, c, nil, longTTL))
	_, err = s.Consume(ctx, c)
	noErr(t, "Consume", err)
	_, err = s.Spend(ctx, c, longTTL)
	wantErr(t, "Spend consumed", err, store.ErrNotFound)
	noErr(t, "Put empty", s.Put(ctx, c, nil, longTTL))
	v, err = s.Spend(ctx, c, longTTL)
	wantValue(t, "Spend empty value", v, err, nil)
	v, err = s.Spend(ctx, c, longTTL)
	if !errors.Is(err, store.ErrReplayed) || len(v) != 0 {
		t.Fatalf("Spend empty value again = %q, %v", v, err)
	}
}

// testTokenSpendExpiry: a spent token lives for Spend's ttl, not its own.
func testTokenSpendExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	longer, shorter, expired := secret("longer"), secret("shorter"), secret("expired")
	noErr(t, "Put", s.Put(ctx, longer, []byte("l"), shortTTL))
	noErr(t, "Put", s.Put(ctx, shorter, []byte("s"), longTTL))
	noErr(t, "Put", s.Put(ctx, expired, []byte("e"), shortTTL))
	_, err := s.Spend(ctx, longer, longTTL)
	noErr(t, "Spend longer", err)
	_, err = s.Spend(ctx, shorter, shortTTL)
	noErr(t, "Spend shorter", err)
	time.Sleep(settle)
	v, err := s.Spend(ctx, longer, longTTL)
	wantErr(t, "Spend after the token's own ttl", err, store.ErrReplayed)
	if string(v) != "l" {
		t.Fatalf("Spend after the token's own ttl = %q", v)
	}
	_, err = s.Spend(ctx, shorter, longTTL)
	wantErr(t, "Spend after the spent ttl", err, store.ErrNotFound)
	noErr(t, "Put after the spent ttl", s.Put(ctx, shorter, []byte("new"), longTTL))
	v, err = s.Peek(ctx, shorter)
	wantValue(t, "Peek new token", v, err, []byte("new"))
	_, err = s.Spend(ctx, expired, longTTL)
	wantErr(t, "Spend expired", err, store.ErrNotFound)
	_, err = s.Peek(ctx, expired)
	wantErr(t, "Peek expired", err, store.ErrNotFound)
}

func testNonceReplay(t *testing.T, s store.Store) {
	ctx := t.Context()
	jti := secret("jti")
	noErr(t, "first MarkUsed", s.MarkUsed(ctx, jti, longTTL))
	wantErr(t, "second MarkUsed", s.MarkUsed(ctx, jti, longTTL), store.ErrReplayed)
	wantErr(t, "third MarkUsed", s.MarkUsed(ctx, jti, longTTL), store.ErrReplayed)
	noErr(t, "MarkUsed other nonce", s.MarkUsed(ctx, secret("jti"), longTTL))
}

func testNonceExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	short, long := secret("short"), secret("long")
	noErr(t, "MarkUsed short", s.MarkUsed(ctx, short, shortTTL))
	noErr(t, "MarkUsed long", s.MarkUsed(ctx, long, longTTL))
	time.Sleep(settle)
	noErr(t, "MarkUsed after expiry", s.MarkUsed(ctx, short, longTTL))
	wantErr(t, "MarkUsed again", s.MarkUsed(ctx, short, longTTL), store.ErrReplayed)
	wantErr(t, "MarkUsed live", s.MarkUsed(ctx, long, longTTL), store.ErrReplayed)
}

func testKVSetGetDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("session")
	_, err := s.Get(ctx, k)
	wantErr(t, "Get missing", err, store.ErrNotFound)
	noErr(t, "Set", s.Set(ctx, k, []byte("v1"), longTTL))
	v, err := s.Get(ctx, k)
	wantValue(t, "Get", v, err, []byte("v1"))
	// The caller owns what Get returns.
	v[0] = 'X'
	v, err = s.Get(ctx, k)
	wantValue(t, "Get after mutating result", v, err, []byte("v1"))
	// Get does not consume.
	v, err = s.Get(ctx, k)
	wantValue(t, "Get again", v, err, []byte("v1"))
	noErr(t, "Set overwrite", s.Set(ctx, k, []byte("v2"), longTTL))
	v, err = s.Get(ctx, k)
	wantValue(t, "Get overwritten", v, err, []byte("v2"))
	noErr(t, "Delete", s.Delete(ctx, k))
	_, err = s.Get(ctx, k)
	wantErr(t, "Get deleted", err, store.ErrNotFound)
	noErr(t, "Delete missing", s.Delete(ctx, k))
	noErr(t, "Set nil value", s.Set(ctx, k, nil, longTTL))
	v, err = s.Get(ctx, k)
	wantValue(t, "Get empty value", v, err, nil)
}

func testKVExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	short, long, refreshed := secret("short"), secret("long"), secret("refreshed")
	noErr(t, "Set short", s.Set(ctx, short, []byte("s"), shortTTL))
	noErr(t, "Set long", s.Set(ctx, long, []byte("l"), longTTL))
	noErr(t, "Set refreshed", s.Set(ctx, refreshed, []byte("r1"), shortTTL))
	noErr(t, "Set refreshed again", s.Set(ctx, refreshed, []byte("r2"), longTTL))
	time.Sleep(settle)
	_, err := s.Get(ctx, short)
	wantErr(t, "Get expired", err, store.ErrNotFound)
	v, err := s.Get(ctx, long)
	wantValue(t, "Get live", v, err, []byte("l"))
	v, err = s.Get(ctx, refreshed)
	wantValue(t, "Get refreshed", v, err, []byte("r2"))
}

func testKVCompareAndSwap(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("session")
	swap := func(what string, old, value string, ttl time.Duration, want bool) {
		t.Helper()
		ok, err := s.CompareAndSwap(ctx, k, []byte(old), []byte(value), ttl)
		noErr(t, what, err)
		if ok != want {
			t.Fatalf("%s swapped %v, want %v", what, ok, want)
		}
	}
	swap("CompareAndSwap missing", "", "v1", longTTL, false)
	_, err := s.Get(ctx, k)
	wantErr(t, "Get after a swap of a missing key", err, store.ErrNotFound)
	noErr(t, "Set", s.Set(ctx, k, []byte("v1"), longTTL))
	swap("CompareAndSwap from another value", "v0", "v2", longTTL, false)
	v, err := s.Get(ctx, k)
	wantValue(t, "Get after a refused swap", v, err, []byte("v1"))
	swap("CompareAndSwap", "v1", "v2", longTTL, true)
	v, err = s.Get(ctx, k)
	wantValue(t, "Get swapped", v, err, []byte("v2"))
	swap("CompareAndSwap from the old value again", "v1", "v3", longTTL, false)
	swap("CompareAndSwap to empty", "v2", "", longTTL, true)
	swap("CompareAndSwap from empty", "", "v4", longTTL, true)
	// The swap's ttl replaces the value's.
	swap("CompareAndSwap short", "v4", "v5", shortTTL, true)
	time.Sleep(settle)
	_, err = s.Get(ctx, k)
	wantErr(t, "Get after the swapped value's ttl", err, store.ErrNotFound)
	swap("CompareAndSwap expired", "v5", "v6", longTTL, false)
	// A token under the same key is not a Set value.
	noErr(t, "Put", s.Put(ctx, k, []byte("v1"), longTTL))
	swap("CompareAndSwap of a token's key", "v1", "v2", longTTL, false)
}

func testKVClaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("marker")
	claim := func(what, value string, ttl time.Duration, want bool) {
		t.Helper()
		held, err := s.Claim(ctx, []byte(value), nil, ttl, k)
		noErr(t, what, err)
		if len(held) != 1 || held[0].Held != want || held[0].Freed != nil {
			t.Fatalf("%s claimed %v, want [%v]", what, held, want)
		}
	}
	claim("Claim missing", "a", longTTL, true)
	v, err := s.Get(ctx, k)
	wantValue(t, "Get claimed", v, err, []byte("a"))
	claim("Claim held by another", "b", longTTL, false)
	v, err = s.Get(ctx, k)
	wantValue(t, "Get after a refused claim", v, err, []byte("a"))
	// Claiming what one holds restarts its ttl.
	claim("Claim held short", "a", shortTTL, true)
	time.Sleep(settle)
	_, err = s.Get(ctx, k)
	wantErr(t, "Get after the claim's ttl", err, store.ErrNotFound)
	claim("Claim expired", "b", shortTTL, true)
	claim("Claim held again", "b", longTTL, true)
	time.Sleep(settle)
	v, err = s.Get(ctx, k)
	wantValue(t, "Get refreshed claim", v, err, []byte("b"))
	// A token under the same key is not a Set value.
	t2 := secret("marker")
	noErr(t, "Put", s.Put(ctx, t2, []byte("x"), longTTL))
	claim2, err := s.Claim(ctx, []byte("y"), nil, longTTL, t2)
	noErr(t, "Claim of a token's key", err)
	if !slices.Equal(helds(claim2), []bool{true}) {
		t.Fatalf("Claim of a token's key claimed %v, want the kv namespace free", claim2)
	}
	held, err := s.Claim(ctx, []byte("a"), nil, longTTL)
	noErr(t, "Claim of no keys", err)
	if len(held) != 0 {
		t.Fatalf("Claim of no keys claimed %v", held)
	}

	// Several keys (on a Cluster, in different slots): each claimed if
	// free, expired or already holding the value.
	expired := secret("marker-expired")
	noErr(t, "Set expired", s.Set(ctx, expired, []byte("b"), shortTTL))
	time.Sleep(settle)
	var mine, others, free []string
	for i := range 8 {
		mk, ok, fk := secret("marker-mine-"+strconv.Itoa(i)), secret("marker-other-"+strconv.Itoa(i)), secret("marker-free-"+strconv.Itoa(i))
		noErr(t, "Set mine", s.Set(ctx, mk, []byte("a"), longTTL))
		noErr(t, "Set other", s.Set(ctx, ok, []byte("b"), longTTL))
		mine, others, free = append(mine, mk), append(others, ok), append(free, fk)
	}
	var keys []string
	var want []bool
	for i := range mine {
		keys, want = append(keys, mine[i], others[i], free[i]), append(want, true, false, true)
	}
	keys, want = append(keys, expired, mine[0]), append(want, true, true)
	held, err = s.Claim(ctx, []byte("a"), nil, longTTL, keys...)
	noErr(t, "Claim of several keys", err)
	if !slices.Equal(helds(held), want) {
		t.Fatalf("Claim of several keys claimed %v, want %v", held, want)
	}
	for _, k := range append(append(slices.Clone(mine), free...), expired) {
		v, err := s.Get(ctx, k)
		wantValue(t, "Get of a claimed key", v, err, []byte("a"))
	}
	for _, k := range others {
		v, err := s.Get(ctx, k)
		wantValue(t, "Get of a key held by another", v, err, []byte("b"))
	}
	// Each claimed key's ttl restarts with the call's.
	held, err = s.Claim(ctx, []byte("a"), nil, shortTTL, mine...)
	noErr(t, "Claim of several held keys", err)
	if len(held) != len(mine) || slices.Contains(helds(held), false) {
		t.Fatalf("Claim of several held keys claimed %v, want all", held)
	}
	time.Sleep(settle)
	for _, k := range mine {
		_, err := s.Get(ctx, k)
		wantErr(t, "Get after the claims' ttl", err, store.ErrNotFound)
	}

	// An invalid key fails the call before any claim.
	f := secret("marker-free")
	_, err = s.Claim(ctx, []byte("a"), nil, longTTL, f, "")
	wantErr(t, "Claim with an empty key", err, store.ErrInvalidKey)
	_, err = s.Get(ctx, f)
	wantErr(t, "Get after a refused call", err, store.ErrNotFound)
}

// helds is Held of each of cs.
func helds(cs []store.Claimed) []bool {
	out := make([]bool, len(cs))
	for i, c := range cs {
		out[i] = c.Held
	}
	return out
}

// testKVClaimFree: a record (a value beginning with free) left by
// CompareAndReplace is claimed over and returned; any other value is not.
func testKVClaimFree(t *testing.T, s store.Store) {
	ctx := t.Context()
	free := []byte("=")
	held, rec, other, missing := secret("marker-held"), secret("marker-record"), secret("marker-other"), secret("marker-missing")
	noErr(t, "Set held", s.Set(ctx, held, []byte("a"), longTTL))
	noErr(t, "Set record", s.Set(ctx, rec, []byte("b"), longTTL))
	noErr(t, "Set other", s.Set(ctx, other, []byte("b"), longTTL))
	n, err := s.CompareAndReplace(ctx, []byte("b"), []byte("=12 b-1"), longTTL, rec, missing, held)
	noErr(t, "CompareAndReplace", err)
	if n != 1 {
		t.Fatalf("CompareAndReplace replaced %d, want 1", n)
	}
	v, err := s.Get(ctx, held)
	wantValue(t, "Get of a key holding another value", v, err, []byte("a"))
	_, err = s.Get(ctx, missing)
	wantErr(t, "Get of a missing key", err, store.ErrNotFound)

	got, err := s.Claim(ctx, []byte("c"), free, longTTL, held, rec, other, missing)
	noErr(t, "Claim over a record", err)
	want := []store.Claimed{{}, {Held: true, Freed: []byte("=12 b-1")}, {}, {Held: true}}
	if len(got) != len(want) {
		t.Fatalf("Claim over a record: %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Held != want[i].Held || !bytes.Equal(got[i].Freed, want[i].Freed) {
			t.Fatalf("Claim over a record: key %d %+v, want %+v", i, got[i], want[i])
		}
	}
	v, err = s.Get(ctx, rec)
	wantValue(t, "Get of a claimed record", v, err, []byte("c"))
	// Without free, a record is another's value.
	noErr(t, "Set record", s.Set(ctx, rec, []byte("=12 b-1"), longTTL))
	got, err = s.Claim(ctx, []byte("c"), nil, longTTL, rec)
	noErr(t, "Claim without free", err)
	if got[0].Held || got[0].Freed != nil {
		t.Fatalf("Claim without free over a record: %+v", got[0])
	}
	// The replacement's ttl is the call's.
	noErr(t, "Set", s.Set(ctx, other, []byte("b"), longTTL))
	if n, err := s.CompareAndReplace(ctx, []byte("b"), []byte("=1"), shortTTL, other); n != 1 || err != nil {
		t.Fatalf("CompareAndReplace short: %d %v", n, err)
	}
	time.Sleep(settle)
	_, err = s.Get(ctx, other)
	wantErr(t, "Get after the replacement's ttl", err, store.ErrNotFound)
	_, err = s.CompareAndReplace(ctx, []byte("b"), []byte("=1"), 0, other)
	wantErr(t, "CompareAndReplace with no ttl", err, store.ErrInvalidTTL)
	_, err = s.CompareAndReplace(ctx, []byte("b"), []byte("=1"), longTTL, other, "")
	wantErr(t, "CompareAndReplace with an empty key", err, store.ErrInvalidKey)
}

func testKVCompareAndDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("marker")
	del := func(what, old string, want int, keys ...string) {
		t.Helper()
		n, err := s.CompareAndDelete(ctx, []byte(old), keys...)
		noErr(t, what, err)
		if n != want {
			t.Fatalf("%s deleted %d, want %d", what, n, want)
		}
	}
	del("CompareAndDelete of no keys", "a", 0)
	del("CompareAndDelete missing", "a", 0, k)
	noErr(t, "Set", s.Set(ctx, k, []byte("a"), longTTL))
	del("CompareAndDelete of another value", "b", 0, k)
	v, err := s.Get(ctx, k)
	wantValue(t, "Get after a refused delete", v, err, []byte("a"))
	del("CompareAndDelete", "a", 1, k)
	_, err = s.Get(ctx, k)
	wantErr(t, "Get deleted", err, store.ErrNotFound)
	del("CompareAndDelete again", "a", 0, k)
	noErr(t, "Set short", s.Set(ctx, k, []byte("a"), shortTTL))
	time.Sleep(settle)
	del("CompareAndDelete expired", "a", 0, k)

	// Several keys (on a Cluster, in different slots): each deleted only
	// if it holds old.
	var held, others []string
	for i := range 8 {
		hk, ok := secret("marker-held-"+strconv.Itoa(i)), secret("marker-other-"+strconv.Itoa(i))
		noErr(t, "Set held", s.Set(ctx, hk, []byte("a"), longTTL))
		noErr(t, "Set other", s.Set(ctx, ok, []byte("b"), longTTL))
		held, others = append(held, hk), append(others, ok)
	}
	short := secret("marker-short")
	noErr(t, "Set short", s.Set(ctx, short, []byte("a"), shortTTL))
	time.Sleep(settle)
	mixed := []string{secret("marker-missing"), short}
	for i := range held {
		mixed = append(mixed, held[i], others[i])
	}
	mixed = append(mixed, held[0]) // twice: deleted once
	del("CompareAndDelete of several keys", "a", len(held), mixed...)
	for i := range held {
		_, err := s.Get(ctx, held[i])
		wantErr(t, "Get of a deleted key", err, store.ErrNotFound)
		v, err := s.Get(ctx, others[i])
		wantValue(t, "Get of a key holding another value", v, err, []byte("b"))
	}

	// An invalid key fails the call before any deletion.
	noErr(t, "Set", s.Set(ctx, k, []byte("a"), longTTL))
	_, err = s.CompareAndDelete(ctx, []byte("a"), k, "")
	wantErr(t, "CompareAndDelete with an empty key", err, store.ErrInvalidKey)
	v, err = s.Get(ctx, k)
	wantValue(t, "Get after a refused call", v, err, []byte("a"))
}

// testKVCompareExpired: an expired value, not read since it expired,
// matches no compare: CompareAndSwap and CompareAndReplace neither
// change it nor bring it back.
func testKVCompareExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	swapped, replaced := secret("expired-swap"), secret("expired-replace")
	noErr(t, "Set", s.Set(ctx, swapped, []byte("a"), shortTTL))
	noErr(t, "Set", s.Set(ctx, replaced, []byte("a"), shortTTL))
	time.Sleep(settle)
	ok, err := s.CompareAndSwap(ctx, swapped, []byte("a"), []byte("b"), longTTL)
	noErr(t, "CompareAndSwap expired", err)
	if ok {
		t.Error("CompareAndSwap swapped an expired value")
	}
	n, err := s.CompareAndReplace(ctx, []byte("a"), []byte("b"), longTTL, replaced)
	noErr(t, "CompareAndReplace expired", err)
	if n != 0 {
		t.Errorf("CompareAndReplace replaced %d expired values", n)
	}
	for _, k := range []string{swapped, replaced} {
		_, err := s.Get(ctx, k)
		wantErr(t, "Get after a compare of an expired value", err, store.ErrNotFound)
	}
}

func testNamespacesAreSeparate(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("shared")
	noErr(t, "Put", s.Put(ctx, k, []byte("token"), longTTL))
	noErr(t, "Set", s.Set(ctx, k, []byte("session"), longTTL))
	noErr(t, "MarkUsed", s.MarkUsed(ctx, k, longTTL))
	d, err := s.Allow(ctx, k, 1, time.Minute)
	noErr(t, "Allow", err)
	if !d.Allowed {
		t.Fatalf("Allow on fresh key = %+v", d)
	}
	v, err := s.Get(ctx, k)
	wantValue(t, "Get", v, err, []byte("session"))
	v, err = s.Consume(ctx, k)
	wantValue(t, "Consume", v, err, []byte("token"))
	noErr(t, "Delete", s.Delete(ctx, k))
	noErr(t, "Reset", s.Reset(ctx, k))
	wantErr(t, "MarkUsed after Delete and Reset", s.MarkUsed(ctx, k, longTTL), store.ErrReplayed)
}

func testRateLimitExact(t *testing.T, s store.Store) {
	ctx := t.Context()
	const limit = 5
	window := time.Minute
	k := secret("client")
	for i := range limit {
		d, err := s.Allow(ctx, k, limit, window)
		noErr(t, "Allow", err)
		want := store.Decision{Allowed: true, Remaining: limit - 1 - i}
		if d != want {
			t.Fatalf("Allow #%d = %+v, want %+v", i+1, d, want)
		}
	}
	for i := range 3 {
		d, err := s.Allow(ctx, k, limit, window)
		noErr(t, "Allow", err)
		if d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > window/limit {
			t.Fatalf("Allow #%d over the limit = %+v, want denied with 0 < RetryAfter <= %v", limit+1+i, d, window/limit)
		}
	}
	// Other keys are independent.
	d, err := s.Allow(ctx, secret("other"), limit, window)
	noErr(t, "Allow other key", err)
	if !d.Allowed || d.Remaining != limit-1 {
		t.Fatalf("Allow other key = %+v", d)
	}
}

func testRateLimitWindow(t *testing.T, s store.Store) {
	ctx := t.Context()
	const limit = 2
	window := 100 * time.Millisecond
	k := secret("client")
	for i := range limit {
		d, err := s.Allow(ctx, k, limit, window)
		noErr(t, "Allow", err)
		if !d.Allowed {
			t.Fatalf("Allow #%d = %+v, want allowed", i+1, d)
		}
	}
	// After a full window of silence the whole burst is available again.
	time.Sleep(window + 50*time.Millisecond)
	for i := range limit {
		d, err := s.Allow(ctx, k, limit, window)
		noErr(t, "Allow after window", err)
		if !d.Allowed || d.Remaining != limit-1-i {
			t.Fatalf("Allow #%d after window = %+v, want allowed with Remaining %d", i+1, d, limit-1-i)
		}
	}
}

func testRateLimitReset(t *testing.T, s store.Store) {
	ctx := t.Context()
	const limit = 3
	k := secret("pin")
	for range limit {
		if _, err := s.Allow(ctx, k, limit, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	d, err := s.Allow(ctx, k, limit, time.Hour)
	noErr(t, "Allow", err)
	if d.Allowed {
		t.Fatalf("Allow over the limit = %+v, want denied", d)
	}
	noErr(t, "Reset", s.Reset(ctx, k))
	d, err = s.Allow(ctx, k, limit, time.Hour)
	noErr(t, "Allow after Reset", err)
	if !d.Allowed || d.Remaining != limit-1 {
		t.Fatalf("Allow after Reset = %+v, want allowed with Remaining %d", d, limit-1)
	}
	noErr(t, "Reset missing", s.Reset(ctx, secret("never")))
}

func testBadInput(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("k")
	wantErr(t, "Put empty key", s.Put(ctx, "", []byte("v"), longTTL), store.ErrInvalidKey)
	_, err := s.Consume(ctx, "")
	wantErr(t, "Consume empty key", err, store.ErrInvalidKey)
	_, err = s.Peek(ctx, "")
	wantErr(t, "Peek empty key", err, store.ErrInvalidKey)
	_, err = s.Spend(ctx, "", longTTL)
	wantErr(t, "Spend empty key", err, store.ErrInvalidKey)
	wantErr(t, "MarkUsed empty key", s.MarkUsed(ctx, "", longTTL), store.ErrInvalidKey)
	_, err = s.Get(ctx, "")
	wantErr(t, "Get empty key", err, store.ErrInvalidKey)
	wantErr(t, "Set empty key", s.Set(ctx, "", []byte("v"), longTTL), store.ErrInvalidKey)
	wantErr(t, "Delete empty key", s.Delete(ctx, ""), store.ErrInvalidKey)
	_, err = s.CompareAndSwap(ctx, "", nil, []byte("v"), longTTL)
	wantErr(t, "CompareAndSwap empty key", err, store.ErrInvalidKey)
	_, err = s.Claim(ctx, []byte("v"), nil, longTTL, "")
	wantErr(t, "Claim empty key", err, store.ErrInvalidKey)
	_, err = s.CompareAndDelete(ctx, []byte("v"), "")
	wantErr(t, "CompareAndDelete empty key", err, store.ErrInvalidKey)
	_, err = s.Allow(ctx, "", 1, time.Minute)
	wantErr(t, "Allow empty key", err, store.ErrInvalidKey)
	wantErr(t, "Reset empty key", s.Reset(ctx, ""), store.ErrInvalidKey)
	_, _, err = s.Watch(ctx, "")
	wantErr(t, "Watch empty key", err, store.ErrInvalidKey)
	wantErr(t, "Notify empty key", s.Notify(ctx, ""), store.ErrInvalidKey)

	for _, ttl := range []time.Duration{0, -time.Second} {
		wantErr(t, "Put bad ttl", s.Put(ctx, k, []byte("v"), ttl), store.ErrInvalidTTL)
		wantErr(t, "MarkUsed bad ttl", s.MarkUsed(ctx, k, ttl), store.ErrInvalidTTL)
		wantErr(t, "Set bad ttl", s.Set(ctx, k, []byte("v"), ttl), store.ErrInvalidTTL)
	}
	noErr(t, "Set", s.Set(ctx, k, []byte("v"), longTTL))
	for _, ttl := range []time.Duration{0, -time.Second} {
		_, err = s.CompareAndSwap(ctx, k, []byte("v"), []byte("w"), ttl)
		wantErr(t, "CompareAndSwap bad ttl", err, store.ErrInvalidTTL)
		_, err = s.Claim(ctx, []byte("w"), nil, ttl, k)
		wantErr(t, "Claim bad ttl", err, store.ErrInvalidTTL)
	}
	v, err := s.Get(ctx, k)
	wantValue(t, "Get after rejected CompareAndSwap", v, err, []byte("v"))
	p := secret("p")
	noErr(t, "Put", s.Put(ctx, p, []byte("v"), longTTL))
	for _, ttl := range []time.Duration{0, -time.Second} {
		_, err = s.Spend(ctx, p, ttl)
		wantErr(t, "Spend bad ttl", err, store.ErrInvalidTTL)
	}
	v, err = s.Peek(ctx, p)
	wantValue(t, "Peek after rejected Spend", v, err, []byte("v"))
	// Nothing was stored by the rejected calls.
	_, err = s.Consume(ctx, k)
	wantErr(t, "Consume after rejected Put", err, store.ErrNotFound)
	noErr(t, "MarkUsed after rejected MarkUsed", s.MarkUsed(ctx, k, longTTL))

	for _, c := range []struct {
		limit  int
		window time.Duration
	}{
		{0, time.Minute}, {-1, time.Minute}, {store.MaxLimit + 1, time.Minute},
		{1, 0}, {1, -time.Minute}, {1, store.MinWindow - 1}, {1, store.MaxWindow + 1},
	} {
		d, err := s.Allow(ctx, k, c.limit, c.window)
		if !errors.Is(err, store.ErrInvalidLimit) || d.Allowed {
			t.Fatalf("Allow(limit %d, window %v) = %+v, %v; want ErrInvalidLimit", c.limit, c.window, d, err)
		}
	}
}

func testContextCanceled(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("qr")
	noErr(t, "Put", s.Put(ctx, k, []byte("v"), longTTL))

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with canceled context: err = %v, want context.Canceled", what, err)
		}
	}
	_, err := s.Consume(canceled, k)
	check("Consume", err)
	_, err = s.Peek(canceled, k)
	check("Peek", err)
	_, err = s.Spend(canceled, k, longTTL)
	check("Spend", err)
	other := secret("other")
	check("Put", s.Put(canceled, other, []byte("v"), longTTL))
	check("MarkUsed", s.MarkUsed(canceled, other, longTTL))
	_, err = s.Get(canceled, k)
	check("Get", err)
	check("Set", s.Set(canceled, other, []byte("v"), longTTL))
	check("Delete", s.Delete(canceled, k))
	_, err = s.CompareAndSwap(canceled, k, nil, []byte("v"), longTTL)
	check("CompareAndSwap", err)
	_, err = s.Claim(canceled, []byte("v"), nil, longTTL, k)
	check("Claim", err)
	_, err = s.CompareAndDelete(canceled, []byte("v"), k)
	check("CompareAndDelete", err)
	_, err = s.Allow(canceled, k, 1, time.Minute)
	check("Allow", err)
	check("Reset", s.Reset(canceled, k))
	check("Ping", s.Ping(canceled))
	_, _, err = s.Watch(canceled, k)
	check("Watch", err)
	check("Notify", s.Notify(canceled, k))

	// The canceled calls changed nothing.
	v, err := s.Consume(ctx, k)
	wantValue(t, "Consume after canceled Consume", v, err, []byte("v"))
	_, err = s.Consume(ctx, other)
	wantErr(t, "Consume after canceled Put", err, store.ErrNotFound)
	noErr(t, "MarkUsed after canceled MarkUsed", s.MarkUsed(ctx, other, longTTL))

	deadline, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-deadline.Done()
	_, err = s.Consume(deadline, k)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Consume with expired deadline: err = %v, want context.DeadlineExceeded", err)
	}
}

func testPing(t *testing.T, s store.Store) {
	noErr(t, "Ping", s.Ping(t.Context()))
}

func testClosed(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("k")
	noErr(t, "Put", s.Put(ctx, k, []byte("v"), longTTL))
	noErr(t, "Close", s.Close())
	noErr(t, "second Close", s.Close())
	wantErr(t, "Put", s.Put(ctx, k, []byte("v"), longTTL), store.ErrClosed)
	_, err := s.Consume(ctx, k)
	wantErr(t, "Consume", err, store.ErrClosed)
	_, err = s.Peek(ctx, k)
	wantErr(t, "Peek", err, store.ErrClosed)
	_, err = s.Spend(ctx, k, longTTL)
	wantErr(t, "Spend", err, store.ErrClosed)
	wantErr(t, "MarkUsed", s.MarkUsed(ctx, k, longTTL), store.ErrClosed)
	_, err = s.Get(ctx, k)
	wantErr(t, "Get", err, store.ErrClosed)
	wantErr(t, "Set", s.Set(ctx, k, []byte("v"), longTTL), store.ErrClosed)
	wantErr(t, "Delete", s.Delete(ctx, k), store.ErrClosed)
	_, err = s.CompareAndSwap(ctx, k, nil, []byte("v"), longTTL)
	wantErr(t, "CompareAndSwap", err, store.ErrClosed)
	_, err = s.Claim(ctx, []byte("v"), nil, longTTL, k)
	wantErr(t, "Claim", err, store.ErrClosed)
	_, err = s.CompareAndDelete(ctx, []byte("v"), k)
	wantErr(t, "CompareAndDelete", err, store.ErrClosed)
	_, err = s.Allow(ctx, k, 1, time.Minute)
	wantErr(t, "Allow", err, store.ErrClosed)
	wantErr(t, "Reset", s.Reset(ctx, k), store.ErrClosed)
	wantErr(t, "Ping", s.Ping(ctx), store.ErrClosed)
	_, _, err = s.Watch(ctx, k)
	wantErr(t, "Watch", err, store.ErrClosed)
	wantErr(t, "Notify", s.Notify(ctx, k), store.ErrClosed)
}

// namespaces are the capability namespaces a stored key may carry.
var namespaces = []string{"tok", "nonce", "kv", "rate"}

func testKeysNotInClear(t *testing.T, s store.Store) {
	lister, ok := s.(KeyLister)
	if !ok {
		t.Skip("store does not implement storetest.KeyLister")
	}
	ctx := t.Context()
	token, jti, session, client := secret("qrtoken"), secret("jti"), secret("session"), "203.0.113.7"
	noErr(t, "Put", s.Put(ctx, token, []byte("v"), longTTL))
	noErr(t, "MarkUsed", s.MarkUsed(ctx, jti, longTTL))
	noErr(t, "Set", s.Set(ctx, session, []byte("v"), longTTL))
	if _, err := s.Allow(ctx, client, 10, time.Minute); err != nil {
		t.Fatal(err)
	}
	// Notifications store nothing.
	_, stop, err := s.Watch(ctx, session)
	noErr(t, "Watch", err)
	noErr(t, "Notify", s.Notify(ctx, session))
	stop()

	keys, err := lister.StoredKeys(ctx)
	noErr(t, "StoredKeys", err)
	if len(keys) != 4 {
		t.Fatalf("StoredKeys returned %d keys, want 4 (one per capability): %q", len(keys), keys)
	}
	seen := map[string]bool{}
	prefix := ""
	for i, sk := range keys {
		for _, raw := range []string{token, jti, session, client} {
			for _, enc := range []string{
				raw,
				hex.EncodeToString([]byte(raw)),
				base64.StdEncoding.EncodeToString([]byte(raw)),
				base64.RawURLEncoding.EncodeToString([]byte(raw)),
			} {
				if strings.Contains(sk, enc) {
					t.Errorf("stored key %q contains a caller key", sk)
				}
			}
		}
		// A Redis Cluster store may end a key with a hash tag naming
		// its slot (checked above for caller data too).
		if i := strings.IndexByte(sk, '{'); i >= 0 && strings.HasSuffix(sk, "}") {
			sk = sk[:i]
		}
		colon := strings.LastIndexByte(sk, ':')
		if colon < 0 {
			t.Fatalf("stored key %q has no namespace", sk)
		}
		digest, head := sk[colon+1:], sk[:colon]
		if len(digest) != 32 {
			t.Errorf("stored key %q: digest part is %d characters, want 32", sk, len(digest))
		}
		if _, err := base64.RawURLEncoding.DecodeString(digest); err != nil {
			t.Errorf("stored key %q: digest part is not base64url: %v", sk, err)
		}
		ns := ""
		for _, n := range namespaces {
			if strings.HasSuffix(head, n) {
				ns = n
			}
		}
		if ns == "" {
			t.Fatalf("stored key %q has no known namespace", sk)
		}
		seen[ns] = true
		p := strings.TrimSuffix(head, ns)
		if i > 0 && p != prefix {
			t.Errorf("stored keys have different prefixes %q and %q", prefix, p)
		}
		prefix = p
	}
	if len(seen) != len(namespaces) {
		t.Errorf("stored keys cover namespaces %v, want all of %v", seen, namespaces)
	}
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// testWatchNotify: Notify wakes every watch of its key in the process
// before it returns, and no other: not a watch of another key, nor one
// begun after it.
func testWatchNotify(t *testing.T, s store.Store) {
	ctx := t.Context()
	k, other := secret("session"), secret("session")
	watch := func(key string) <-chan struct{} {
		t.Helper()
		ch, stop, err := s.Watch(ctx, key)
		noErr(t, "Watch", err)
		t.Cleanup(stop)
		return ch
	}
	a, b, c := watch(k), watch(k), watch(other)
	noErr(t, "Notify", s.Notify(ctx, k))
	if !closed(a) || !closed(b) {
		t.Fatal("Notify did not wake the watches of its key")
	}
	if closed(c) {
		t.Fatal("Notify woke a watch of another key")
	}
	later := watch(k)
	if closed(later) {
		t.Fatal("a watch begun after the Notify was woken by it")
	}
	noErr(t, "Notify", s.Notify(ctx, other))
	if !closed(c) || closed(later) {
		t.Fatal("Notify of the other key: its watch not woken, or the first key's woken")
	}
	_, stop, err := s.Watch(ctx, secret("gone"))
	noErr(t, "Watch", err)
	stop()
	noErr(t, "Notify of a key no one watches now", s.Notify(ctx, secret("gone")))
}

// RunShared runs the behaviours of stores that several processes share
// (one Redis): newPair returns two stores over one backend and prefix,
// as two instances of a node open them, with separate connections to
// it; it is called once per subtest and must return stores that share
// no keys with those returned earlier. The suite closes them.
func RunShared(t *testing.T, newPair func(t *testing.T) (store.Store, store.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b store.Store)
	}{
		{"NotifyAcross", testNotifyAcross},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newPair(t)
			t.Cleanup(func() {
				if err := errors.Join(a.Close(), b.Close()); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, a, b)
		})
	}
}

// testNotifyAcross: a Notify through one store wakes the watches of its
// key through the other, and no other watch. A store receives the
// notifications in the order they were sent: once the watch of the last
// key notified is woken, the others' notifications have arrived.
func testNotifyAcross(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	watch := func(key string) <-chan struct{} {
		t.Helper()
		ch, stop, err := a.Watch(ctx, key)
		noErr(t, "Watch", err)
		t.Cleanup(stop)
		return ch
	}
	k, other, last := secret("session"), secret("session"), secret("session")
	woken, untouched, fence := watch(k), watch(other), watch(last)
	noErr(t, "Notify", b.Notify(ctx, k))
	noErr(t, "Notify", b.Notify(ctx, last))
	select {
	case <-fence:
	case <-time.After(30 * time.Second): // not a timing bound: a store that never delivers
		t.Fatal("a Notify through the other store did not reach this one's watch")
	}
	if !closed(woken) {
		t.Error("a Notify through the other store did not wake this one's watch of its key")
	}
	if closed(untouched) {
		t.Error("a Notify through the other store woke a watch of another key")
	}
}

// race runs fn in Contenders goroutines released together and returns how
// many returned a nil error. Any error other than allowed fails the test.
func race(t *testing.T, allowed error, fn func() error) int {
	t.Helper()
	var (
		wins  atomic.Int64
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make(chan error, Contenders)
	)
	for range Contenders {
		wg.Go(func() {
			<-start
			err := fn()
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, allowed):
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	return int(wins.Load())
}

func testConcurrentConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("qr")
	noErr(t, "Put", s.Put(ctx, k, []byte("once"), longTTL))
	var got atomic.Value
	wins := race(t, store.ErrNotFound, func() error {
		v, err := s.Consume(ctx, k)
		if err == nil {
			got.Store(string(v))
		}
		return err
	})
	if wins != 1 {
		t.Fatalf("%d of %d concurrent Consume calls succeeded, want exactly 1", wins, Contenders)
	}
	if v, _ := got.Load().(string); v != "once" {
		t.Fatalf("winning Consume got %q, want %q", v, "once")
	}
}

func testConcurrentMarkUsed(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("jti")
	wins := race(t, store.ErrReplayed, func() error { return s.MarkUsed(ctx, k, longTTL) })
	if wins != 1 {
		t.Fatalf("%d of %d concurrent MarkUsed calls returned nil, want exactly 1", wins, Contenders)
	}
}

func testConcurrentSpend(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("rt")
	noErr(t, "Put", s.Put(ctx, k, []byte("once"), longTTL))
	wins := race(t, store.ErrReplayed, func() error {
		v, err := s.Spend(ctx, k, longTTL)
		if (err == nil || errors.Is(err, store.ErrReplayed)) && string(v) != "once" {
			return errors.New("Spend returned another value")
		}
		return err
	})
	if wins != 1 {
		t.Fatalf("%d of %d concurrent Spend calls succeeded, want exactly 1", wins, Contenders)
	}
}

func testConcurrentCompareAndSwap(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("session")
	noErr(t, "Set", s.Set(ctx, k, []byte("v0"), longTTL))
	var n atomic.Int64
	errLost := errors.New("swap lost")
	wins := race(t, errLost, func() error {
		v := strconv.FormatInt(n.Add(1), 10)
		ok, err := s.CompareAndSwap(ctx, k, []byte("v0"), []byte(v), longTTL)
		if err == nil && !ok {
			return errLost
		}
		return err
	})
	if wins != 1 {
		t.Fatalf("%d of %d concurrent swaps from one value succeeded, want exactly 1", wins, Contenders)
	}
}

func testConcurrentClaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := secret("marker")
	var n atomic.Int64
	errLost := errors.New("claim lost")
	wins := race(t, errLost, func() error {
		v := strconv.FormatInt(n.Add(1), 10)
		held, err := s.Claim(ctx, []byte(v), nil, longTTL, k)
		if err == nil && !held[0].Held {
			return errLost
		}
		return err
	})
	if wins != 1 {
		t.Fatalf("%d of %d concurrent claims of a free key succeeded, want exactly 1", wins, Contenders)
	}
}

// errDenied marks a denied Allow inside race.
var errDenied = errors.New("denied")

func testConcurrentAllow(t *testing.T, s store.Store) {
	ctx := t.Context()
	const limit = 50
	k := secret("client")
	wins := race(t, errDenied, func() error {
		d, err := s.Allow(ctx, k, limit, time.Hour)
		if err != nil {
			return err
		}
		if !d.Allowed {
			if d.RetryAfter <= 0 {
				return errors.New("denied with RetryAfter <= 0")
			}
			return errDenied
		}
		return nil
	})
	if wins != limit {
		t.Fatalf("%d of %d concurrent Allow calls were allowed, want exactly %d", wins, Contenders, limit)
	}
}

func testConcurrentDistinctKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	var n atomic.Int64
	wins := race(t, nil, func() error {
		i := n.Add(1)
		k := secret("qr")
		want := []byte{byte(i), byte(i >> 8)}
		if err := s.Put(ctx, k, want, longTTL); err != nil {
			return err
		}
		if err := s.Set(ctx, k, want, longTTL); err != nil {
			return err
		}
		if v, err := s.Get(ctx, k); err != nil || !bytes.Equal(v, want) {
			return errors.New("Get returned another goroutine's value")
		}
		v, err := s.Consume(ctx, k)
		if err != nil {
			return err
		}
		if !bytes.Equal(v, want) {
			return errors.New("Consume returned another goroutine's value")
		}
		return nil
	})
	if wins != Contenders {
		t.Fatalf("%d of %d goroutines round-tripped their own keys", wins, Contenders)
	}
}

// BenchConsume measures one Put followed by one Consume of a fresh token (the
// life of a single-use QR token) on s. Every implementation's benchmark uses
// it, so their figures compare.
func BenchConsume(b *testing.B, s store.Store) {
	ctx := b.Context()
	val := []byte("payload-of-a-qr-token-0123456789")
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "qr-token-" + strconv.Itoa(i) + "-ZkFqY2xhc3NpZmllZA"
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := keys[i%len(keys)]
		if err := s.Put(ctx, k, val, time.Minute); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Consume(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchAllow measures one Allow over 1024 rotating client addresses on s.
func BenchAllow(b *testing.B, s store.Store) {
	ctx := b.Context()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "203.0.113." + strconv.Itoa(i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Allow(ctx, keys[i%len(keys)], 1_000_000, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
