package statuslist

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/internal/testenv"
)

// TestAllocationAppendsToLog: once a list exists, allocating in it does
// not rewrite its file (the bytes stay the same): each allocation is one
// 4-byte record of the list's allocation log, and after a restart every
// allocation is there and none is handed out again.
func TestAllocationAppendsToLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lid, first, err := s.Allocate(ctx, status.PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	file := s.dir + "/" + lid + ".json"
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	got := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			l, idx, err := s.Allocate(ctx, status.PurposeRevocation)
			if err != nil || l != lid {
				t.Errorf("allocation in %s: %v", l, err)
			}
			got[i] = idx
		})
	}
	wg.Wait()
	after, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("allocations rewrote the list file")
	}
	if fi, err := os.Stat(s.allocPath(lid)); err != nil || fi.Size() != 4*n {
		t.Fatalf("allocation log: %v bytes, want %d (%v)", fi, 4*n, err)
	}
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := s2.lookup(lid)
	seen := map[int]bool{first: true}
	for _, i := range got {
		if seen[i] {
			t.Fatalf("index %d allocated twice", i)
		}
		seen[i] = true
	}
	for i := range seen {
		if !l.isAllocated(i) {
			t.Fatalf("allocation %d lost at restart", i)
		}
	}
	if l.count != n+1 {
		t.Fatalf("%d allocated after restart, want %d", l.count, n+1)
	}
}

// TestAllocationLogTorn: a torn last record (a partial one, or one out of
// range) is cut off at open and allocation goes on after it; an out of
// range record before the last is corruption.
func TestAllocationLogTorn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lid, _, _ := s.Allocate(ctx, status.PurposeSuspension)
	_, idx, err := s.Allocate(ctx, status.PurposeSuspension)
	if err != nil {
		t.Fatal(err)
	}
	for _, torn := range [][]byte{{0, 1}, {0xff, 0xff, 0xff, 0xff}} {
		f, err := os.OpenFile(s.allocPath(lid), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(torn)
		f.Close()
		s, err = OpenFileStore(dir, FileStoreOptions{})
		if err != nil {
			t.Fatalf("torn record %x: %v", torn, err)
		}
		if fi, _ := os.Stat(s.allocPath(lid)); fi.Size() != 4 {
			t.Fatalf("torn record %x not cut: %d bytes", torn, fi.Size())
		}
		if l, _ := s.lookup(lid); !l.isAllocated(idx) {
			t.Fatal("acknowledged allocation lost")
		}
	}
	if _, _, err := s.Allocate(ctx, status.PurposeSuspension); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileStore(dir, FileStoreOptions{}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(s.allocPath(lid))
	os.WriteFile(s.allocPath(lid), append([]byte{0xff, 0xff, 0xff, 0xff}, raw...), 0o600)
	if _, err := OpenFileStore(dir, FileStoreOptions{}); err == nil || !strings.Contains(err.Error(), "corrupted") {
		t.Fatalf("out-of-range record inside the log: %v", err)
	}
}

// TestAllocationSIGKILL: a child only allocating, from many goroutines
// (so in allocation-log appends, not list rewrites), is killed
// mid-stream; after a restart every acknowledged allocation is there, and
// the next allocations reuse none of them.
func TestAllocationSIGKILL(t *testing.T) { allocationSIGKILL(t, 0) }

// TestAllocationSIGKILLSpare: the same with spares (FileStoreOptions.Spare):
// an index handed out from a spare is on disk too, and neither it nor a
// spare left unused is allocated again after the restart.
func TestAllocationSIGKILLSpare(t *testing.T) { allocationSIGKILL(t, 64) }

func allocationSIGKILL(t *testing.T, spare int) {
	if testenv.IsChild() {
		t.Skip("child")
	}
	dir := t.TempDir()
	acked := map[status.Ref]bool{}
	testenv.KillChild(t, "TestGroupCommitChild", []string{"TRUSTID_STATUS_CHILD=" + dir, "TRUSTID_STATUS_ALLOC_ONLY=1", "TRUSTID_STATUS_SPARE=" + strconv.Itoa(spare)}, func(v string) bool {
		if f := strings.Fields(v); len(f) == 4 {
			idx, _ := strconv.Atoi(f[2])
			r := status.Ref{ListID: f[1], Index: idx, Purpose: status.PurposeRevocation}
			if acked[r] {
				t.Errorf("%v acknowledged twice", r)
			}
			acked[r] = true
		}
		return len(acked) < 3000
	})
	if len(acked) < 3000 {
		t.Fatalf("the child acknowledged only %d allocations", len(acked))
	}
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for r := range acked {
		l, err := s.lookup(r.ListID)
		if err != nil || !l.isAllocated(r.Index) {
			t.Fatalf("acknowledged allocation %v lost (%v)", r, err)
		}
	}
	for range 2000 {
		lid, idx, err := s.Allocate(context.Background(), status.PurposeRevocation)
		if err != nil {
			t.Fatal(err)
		}
		if r := (status.Ref{ListID: lid, Index: idx, Purpose: status.PurposeRevocation}); acked[r] {
			t.Fatalf("%v allocated again after the restart", r)
		}
	}
}
