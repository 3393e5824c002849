package statuslist

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/credentials/status"
)

// oneAllocated opens a file store in a new directory and allocates one
// revocation entry of it.
func oneAllocated(t *testing.T) (*FileStore, status.Ref) {
	t.Helper()
	s, err := OpenFileStore(t.TempDir(), FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lid, x, err := s.Allocate(context.Background(), status.PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	return s, status.Ref{ListID: lid, Index: x, Purpose: status.PurposeRevocation}
}

// TestIndexBindRefusals: a binding needs a credential ID, 1 to 8 refs,
// an owner tag of at most 128 bytes, and refs each naming an allocated
// entry of a list of its own purpose; anything else is refused and
// binds nothing.
func TestIndexBindRefusals(t *testing.T) {
	ctx := context.Background()
	s, ok := oneAllocated(t)
	lid, x := ok.ListID, ok.Index
	free := (x + 1) % status.MinEntries // the list's one allocated entry is x
	for name, tc := range map[string]struct {
		id, owner string
		refs      []status.Ref
		want      error // nil: any error
	}{
		"no credential ID":    {"", "", []status.Ref{ok}, nil},
		"no refs":             {"urn:uuid:1", "", nil, nil},
		"nine refs":           {"urn:uuid:1", "", []status.Ref{ok, ok, ok, ok, ok, ok, ok, ok, ok}, nil},
		"owner of 129 bytes":  {"urn:uuid:1", strings.Repeat("o", maxOwner+1), []status.Ref{ok}, nil},
		"another purpose":     {"urn:uuid:1", "", []status.Ref{{ListID: lid, Index: x, Purpose: status.PurposeSuspension}}, status.ErrIndex},
		"negative index":      {"urn:uuid:1", "", []status.Ref{{ListID: lid, Index: -1, Purpose: status.PurposeRevocation}}, status.ErrIndex},
		"index past the list": {"urn:uuid:1", "", []status.Ref{{ListID: lid, Index: status.MinEntries, Purpose: status.PurposeRevocation}}, status.ErrIndex},
		"unallocated index":   {"urn:uuid:1", "", []status.Ref{{ListID: lid, Index: free, Purpose: status.PurposeRevocation}}, status.ErrIndex},
		"unknown list":        {"urn:uuid:1", "", []status.Ref{{ListID: "0123456789abcdef", Index: x, Purpose: status.PurposeRevocation}}, status.ErrIndex},
	} {
		err := s.BindOwner(ctx, tc.id, tc.owner, tc.refs)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want refused (%v)", name, err, tc.want)
		}
		if _, err := s.Refs(ctx, tc.id); !errors.Is(err, status.ErrNotFound) {
			t.Errorf("%s: bound anyway (%v)", name, err)
		}
	}
	if !s.Allocated([]status.Ref{ok}) || s.Allocated([]status.Ref{ok, {ListID: lid, Index: free, Purpose: status.PurposeRevocation}}) {
		t.Error("Allocated")
	}
}

// TestIndexCopiesAndOwner: the index keeps its own copy of a binding's
// refs and hands out copies; a binding without an owner tag is owned by
// nobody, the empty tag included.
func TestIndexCopiesAndOwner(t *testing.T) {
	ctx := context.Background()
	s, ref := oneAllocated(t)
	x, refs := ref.Index, []status.Ref{ref}
	if err := s.Bind(ctx, "urn:uuid:1", refs); err != nil {
		t.Fatal(err)
	}
	refs[0].Index++
	got, err := s.Refs(ctx, "urn:uuid:1")
	if err != nil || got[0].Index != x {
		t.Fatalf("refs after the caller changed its slice: %v %v", got, err)
	}
	got[0].Index++
	if again, _ := s.Refs(ctx, "urn:uuid:1"); again[0].Index != x {
		t.Errorf("refs after a caller changed what Refs returned: %v", again)
	}
	if owned, err := s.OwnedBy(ctx, "urn:uuid:1", ""); err != nil || owned {
		t.Errorf("a binding without an owner, asked for the empty tag: %v %v, want not owned", owned, err)
	}
	if _, err := s.OwnedBy(ctx, "urn:uuid:2", ""); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("an unknown ID: %v", err)
	}
}

// TestIndexCorruptLines: a complete index line that Bind could not have
// written (longer than maxIndexLine, a key that is no SHA-256 in hex, an
// owner tag over 128 bytes) is corruption, not a binding.
func TestIndexCorruptLines(t *testing.T) {
	key := indexKey("urn:uuid:1")
	ref := `"refs":[{"list":"0123456789abcdef","index":1,"purpose":"revocation"}]`
	for name, line := range map[string]string{
		"line over maxIndexLine": `{"key":"` + key + `",` + ref + strings.Repeat(" ", maxIndexLine) + `}`,
		"short key":              `{"key":"abc",` + ref + `}`,
		"owner over 128 bytes":   `{"key":"` + key + `",` + ref + `,"owner":"` + strings.Repeat("o", maxOwner+1) + `"}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, indexFile), []byte(line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenFileStore(dir, FileStoreOptions{}); !errors.Is(err, ErrCorrupted) {
			t.Errorf("%s: %v, want ErrCorrupted", name, err)
		}
	}
}

// TestIndexConcurrentBindsOfOneID: of concurrent binds of one credential
// ID, which share group commits, exactly one binds it and the others
// are ErrBound, also when they fall in one group; a bind refused for an
// unallocated entry binds nothing although its group binds others.
func TestIndexConcurrentBindsOfOneID(t *testing.T) {
	ctx := context.Background()
	s, ref := oneAllocated(t)
	lid, x, refs := ref.ListID, ref.Index, []status.Ref{ref}
	unallocated := []status.Ref{{ListID: lid, Index: (x + 1) % status.MinEntries, Purpose: status.PurposeRevocation}}
	for round := range 5 {
		id := fmt.Sprintf("urn:uuid:%d", round)
		const n = 16
		errs := make(chan error, n)
		refused := make(chan error, n)
		others := make(chan error, n)
		for k := range n {
			// Binds of other IDs keep the group commit busy, so that the
			// binds of id and the refused ones gather in groups with them.
			go func() { others <- s.Bind(ctx, fmt.Sprintf("%s-other-%d", id, k), refs) }()
			go func() { errs <- s.Bind(ctx, id, refs) }()
			go func() { refused <- s.Bind(ctx, fmt.Sprintf("%s-%d", id, k), unallocated) }()
		}
		for range n {
			if err := <-others; err != nil {
				t.Fatal(err)
			}
		}
		for range n {
			if err := <-refused; !errors.Is(err, status.ErrIndex) {
				t.Errorf("round %d: a bind to an unallocated entry: %v, want ErrIndex", round, err)
			}
		}
		for k := range n {
			if _, err := s.Refs(ctx, fmt.Sprintf("%s-%d", id, k)); !errors.Is(err, status.ErrNotFound) {
				t.Fatalf("round %d: a refused bind is bound (%v)", round, err)
			}
		}
		bound := 0
		for range n {
			switch err := <-errs; {
			case err == nil:
				bound++
			case !errors.Is(err, status.ErrBound):
				t.Errorf("round %d: %v, want nil or ErrBound", round, err)
			}
		}
		if bound != 1 {
			t.Fatalf("round %d: %d of %d concurrent binds of one ID succeeded, want 1", round, bound, n)
		}
	}
}
