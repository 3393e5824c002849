package redisstore_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
	"github.com/trustid-cn/trustid/store/storetest"
)

func newRedis(t testing.TB, c redis.UniversalClient, prefix string) *redisstore.Store {
	t.Helper()
	r, err := redisstore.New(c, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() }) // its wake, if a test started it
	// A test server is new: its replay history is complete.
	if _, err := r.InitEpoch(t.Context()); err != nil {
		t.Fatal(err)
	}
	return r
}

// instances returns two stores of one prefix, as two instances of a
// node open them, each subscribed to the wake channel on its own
// connection (Subscribe: Watch does not wait for it).
func instances(t *testing.T, c redis.UniversalClient, prefix string) (store.Store, store.Store) {
	t.Helper()
	a, b := newRedis(t, c, prefix), newRedis(t, c, prefix)
	for _, s := range []*redisstore.Store{a, b} {
		if err := s.Subscribe(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func TestRedisConformance(t *testing.T) {
	t.Parallel()
	c := testredis.StartClient(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		// One server for the whole suite; a fresh prefix per subtest.
		return newRedis(t, c, fmt.Sprintf("trustid:test%d:", n.Add(1)))
	})
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		return instances(t, c, fmt.Sprintf("trustid:test%d:", n.Add(1)))
	})
	// Every key the suite left behind carries a TTL: nothing leaks forever.
	ctx := t.Context()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("suite left no keys: KEYS * sees nothing, the listing check is vacuous")
	}
	for _, k := range keys {
		if k == redisstore.EpochKey {
			continue // the server's replay epoch, shared by every prefix
		}
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		// PTTL answers -1 for a key without expiry and -2 for one that
		// expired since KEYS listed it (a short rate-limit window).
		if ttl == -1 {
			t.Errorf("key %q has no expiry", k)
		}
		if !strings.HasPrefix(k, "trustid:test") {
			t.Errorf("key %q outside the configured prefixes", k)
		}
	}
}

func TestRedisPrefixesShareOneServer(t *testing.T) {
	ctx := t.Context()
	c := testredis.StartClient(t)
	a := newRedis(t, c, "trustid:310000:")
	b := newRedis(t, c, "trustid:440000:")
	if err := a.Put(ctx, "token", []byte("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "token", []byte("b"), time.Minute); err != nil {
		t.Fatalf("Put under another prefix: %v", err)
	}
	if v, err := b.Consume(ctx, "token"); err != nil || string(v) != "b" {
		t.Fatalf("Consume b = %q, %v", v, err)
	}
	if v, err := a.Consume(ctx, "token"); err != nil || string(v) != "a" {
		t.Fatalf("Consume a = %q, %v", v, err)
	}
	if err := a.Set(ctx, "s", []byte("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	keysA, err := a.StoredKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keysB, err := b.StoredKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keysA) != 1 || len(keysB) != 0 {
		t.Fatalf("StoredKeys: a=%q b=%q, want one key in a only", keysA, keysB)
	}
}

func TestRedisPrefixWithGlobCharacters(t *testing.T) {
	ctx := t.Context()
	c := testredis.StartClient(t)
	star := newRedis(t, c, "t*:")
	plain := newRedis(t, c, "tx:")
	if err := plain.Set(ctx, "k", nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	keys, err := star.StoredKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("StoredKeys for prefix %q matched other prefixes: %q", "t*:", keys)
	}
}

func TestRedisTTLRoundsUp(t *testing.T) {
	ctx := t.Context()
	c := testredis.StartClient(t)
	r := newRedis(t, c, "p:")
	if err := r.Set(ctx, "k", []byte("v"), 500*time.Microsecond); err != nil {
		t.Fatalf("Set with sub-millisecond ttl: %v", err)
	}
	if err := r.MarkUsed(ctx, "n", 90*time.Minute); err != nil {
		t.Fatal(err)
	}
	keys, err := r.StoredKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "p:nonce:") {
			continue
		}
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil || ttl <= 89*time.Minute || ttl > 90*time.Minute {
			t.Fatalf("PTTL of nonce = %v, %v; want about 90m", ttl, err)
		}
	}
}

func TestRedisErrorsAreWrappedWithoutKeys(t *testing.T) {
	// A client for a loopback port nothing listens on.
	addr := testport.Reserve(t)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialerRetryTimeout: time.Millisecond, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	r, err := redisstore.New(c, redisstore.Options{Prefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const key = "SECRET-qr-token-7c1f"
	_, errConsume := r.Consume(ctx, key)
	_, errGet := r.Get(ctx, key)
	_, errAllow := r.Allow(ctx, key, 1, time.Second)
	for op, err := range map[string]error{
		"put":       r.Put(ctx, key, []byte("v"), time.Minute),
		"consume":   errConsume,
		"mark used": r.MarkUsed(ctx, key, time.Minute),
		"get":       errGet,
		"set":       r.Set(ctx, key, []byte("v"), time.Minute),
		"delete":    r.Delete(ctx, key),
		"allow":     errAllow,
		"reset":     r.Reset(ctx, key),
		"ping":      r.Ping(ctx),
	} {
		if err == nil {
			t.Errorf("%s against a stopped server succeeded", op)
			continue
		}
		if !strings.HasPrefix(err.Error(), "store: backend unavailable: redis "+op+": ") {
			t.Errorf("%s: error %q lacks the operation prefix", op, err)
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: backend failure %q does not match store.ErrUnavailable", op, err)
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %q contains the caller key", op, err)
		}
		for _, sentinel := range []error{store.ErrNotFound, store.ErrExists, store.ErrReplayed} {
			if errors.Is(err, sentinel) {
				t.Errorf("%s: backend failure %q matches %v", op, err, sentinel)
			}
		}
	}
}

func TestNewRedisRejectsBadInput(t *testing.T) {
	if _, err := redisstore.New(nil, redisstore.Options{}); err == nil {
		t.Error("New accepted a nil client")
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	if _, err := redisstore.New(c, redisstore.Options{Prefix: "trustid:{310000}:"}); err == nil {
		t.Error("New accepted a prefix with a hash tag")
	}
}
