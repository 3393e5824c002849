package store_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/store"
)

// benchConsume measures one Put followed by one Consume of a fresh token:
// the life of a single-use QR token.
func benchConsume(b *testing.B, s store.Store) {
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

func BenchmarkMemoryConsume(b *testing.B) {
	m, err := store.NewMemory(store.MemoryOptions{Prefix: "trustid:310000:"})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	benchConsume(b, m)
}

func BenchmarkRedisConsume(b *testing.B) {
	if !testredis.Installed() {
		b.Skip("redis-server not installed: run scripts/test.sh")
	}
	c := testredis.StartClient(b)
	r, err := store.NewRedis(c, store.RedisOptions{Prefix: "trustid:310000:"})
	if err != nil {
		b.Fatal(err)
	}
	benchConsume(b, r)
}

func BenchmarkMemoryAllow(b *testing.B) {
	m, err := store.NewMemory(store.MemoryOptions{Prefix: "trustid:310000:"})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := b.Context()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "203.0.113." + strconv.Itoa(i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Allow(ctx, keys[i%len(keys)], 1_000_000, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryAllowParallel(b *testing.B) {
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := m.Allow(ctx, "client-"+strconv.Itoa(i%1024), 1_000_000, time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRedisAllow(b *testing.B) {
	if !testredis.Installed() {
		b.Skip("redis-server not installed: run scripts/test.sh")
	}
	c := testredis.StartClient(b)
	r, err := store.NewRedis(c, store.RedisOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := r.Allow(ctx, "203.0.113."+strconv.Itoa(i%1024), 1_000_000, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
