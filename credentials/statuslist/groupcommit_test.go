package statuslist

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/internal/testenv"
)

// TestGroupCommit: concurrent allocations, bindings and changes from many
// callers each return only once they are in the files, share writes (the
// clock is read once per written group of changes, not once per change),
// and are all there after a restart.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var clockReads atomic.Int64
	now := func() time.Time { return time.Unix(1_700_000_000+clockReads.Add(1), 0) }
	s, err := OpenFileStore(dir, FileStoreOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	const writers, changes = 32, 10
	refs := make([]status.Ref, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lid, idx, err := s.Allocate(ctx, status.PurposeSuspension)
			if err != nil {
				errs <- err
				return
			}
			if l, err := onDisk(s, lid); err != nil || !l.isAllocated(idx) {
				errs <- fmt.Errorf("allocation %d acknowledged before it is in the files (%v)", idx, err)
				return
			}
			refs[w] = status.Ref{ListID: lid, Index: idx, Purpose: status.PurposeSuspension}
			id := fmt.Sprintf("urn:uuid:%d", w)
			if err := s.Bind(ctx, id, refs[w:w+1]); err != nil {
				errs <- err
				return
			}
			if raw, err := os.ReadFile(filepath.Join(dir, indexFile)); err != nil || !strings.Contains(string(raw), indexKey(id)) {
				errs <- fmt.Errorf("binding of %s acknowledged before it is in the file (%v)", id, err)
				return
			}
			for i := range changes {
				v := uint8(1 - i%2)
				if err := s.Set(ctx, lid, idx, v); err != nil {
					errs <- err
					return
				}
				l, err := readList(filepath.Join(dir, lid+".json"))
				if err != nil {
					errs <- err
					return
				}
				// Only this writer changes idx, so the file holds its value.
				if l.bits.Get(idx) != (v == 1) {
					errs <- fmt.Errorf("change of %d acknowledged before it is in the file", idx)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[status.Ref]bool{}
	for _, r := range refs {
		if seen[r] {
			t.Fatalf("entry %v allocated twice", r)
		}
		seen[r] = true
	}
	groups := clockReads.Load() - 1 // one read dated the new list
	t.Logf("%d changes in %d groups", writers*changes, groups)
	if groups >= writers*changes {
		t.Fatalf("no group commit: %d groups for %d changes", groups, writers*changes)
	}
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lid := refs[0].ListID
	if v, _ := s2.Version(ctx, lid); v != 1+writers*changes {
		t.Fatalf("version %d after restart, want %d", v, 1+writers*changes)
	}
	for w, r := range refs {
		got, err := s2.Refs(ctx, fmt.Sprintf("urn:uuid:%d", w))
		if err != nil || len(got) != 1 || got[0] != r {
			t.Fatalf("binding %d after restart: %v %v", w, got, err)
		}
		if _, v, _ := s2.Get(ctx, r.ListID, r.Index); v != 0 {
			t.Fatalf("entry %v is %d after restart, want 0", r, v)
		}
	}
}

// onDisk reads list lid as the files of s have it: its file and the
// store's allocation log.
func onDisk(s *FileStore, lid string) (l *list, err error) {
	// The store is live: a list made between reading the list files and
	// reading the log, and named by a record appended after it, reads as
	// an unknown list. Read again; a log that stays wrong fails.
	for range 5 {
		if l, err = readOnDisk(s, lid); err == nil || errors.Is(err, status.ErrNotFound) {
			break
		}
	}
	return l, err
}

// readOnDisk is one reading of onDisk.
func readOnDisk(s *FileStore, lid string) (*list, error) {
	d := &FileStore{dir: s.dir, lists: map[string]*list{}, logLists: map[string]bool{}}
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		l, err := readList(name)
		if err != nil {
			return nil, err
		}
		d.lists[l.id] = l
	}
	// Only read the log: the store is live, a torn record may be an
	// append in progress.
	data, err := os.ReadFile(filepath.Join(s.dir, allocLogName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if _, err := d.applyAllocLog(data); err != nil {
		return nil, err
	}
	if d.lists[lid] == nil {
		return nil, status.ErrNotFound
	}
	return d.lists[lid], nil
}

// TestGroupCommitFailure: when a group's write fails, every change of the
// group fails, none is visible, and the store works again once the disk
// does.
func TestGroupCommitFailure(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "status")
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var refs []status.Ref
	for range 8 {
		lid, idx, err := s.Allocate(ctx, status.PurposeRevocation)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, status.Ref{ListID: lid, Index: idx, Purpose: status.PurposeRevocation})
	}
	// Break the directory: a file where it was (root ignores permissions).
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i, r := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Set(ctx, r.ListID, r.Index, 1); err != nil {
				failed.Add(1)
			}
			if i == 0 {
				if err := s.Bind(ctx, "urn:uuid:x", []status.Ref{r}); err == nil {
					t.Error("bind succeeded without a directory")
				}
			}
		}()
	}
	wg.Wait()
	if _, _, err := s.Allocate(ctx, status.PurposeRevocation); err == nil {
		t.Error("allocation succeeded without a directory")
	}
	if failed.Load() != int32(len(refs)) {
		t.Fatalf("%d of %d changes failed", failed.Load(), len(refs))
	}
	for _, r := range refs {
		if _, v, _ := s.Get(ctx, r.ListID, r.Index); v != 0 {
			t.Fatalf("a failed change is visible at %v", r)
		}
	}
	if v, _ := s.Version(ctx, refs[0].ListID); v != 1 {
		t.Fatalf("version %d after failed changes", v)
	}
	if _, err := s.Refs(ctx, "urn:uuid:x"); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("failed binding visible: %v", err)
	}
	os.Remove(dir)
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, refs[0].ListID, refs[0].Index, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(ctx, "urn:uuid:x", refs[:1]); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range refs {
		if _, v, _ := s2.Get(ctx, r.ListID, r.Index); v != map[bool]uint8{true: 1}[i == 0] {
			t.Fatalf("entry %d is %d after restart", i, v)
		}
	}
	if v, _ := s2.Version(ctx, refs[0].ListID); v != 2 {
		t.Fatalf("version %d after restart, want 2", v)
	}
}

