package statuslist

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustid-cn/trustid/credentials/status"
)

// TestJournal: each Set records its change in the list's journal, in the
// same file write; MarkAnchored drops what was handed over; Checkpoint
// persists that; a reopened store without a checkpoint hands the same
// changes over again (never fewer).
func TestJournal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id, a, err := s.Allocate(ctx, status.PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	_, b, _ := s.Allocate(ctx, status.PurposeRevocation)

	// A new list: version 1, nothing anchored, no changes.
	p, err := s.Unanchored(ctx, id)
	if err != nil || p.Version != 1 || p.Anchored != 0 || len(p.Changes) != 0 || p.Bitstring == nil {
		t.Fatalf("new list: %+v %v", p, err)
	}
	if v, a, err := s.Versions(ctx, id); v != 1 || a != 0 || err != nil {
		t.Fatalf("versions of a new list: %d %d %v", v, a, err)
	}
	if err := s.MarkAnchored(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	if v, a, _ := s.Versions(ctx, id); v != 1 || a != 1 {
		t.Fatalf("versions after marking: %d %d", v, a)
	}
	if p, _ := s.Unanchored(ctx, id); p.Version != 1 || p.Anchored != 1 || len(p.Changes) != 0 {
		t.Fatalf("anchored list: %+v", p)
	}

	for _, c := range []struct {
		i int
		v uint8
	}{{a, 1}, {b, 1}, {b, 0}} {
		if err := s.Set(ctx, id, c.i, c.v); err != nil {
			t.Fatal(err)
		}
	}
	want := []status.Change{{Index: a, Value: 1, Version: 2}, {Index: b, Value: 1, Version: 3}, {Index: b, Value: 0, Version: 4}}
	p, err = s.Unanchored(ctx, id)
	if err != nil || p.Version != 4 || p.Anchored != 1 || !equalChanges(p.Changes, want) {
		t.Fatalf("after three sets: %+v", p)
	}
	if !p.Bitstring.Get(a) || p.Bitstring.Get(b) {
		t.Fatal("snapshot does not hold the changes")
	}

	if err := s.MarkAnchored(ctx, id, 3); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Unanchored(ctx, id); !equalChanges(p.Changes, want[2:]) || p.Anchored != 3 {
		t.Fatalf("after marking 3: %+v", p)
	}
	if err := s.MarkAnchored(ctx, id, 2); err != nil {
		t.Fatalf("marking an older version: %v", err)
	}
	if err := s.MarkAnchored(ctx, id, 9); !errors.Is(err, ErrVersion) {
		t.Fatalf("marking a future version: %v", err)
	}
	if err := s.MarkAnchored(ctx, "0000000000000000", 1); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("unknown list: %v", err)
	}
	if _, err := s.Unanchored(ctx, "0000000000000000"); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("unknown list: %v", err)
	}
	if _, _, err := s.Versions(ctx, "0000000000000000"); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("unknown list: %v", err)
	}

	// Without a checkpoint the file still holds what the last Set wrote:
	// a restart hands v2..v4 over again (duplicates, never a loss).
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := s2.Unanchored(ctx, id); !equalChanges(p.Changes, want) || p.Anchored != 1 || p.Version != 4 {
		t.Fatalf("reopened without checkpoint: %+v", p)
	}
	// With one, only v4 is left.
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	s3, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := s3.Unanchored(ctx, id); !equalChanges(p.Changes, want[2:]) || p.Anchored != 3 {
		t.Fatalf("reopened after checkpoint: %+v", p)
	}

	// Token lists journal their values.
	tid, tx, _ := s3.Allocate(ctx, status.PurposeToken)
	s3.Set(ctx, tid, tx, status.TokenSuspended)
	if p, _ := s3.Unanchored(ctx, tid); p.Token == nil || !equalChanges(p.Changes, []status.Change{{Index: tx, Value: status.TokenSuspended, Version: 2}}) {
		t.Fatalf("token list: %+v", p)
	}
}

func equalChanges(a, b []status.Change) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestJournalFileChecks: a journal that does not fit its list is
// corruption; a list written before versions started at 1 reads as 1.
func TestJournalFileChecks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := OpenFileStore(dir, FileStoreOptions{})
	id, idx, _ := s.Allocate(ctx, status.PurposeSuspension)
	s.Set(ctx, id, idx, 1)
	path := filepath.Join(dir, id+".json")
	orig, _ := os.ReadFile(path)

	edit := func(f func(m map[string]any)) {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(orig, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		os.WriteFile(path, b, 0o600)
	}
	for name, f := range map[string]func(m map[string]any){
		"version beyond the list":  func(m map[string]any) { m["journal"] = []any{[]any{3, idx, 1}} },
		"unallocated index":        func(m map[string]any) { m["journal"] = []any{[]any{2, (idx + 1) % status.MinEntries, 1}} },
		"value out of range":       func(m map[string]any) { m["journal"] = []any{[]any{2, idx, 2}} },
		"not after anchored":       func(m map[string]any) { m["anchored"] = 2 },
		"anchored beyond the list": func(m map[string]any) { m["anchored"] = 3; m["journal"] = nil },
	} {
		edit(f)
		if _, err := OpenFileStore(dir, FileStoreOptions{}); !errors.Is(err, ErrCorrupted) {
			t.Errorf("%s: %v", name, err)
		}
	}
	edit(func(m map[string]any) {
		m["version"] = 0
		m["journal"] = nil
		m["values"] = make([]byte, status.MinEntries/8)
	})
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if snap, _ := s2.Snapshot(ctx, id); snap.Version != 1 {
		t.Fatalf("legacy version 0 read as %d", snap.Version)
	}
}

// TestJournalCollapse: a journal nobody drains keeps the last change of
// each index once it passes maxJournal.
func TestJournalCollapse(t *testing.T) {
	var j []journalEntry
	for v := uint64(1); v <= maxJournal+1; v++ {
		j = appendJournal(j, journalEntry{version: v, index: int(v % 3), value: uint8(v % 2)})
	}
	if len(j) != 3 {
		t.Fatalf("collapsed to %d entries", len(j))
	}
	for k, e := range j {
		if e.version != maxJournal-1+uint64(k) || e.index != int(e.version%3) || e.value != uint8(e.version%2) {
			t.Fatalf("entry %d: %+v", k, e)
		}
	}
}
