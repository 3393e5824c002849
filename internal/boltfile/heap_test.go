//go:build !race

// The race detector's allocations would blur the heap figures.

package boltfile_test

import (
	"path/filepath"
	"runtime"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/trustid-cn/trustid/internal/boltfile"
)

// heapGrowth appends commits entries of 3,000 bytes, a page each, and
// rewrites a 12 KB record each time, so that the free list always has
// pages for the next commit, which takes them and keeps its entry's; it
// returns the live heap's growth from the first fifth of them to the end.
func heapGrowth(t *testing.T, reopenAfter, commits int) int64 {
	path := filepath.Join(t.TempDir(), "f.db")
	d, err := boltfile.Open(path, opener(path, true, nil), boltfile.Options{ReopenAfter: reopenAfter})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	value, scratch := make([]byte, 3000), make([]byte, 12000)
	var base int64
	for i := range commits {
		if i == commits/5 {
			base = liveHeap()
		}
		if err := d.Update(func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketMeta).Put([]byte("scratch"), scratch); err != nil {
				return err
			}
			return appendEntry(tx, value)
		}); err != nil {
			t.Fatal(err)
		}
	}
	return liveHeap() - base
}

func liveHeap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestHeapBounded: over an append-only run, bbolt's record of allocated
// pages grows with the file when it is never reopened, and stays within
// the reopen interval's bound when it is.
func TestHeapBounded(t *testing.T) {
	const commits = 20000
	never := heapGrowth(t, 1<<40, commits)
	bounded := heapGrowth(t, boltfile.DefaultReopenAfter, commits)
	t.Logf("live heap growth over %d commits: %d KiB never reopened, %d KiB reopened every %d allocations",
		commits*4/5, never>>10, bounded>>10, boltfile.DefaultReopenAfter)
	// Never reopened, the growth measured moves between about 230 and 330
	// KiB from run to run (the free list's map grows in steps): the guard
	// asks for twice the bound the reopened run is held to.
	if never < 128<<10 {
		t.Fatalf("never reopened, the heap grew only %d KiB: the test no longer sees the growth it guards against", never>>10)
	}
	if bounded > 64<<10 {
		t.Fatalf("reopened, the heap grew %d KiB (never reopened: %d KiB)", bounded>>10, never>>10)
	}
}