// TestGroupCommitSIGKILL: a child allocating, binding and revoking from
// many goroutines is killed mid-stream; after a restart every allocation,
// binding and change it acknowledged is there.
func TestGroupCommitSIGKILL(t *testing.T) {
	if testenv.IsChild() {
		t.Skip("child")
	}
	dir := t.TempDir()
	type ack struct {
		step string
		ref  status.Ref
		id   string
	}
	var acks []ack
	testenv.KillChild(t, "TestGroupCommitChild", []string{"TRUSTID_STATUS_CHILD=" + dir}, func(v string) bool {
		if f := strings.Fields(v); len(f) == 4 {
			idx, _ := strconv.Atoi(f[2])
			acks = append(acks, ack{step: f[0], ref: status.Ref{ListID: f[1], Index: idx, Purpose: status.PurposeRevocation}, id: f[3]})
		}
		return len(acks) < 600
	})
	if len(acks) < 600 {
		t.Fatalf("the child acknowledged only %d steps", len(acks))
	}
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	allocated := map[status.Ref]bool{}
	for _, a := range acks {
		l, err := s.lookup(a.ref.ListID)
		if err != nil {
			t.Fatalf("%s of %v acknowledged, list lost: %v", a.step, a.ref, err)
		}
		switch a.step {
		case "allocate":
			if allocated[a.ref] {
				t.Fatalf("%v allocated twice", a.ref)
			}
			allocated[a.ref] = true
			if !l.isAllocated(a.ref.Index) {
				t.Fatalf("acknowledged allocation %v lost", a.ref)
			}
		case "bind":
			if got, err := s.Refs(ctx, a.id); err != nil || len(got) != 1 || got[0] != a.ref {
				t.Fatalf("acknowledged binding of %s lost: %v %v", a.id, got, err)
			}
		case "revoke":
			if _, v, _ := s.Get(ctx, a.ref.ListID, a.ref.Index); v != 1 {
				t.Fatalf("acknowledged revocation of %v lost", a.ref)
			}
		}
	}
	t.Logf("killed after %d acknowledged steps", len(acks))
}

// TestGroupCommitChild is the child of TestGroupCommitSIGKILL.
func TestGroupCommitChild(t *testing.T) {
	dir := os.Getenv("TRUSTID_STATUS_CHILD")
	if dir == "" {
		t.Skip("run by TestGroupCommitSIGKILL")
	}
	spare, _ := strconv.Atoi(os.Getenv("TRUSTID_STATUS_SPARE"))
	s, err := OpenFileStore(dir, FileStoreOptions{Spare: spare})
	if err != nil {
		t.Fatal(err)
	}
	if v := os.Getenv("TRUSTID_STATUS_LOG_LIMIT"); v != "" {
		s.logLimit, _ = strconv.ParseInt(v, 10, 64)
	}
	ctx := context.Background()
	var mu sync.Mutex
	say := func(step string, r status.Ref, id string) {
		mu.Lock()
		fmt.Printf("acked %s %s %d %s\n", step, r.ListID, r.Index, id)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if os.Getenv("TRUSTID_STATUS_ALLOC_MANY") != "" {
					refs, err := s.AllocateMany(ctx, status.PurposeRevocation, status.PurposeSuspension)
					if err != nil {
						panic(err)
					}
					for _, r := range refs {
						say("allocate", r, "-")
					}
					continue
				}
				lid, idx, err := s.Allocate(ctx, status.PurposeRevocation)
				if err != nil {
					panic(err)
				}
				r := status.Ref{ListID: lid, Index: idx, Purpose: status.PurposeRevocation}
				id := fmt.Sprintf("urn:uuid:%d-%d", g, i)
				say("allocate", r, id)
				if os.Getenv("TRUSTID_STATUS_ALLOC_ONLY") != "" {
					continue
				}
				if err := s.Bind(ctx, id, []status.Ref{r}); err != nil {
					panic(err)
				}
				say("bind", r, id)
				if err := s.Set(ctx, lid, idx, 1); err != nil {
					panic(err)
				}
				say("revoke", r, id)
			}
		}()
	}
	wg.Wait()
}

// TestListFileIsMarshalBytes: write encodes a list into a reused buffer;
// what reaches the file is still exactly json.Marshal's encoding of the
// list (no trailing newline, no bytes of an earlier, longer encoding).
func TestListFileIsMarshalBytes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		lid, idx, err := s.Allocate(ctx, status.PurposeRevocation)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, lid, idx, 1); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, lid+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var d diskList
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(d)
		if !bytes.Equal(raw, want) {
			t.Fatalf("list file (%d bytes) is not json.Marshal's encoding (%d bytes)", len(raw), len(want))
		}
	}
}
