package store_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/store"
	"github.com/trustid-cn/trustid/store/storetest"
)

func BenchmarkMemoryConsume(b *testing.B) {
	m, err := store.NewMemory(store.MemoryOptions{Prefix: "trustid:310000:"})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	storetest.BenchConsume(b, m)
}

func BenchmarkMemoryAllow(b *testing.B) {
	m, err := store.NewMemory(store.MemoryOptions{Prefix: "trustid:310000:"})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	storetest.BenchAllow(b, m)
}

// BenchmarkMemoryAllowKeyed is BenchmarkMemoryAllow with a KeySecret, as
// a node runs it (stored keys are HMAC-SHA-256 digests).
func BenchmarkMemoryAllowKeyed(b *testing.B) {
	m, err := store.NewMemory(store.MemoryOptions{Prefix: "trustid:310000:", KeySecret: make([]byte, 32)})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	storetest.BenchAllow(b, m)
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
