package statuslist

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
)

// BenchmarkGetParallelWithWrites reads one entry from many goroutines
// while another goroutine keeps changing entries of the same list (each
// change rewrites and fsyncs the list's file). It measures what every
// local status check pays when status changes are being written.
func BenchmarkGetParallelWithWrites(b *testing.B) {
	ctx := context.Background()
	s, err := OpenFileStore(b.TempDir(), FileStoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	lid, idx, err := s.Allocate(ctx, status.PurposeRevocation)
	if err != nil {
		b.Fatal(err)
	}
	_, other, err := s.Allocate(ctx, status.PurposeRevocation)
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	writes := 0
	go func() {
		defer wg.Done()
		for v := uint8(0); ; v ^= 1 {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.Set(ctx, lid, other, v); err != nil {
				b.Error(err)
				return
			}
			writes++
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	var mu sync.Mutex
	var lat []time.Duration
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for i := 0; pb.Next(); i++ {
			var t0 time.Time
			if i%64 == 0 {
				t0 = time.Now()
			}
			if _, _, err := s.Get(ctx, lid, idx); err != nil {
				b.Error(err)
				return
			}
			if i%64 == 0 {
				mine = append(mine, time.Since(t0))
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(writes)/b.Elapsed().Seconds(), "writes/s")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*999/1000].Nanoseconds()), "p99.9-ns")
		b.ReportMetric(float64(lat[len(lat)*9999/10000].Nanoseconds()), "p99.99-ns")
		b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
	}
}

// BenchmarkIndexLiveBytes binds b.N credentials whose IDs the request
// chose (the IDs that go to the index; minted IDs carry their entries)
// with a revocation and a suspension entry and an owner tag as the issuer
// makes it, and reports the live heap each binding keeps for the store's
// life (index-B/binding, after a garbage collection): the memory that
// grows with such issuance. Run it with -benchtime=20000x.
func BenchmarkIndexLiveBytes(b *testing.B) {
	ctx := context.Background()
	s, err := OpenFileStore(b.TempDir(), FileStoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	refs := make([][]status.Ref, b.N)
	for i := range refs {
		for _, p := range []string{status.PurposeRevocation, status.PurposeSuspension} {
			lid, idx, err := s.Allocate(ctx, p)
			if err != nil {
				b.Fatal(err)
			}
			refs[i] = append(refs[i], status.Ref{ListID: lid, Index: idx, Purpose: p})
		}
	}
	owner := fmt.Sprintf("%064x", 1) // the issuer's tag: hex SHA-256
	live := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := live()
	b.ResetTimer()
	const workers = 64 // concurrent binds share a group commit
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < b.N; i += workers {
				if err := s.BindOwner(ctx, fmt.Sprintf("urn:uuid:%08x-0000-4000-8000-000000000000", i), owner, refs[i]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(int64(live())-int64(before))/float64(b.N), "index-B/binding")
	runtime.KeepAlive(s)
	runtime.KeepAlive(refs)
}

// BenchmarkCredentialIDRead measures what a status change does with its
// credential ID before it reaches the store: read it (MAC check) and
// check its owner tag.
func BenchmarkCredentialIDRead(b *testing.B) {
	ids, err := NewCredentialIDs(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	refs := []status.Ref{{ListID: "0123456789abcdef", Index: 4711, Purpose: status.PurposeRevocation},
		{ListID: "fedcba9876543210", Index: 815, Purpose: status.PurposeSuspension}}
	id, err := ids.Make(0, "client-a", refs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, tag, err := ids.Read(id)
		if err != nil || !ids.Owned(tag, "client-a") {
			b.Fatal("read", err)
		}
	}
}
