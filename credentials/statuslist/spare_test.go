package statuslist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	s := openSpareStore(t, dir, spare)
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
	s2 := openSpareStore(t, dir, spare)
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
	s := openSpareStore(t, t.TempDir(), 16)
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

// TestSpareAllocateMany: AllocateMany takes spares first, without a
// write; purposes without a spare go to one group commit (one log
// record), which tops up their spares; spares taken by an AllocateMany
// that fails are handed out later, not lost.
func TestSpareAllocateMany(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const spare = 6
	s := openSpareStore(t, dir, spare)
	seen := map[status.Ref]bool{}
	take := func(purposes ...string) []status.Ref {
		t.Helper()
		refs, err := s.AllocateMany(ctx, purposes...)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range refs {
			if seen[r] || r.Purpose != purposes[i] {
				t.Fatalf("%v: handed out twice or of the wrong purpose", r)
			}
			seen[r] = true
			if l, err := onDisk(s, r.ListID); err != nil || !l.isAllocated(r.Index) {
				t.Fatalf("%v handed out before it is on disk (%v)", r, err)
			}
		}
		return refs
	}
	// New lists: the group writes each with its entry and its spares.
	refs := take(status.PurposeRevocation, status.PurposeSuspension)
	for _, r := range refs {
		if l, _ := onDisk(s, r.ListID); l.count != 1+spare {
			t.Fatalf("%s: %d allocated on disk, want 1 + %d spares", r.Purpose, l.count, spare)
		}
	}
	// Two from the spares each: no write at all.
	for range 2 {
		take(status.PurposeRevocation, status.PurposeSuspension)
	}
	logPath := filepath.Join(dir, allocLogName)
	if _, err := os.Stat(logPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an allocation log after allocations in new lists and from spares (%v)", err)
	}
	// Revocation from a spare, token (no spare yet) from a group: the
	// token list is new, so its file holds the entry and its spares.
	mixed := take(status.PurposeRevocation, status.PurposeToken)
	if l, _ := onDisk(s, mixed[1].ListID); l.count != 1+spare {
		t.Fatalf("token list: %d allocated on disk, want 1 + %d spares", l.count, spare)
	}
	// The third revocation spare taken left half: the top-up is one
	// record naming the revocation list alone.
	deadline := time.Now().Add(10 * time.Second)
	for fi, err := os.Stat(logPath); err != nil || fi.Size() == 0; fi, err = os.Stat(logPath) {
		if time.Now().After(deadline) {
			t.Fatal("no top-up record")
		}
		time.Sleep(5 * time.Millisecond)
	}
	recs := logRecords(t, dir)
	if len(recs) != 1 || !bytes.Contains(recs[0], []byte(refs[0].ListID)) || bytes.Contains(recs[0], []byte(refs[1].ListID)) {
		t.Fatalf("top-up records %x, want one naming the revocation list only", recs)
	}
	// A failing AllocateMany (the directory gone) returns the spare it
	// took: it is handed out afterwards, once.
	sp := s.spares[status.PurposeSuspension]
	sp.mu.Lock()
	next := sp.refs[0]
	sp.mu.Unlock()
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s.spares[status.PurposeToken].mu.Lock()
	s.spares[status.PurposeToken].refs = nil // dropped (reserved on disk, never handed out): the token entry needs a write, which fails
	s.spares[status.PurposeToken].mu.Unlock()
	if _, err := s.AllocateMany(ctx, status.PurposeSuspension, status.PurposeToken); err == nil {
		t.Fatal("allocation succeeded without its directory")
	}
	os.Remove(dir)
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	if r := take(status.PurposeSuspension)[0]; r != next {
		t.Fatalf("after a failed AllocateMany the next suspension entry is %v, want its returned spare %v", r, next)
	}
}

// TestSpareCompaction: compacting the allocation log writes the lists
// with their spares allocated, so that neither the spares nor the
// entries handed out are allocated again after a restart with the log
// gone.
func TestSpareCompaction(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openSpareStore(t, dir, 32)
	s.logLimit = 1 // every group after one that appended compacts
	handed := map[status.Ref]bool{}
	for range 200 {
		refs, err := s.AllocateMany(ctx, status.PurposeRevocation, status.PurposeSuspension)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			handed[status.Ref{ListID: r.ListID, Index: r.Index}] = true
		}
	}
	// Wait for the last top-ups, then compact with a Set (a group that
	// allocates nothing).
	for _, p := range []string{status.PurposeRevocation, status.PurposeSuspension} {
		sp := s.spares[p]
		deadline := time.Now().Add(10 * time.Second)
		for {
			sp.mu.Lock()
			busy := sp.refilling
			sp.mu.Unlock()
			if !busy {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("top-up did not finish")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var first status.Ref
	for r := range handed {
		first = r
		break
	}
	if err := s.Set(ctx, first.ListID, first.Index, 1); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, allocLogName)); err != nil || fi.Size() != 0 {
		t.Fatalf("log not compacted: %v %v", fi, err)
	}
	var reserved []status.Ref
	for _, p := range []string{status.PurposeRevocation, status.PurposeSuspension} {
		s.spares[p].mu.Lock()
		reserved = append(reserved, s.spares[p].refs...)
		s.spares[p].mu.Unlock()
	}
	if len(reserved) == 0 {
		t.Fatal("no spares held")
	}
	os.Remove(filepath.Join(dir, allocLogName))
	s2 := openSpareStore(t, dir, 32)
	for _, r := range reserved {
		if l, err := s2.lookup(r.ListID); err != nil || !l.isAllocated(r.Index) {
			t.Fatalf("spare %v not in its list's file after compaction (%v)", r, err)
		}
		handed[status.Ref{ListID: r.ListID, Index: r.Index}] = true
	}
	for range 300 {
		refs, err := s2.AllocateMany(ctx, status.PurposeRevocation, status.PurposeSuspension)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			if handed[status.Ref{ListID: r.ListID, Index: r.Index}] {
				t.Fatalf("%v allocated again after compaction and restart", r)
			}
		}
	}
}

// waitTopUps waits until no top-up of s is queued or running, so nothing
// writes in its directory afterwards.
// openSpareStore opens dir with spare spares, and waits at the test's end
// for the top-ups still running (before TempDir's removal, registered
// earlier, races a top-up writing into the directory).
func openSpareStore(t *testing.T, dir string, spare int) *FileStore {
	t.Helper()
	s, err := OpenFileStore(dir, FileStoreOptions{Spare: spare})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { waitTopUps(t, s) })
	return s
}

func waitTopUps(t *testing.T, s *FileStore) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := false
		for _, sp := range s.spares {
			sp.mu.Lock()
			busy = busy || sp.refilling
			sp.mu.Unlock()
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Error("a top-up still running after 10 s")
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
