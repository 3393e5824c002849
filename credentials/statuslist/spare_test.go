package statuslist

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
)

// TestSpareAllocation: with spares, the first allocation also allocates
// the spares on disk; the next ones are handed out from them without a
// write; when half are gone they are topped up; and after a restart no
// index handed out, nor any spare, is allocated again.
func TestSpareAllocation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const spare = 8
	s, err := OpenFileStore(dir, FileStoreOptions{Spare: spare})
	if err != nil {
		t.Fatal(err)
	}
	lid, first, err := s.Allocate(ctx, status.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	diskCount := func() int {
		t.Helper()
		l, err := onDisk(s, lid)
		if err != nil {
			t.Fatal(err)
		}
		return l.count
	}
	if n := diskCount(); n != 1+spare {
		t.Fatalf("%d allocated on disk after the first allocation, want 1 + %d spares", n, spare)
	}
	handed := map[int]bool{first: true}
	// Three spares handed out: 5 left, more than half, so no top-up.
	for range 3 {
		l, idx, err := s.Allocate(ctx, status.PurposeToken)
		if err != nil || l != lid {
			t.Fatalf("allocation from a spare: %s %v", l, err)
		}
		if handed[idx] {
			t.Fatalf("index %d handed out twice", idx)
		}
		handed[idx] = true
		if disk, _ := onDisk(s, lid); !disk.isAllocated(idx) {
			t.Fatalf("spare %d handed out but not on disk", idx)
		}
	}
	if n := diskCount(); n != 1+spare {
		t.Fatalf("%d allocated on disk after three spares were taken, want %d (no write)", n, 1+spare)
	}
	// The fourth leaves half: a top-up of four more.
	if _, idx, err := s.Allocate(ctx, status.PurposeToken); err != nil || handed[idx] {
		t.Fatalf("fourth spare: %d %v", idx, err)
	} else {
		handed[idx] = true
	}
	deadline := time.Now().Add(10 * time.Second)
	for diskCount() != 1+spare+4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d allocated on disk, want %d after the top-up", diskCount(), 1+spare+4)
		}
		time.Sleep(5 * time.Millisecond)
	}
	onDiskBefore, _ := onDisk(s, lid)

	// A restart (the spares not handed out are lost, not reused).
	s2, err := OpenFileStore(dir, FileStoreOptions{Spare: spare})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		l, idx, err := s2.Allocate(ctx, status.PurposeToken)
		if err != nil {
			t.Fatal(err)
		}
		if l == lid && onDiskBefore.isAllocated(idx) {
			t.Fatalf("index %d, allocated before the restart, allocated again", idx)
		}
	}
}

// TestSpareConcurrent: concurrent allocations of every purpose with
// spares never hand out an index twice, and every index is on disk when
// Allocate returns it.
func TestSpareConcurrent(t *testing.T) {
	ctx := context.Background()
	s, err := OpenFileStore(t.TempDir(), FileStoreOptions{Spare: 16})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 24, 25
	var mu sync.Mutex
	seen := map[status.Ref]bool{}
	var wg sync.WaitGroup
	for w := range workers {
		purpose := Purposes[w%len(Purposes)]
		wg.Go(func() {
			for range each {
				lid, idx, err := s.Allocate(ctx, purpose)
				if err != nil {
					t.Error(err)
					return
				}
				if l, err := onDisk(s, lid); err != nil || !l.isAllocated(idx) {
					t.Errorf("%s %d handed out before it is on disk (%v)", lid, idx, err)
					return
				}
				r := status.Ref{ListID: lid, Index: idx}
				mu.Lock()
				dup := seen[r]
				seen[r] = true
				mu.Unlock()
				if dup {
					t.Errorf("%s %d handed out twice", lid, idx)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each && !t.Failed() {
		t.Fatalf("%d distinct entries, want %d", len(seen), workers*each)
	}
}

// TestSpareOption: a negative or too large Spare is refused.
func TestSpareOption(t *testing.T) {
	for _, n := range []int{-1, MaxSpare + 1} {
		if _, err := OpenFileStore(t.TempDir(), FileStoreOptions{Spare: n}); err == nil {
			t.Errorf("Spare %d accepted", n)
		} else if want := fmt.Sprintf("spare %d", n); !strings.Contains(err.Error(), want) {
			t.Errorf("Spare %d: %v, want it named", n, err)
		}
	}
}
