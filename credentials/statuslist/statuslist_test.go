package statuslist

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
)

func TestFileStore(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	var id string
	var idx []int
	for i := 0; i < 200; i++ {
		lid, x, err := s.Allocate(ctx, status.PurposeRevocation)
		if err != nil {
			t.Fatal(err)
		}
		if id == "" {
			id = lid
		} else if lid != id {
			t.Fatal("a second list was started early")
		}
		if seen[x] {
			t.Fatalf("index %d allocated twice", x)
		}
		seen[x] = true
		idx = append(idx, x)
	}
	// Random, not sequential: consecutive allocations are not neighbours.
	near := 0
	for i := 1; i < len(idx); i++ {
		if d := idx[i] - idx[i-1]; d >= -2 && d <= 2 {
			near++
		}
	}
	if near > 3 {
		t.Fatalf("%d of 200 allocations were next to the previous one", near)
	}
	if err := s.Set(ctx, id, idx[5], 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, id, idx[5], 2); !errors.Is(err, status.ErrValue) {
		t.Fatalf("value 2 on a bitstring: %v", err)
	}
	free := 0
	for seen[free] {
		free++
	}
	if err := s.Set(ctx, id, free, 1); !errors.Is(err, status.ErrIndex) {
		t.Fatalf("unallocated index: %v", err)
	}
	if err := s.Set(ctx, "0000000000000000", 0, 1); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("unknown list: %v", err)
	}
	if _, _, err := s.Allocate(ctx, "other"); !errors.Is(err, ErrPurpose) {
		t.Fatalf("unknown purpose: %v", err)
	}
	tid, tx, err := s.Allocate(ctx, status.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, tid, tx, status.TokenSuspended); err != nil {
		t.Fatal(err)
	}

	// Reopen: allocations and statuses survive.
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p, v, _ := s2.Get(ctx, id, idx[5]); v != 1 || p != status.PurposeRevocation {
		t.Fatal("status lost on reopen")
	}
	if _, v, _ := s2.Get(ctx, tid, tx); v != status.TokenSuspended {
		t.Fatal("token status lost on reopen")
	}
	snap, err := s2.Snapshot(ctx, id)
	// Version 1 at creation, 2 after the one successful Set.
	if err != nil || snap.Bitstring == nil || !snap.Bitstring.Get(idx[5]) || snap.Version != 2 {
		t.Fatalf("snapshot %+v %v", snap, err)
	}
	for i := 0; i < 50; i++ {
		_, x, err := s2.Allocate(ctx, status.PurposeRevocation)
		if err != nil {
			t.Fatal(err)
		}
		if seen[x] {
			t.Fatalf("index %d reused after reopen", x)
		}
		seen[x] = true
	}
}

func TestFileStoreGrows(t *testing.T) {
	ctx := context.Background()
	s, err := OpenFileStore(t.TempDir(), FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lid, _, _ := s.Allocate(ctx, status.PurposeSuspension)
	// Fill the list to its limit in memory, then allocate: a new list starts.
	l := s.lists[lid]
	for i := 0; !l.full(0); i++ {
		if !l.isAllocated(i) {
			l.allocated[i>>3] |= 0x80 >> (i & 7)
			l.count++
		}
	}
	lid2, _, err := s.Allocate(ctx, status.PurposeSuspension)
	if err != nil {
		t.Fatal(err)
	}
	if lid2 == lid || len(s.Lists()) != 2 {
		t.Fatalf("no new list: %s %s %v", lid, lid2, s.Lists())
	}
}

// TestFileStoreListMemory: ListMemory counts every list and the bytes of
// its content (entries and allocation map), and grows by exactly one
// list's when a purpose's newest list is full and a new one starts.
func TestFileStoreListMemory(t *testing.T) {
	ctx := context.Background()
	s, err := OpenFileStore(t.TempDir(), FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m := s.ListMemory(); m != (ListMemory{}) {
		t.Fatalf("empty store: %+v", m)
	}
	const n = status.MinEntries
	bitList := int64(n/8 + n/8)             // allocation map, bits
	tokenList := int64(n/8 + n*TokenBits/8) // allocation map, 2-bit statuses
	var lids []string
	for _, p := range Purposes {
		lid, _, err := s.Allocate(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		lids = append(lids, lid)
	}
	if m, want := s.ListMemory(), (ListMemory{Lists: 3, Bytes: 2*bitList + tokenList}); m != want {
		t.Fatalf("one list per purpose: %+v, want %+v", m, want)
	}
	l := s.lists[lids[0]]
	for i := 0; !l.full(0); i++ {
		if !l.isAllocated(i) {
			l.allocated[i>>3] |= 0x80 >> (i & 7)
			l.count++
		}
	}
	if _, _, err := s.Allocate(ctx, Purposes[0]); err != nil {
		t.Fatal(err)
	}
	if m, want := s.ListMemory(), (ListMemory{Lists: 4, Bytes: 3*bitList + tokenList}); m != want {
		t.Fatalf("after a new %s list: %+v, want %+v", Purposes[0], m, want)
	}
}

func TestFileStoreCorrupted(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "0123456789abcdef.json"), []byte(`{"format":"x"}`), 0o600)
	if _, err := OpenFileStore(dir, FileStoreOptions{}); !errors.Is(err, ErrCorrupted) {
		t.Fatalf("corrupted list: %v", err)
	}
}

// failingRand fails after n bytes, to check that a failed allocation
// leaves nothing behind.
type failingRand struct{ n int }

func (f *failingRand) Read(p []byte) (int, error) {
	if f.n < len(p) {
		return 0, errors.New("entropy exhausted")
	}
	f.n -= len(p)
	return rand.Read(p)
}

func TestFileStoreRandFailure(t *testing.T) {
	s, _ := OpenFileStore(t.TempDir(), FileStoreOptions{Rand: &failingRand{n: 8}, Now: func() time.Time { return time.Unix(0, 0) }})
	if _, _, err := s.Allocate(context.Background(), status.PurposeRevocation); err == nil {
		t.Fatal("allocation without randomness succeeded")
	}
}

func TestFileStoreIndex(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, _ := OpenFileStore(dir, FileStoreOptions{})
	lid, x, _ := s.Allocate(ctx, status.PurposeRevocation)
	refs := []status.Ref{{ListID: lid, Index: x, Purpose: status.PurposeRevocation}}
	if err := s.Bind(ctx, "urn:uuid:1", refs); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(ctx, "urn:uuid:1", refs); !errors.Is(err, status.ErrBound) {
		t.Fatalf("bound twice: %v", err)
	}
	if err := s.Bind(ctx, "urn:uuid:2", []status.Ref{{ListID: lid, Index: x + 1, Purpose: status.PurposeRevocation}}); err == nil && x+1 < status.MinEntries {
		// x+1 is almost surely unallocated
		if s.lists[lid].isAllocated(x + 1) {
			t.Skip("neighbour allocated")
		}
		t.Fatal("bound an unallocated index")
	}
	raw, _ := os.ReadFile(filepath.Join(dir, indexFile))
	if bytes.Contains(raw, []byte("urn:uuid:1")) {
		t.Fatal("credential ID stored in clear")
	}
	// A torn final line (crash during append) is ignored on reopen.
	f, _ := os.OpenFile(filepath.Join(dir, indexFile), os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte(`{"key":"ab`))
	f.Close()
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Refs(ctx, "urn:uuid:1")
	if err != nil || len(got) != 1 || got[0] != refs[0] {
		t.Fatalf("refs after reopen: %v %v", got, err)
	}
	if _, err := s2.Refs(ctx, "urn:uuid:3"); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("unknown ID: %v", err)
	}
}
