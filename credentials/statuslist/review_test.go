package statuslist

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
)

// TestFileStoreSizeCap: a node never creates lists other nodes would
// refuse.
func TestFileStoreSizeCap(t *testing.T) {
	if _, err := OpenFileStore(t.TempDir(), FileStoreOptions{Size: 2 * status.MaxRemoteEntries}); !errors.Is(err, status.ErrEncoding) {
		t.Fatalf("size past MaxRemoteEntries: %v", err)
	}
	if _, err := OpenFileStore(t.TempDir(), FileStoreOptions{Size: status.MaxRemoteEntries}); err != nil {
		t.Fatal(err)
	}
}

// TestIndexTornRecordThenBind: a crash during an append leaves a torn
// last record; reopening cuts it off (and says so), so a record appended
// afterwards starts on its own line and every acknowledged binding is
// there after the next restart.
func TestIndexTornRecordThenBind(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bind := func(s *FileStore, id string) status.Ref {
		t.Helper()
		lid, x, err := s.Allocate(ctx, status.PurposeRevocation)
		if err != nil {
			t.Fatal(err)
		}
		r := status.Ref{ListID: lid, Index: x, Purpose: status.PurposeRevocation}
		if err := s.Bind(ctx, id, []status.Ref{r}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1 := bind(s, "urn:uuid:1")
	path := filepath.Join(dir, indexFile)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	torn := `{"key":"ab`
	f.Write([]byte(torn))
	f.Close()

	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.IndexRecovery(); got.Records != 1 || got.TornBytes != int64(len(torn)) {
		t.Errorf("recovery %+v", got)
	}
	raw, _ := os.ReadFile(path)
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		t.Fatalf("torn record not cut: %q", raw)
	}
	r2 := bind(s2, "urn:uuid:2")

	s3, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatalf("restart after a torn record and a bind: %v", err)
	}
	if got := s3.IndexRecovery(); got.Records != 2 || got.TornBytes != 0 {
		t.Errorf("recovery %+v", got)
	}
	for id, want := range map[string]status.Ref{"urn:uuid:1": r1, "urn:uuid:2": r2} {
		got, err := s3.Refs(ctx, id)
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("%s after restart: %v %v", id, got, err)
		}
	}
	// A bad complete line is still corruption.
	os.WriteFile(path, append(raw, []byte("{not json}\n")...), 0o600)
	if _, err := OpenFileStore(dir, FileStoreOptions{}); !errors.Is(err, ErrCorrupted) {
		t.Fatalf("bad complete line: %v", err)
	}
}

// TestReadsDoNotWaitForWriters: while a writer holds a list (writing and
// fsyncing its file), Get, Snapshot and Refs still answer.
func TestReadsDoNotWaitForWriters(t *testing.T) {
	ctx := context.Background()
	s, err := OpenFileStore(t.TempDir(), FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lid, x, _ := s.Allocate(ctx, status.PurposeRevocation)
	if err := s.Bind(ctx, "urn:uuid:r", []status.Ref{{ListID: lid, Index: x, Purpose: status.PurposeRevocation}}); err != nil {
		t.Fatal(err)
	}
	l, _ := s.lookup(lid)
	l.wmu.Lock() // a writer in the middle of its file write
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Get(ctx, lid, x)
		if err == nil {
			_, err = s.Snapshot(ctx, lid)
		}
		if err == nil {
			_, err = s.Refs(ctx, "urn:uuid:r")
		}
		if err == nil {
			_, err = s.Version(ctx, lid)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a read waited for a writer")
	}
	l.wmu.Unlock()
	if err := s.Set(ctx, lid, x, 1); err != nil {
		t.Fatal(err)
	}
	if _, v, _ := s.Get(ctx, lid, x); v != 1 {
		t.Fatal("change not applied")
	}
}

// TestOwner: the owner tag is kept with the binding, survives a restart,
// and a binding without one is owned by nobody.
func TestOwner(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, _ := OpenFileStore(dir, FileStoreOptions{})
	lid, x, _ := s.Allocate(ctx, status.PurposeRevocation)
	lid2, y, _ := s.Allocate(ctx, status.PurposeRevocation)
	if err := s.BindOwner(ctx, "urn:uuid:a", "tag-a", []status.Ref{{ListID: lid, Index: x, Purpose: status.PurposeRevocation}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(ctx, "urn:uuid:b", []status.Ref{{ListID: lid2, Index: y, Purpose: status.PurposeRevocation}}); err != nil {
		t.Fatal(err)
	}
	if err := s.BindOwner(ctx, "urn:uuid:c", string(make([]byte, 200)), []status.Ref{{ListID: lid, Index: x, Purpose: status.PurposeRevocation}}); err == nil {
		t.Fatal("oversized owner tag accepted")
	}
	s2, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id, owner string
		want      bool
	}{{"urn:uuid:a", "tag-a", true}, {"urn:uuid:a", "tag-b", false}, {"urn:uuid:a", "", false}, {"urn:uuid:b", "", false}, {"urn:uuid:b", "tag-a", false}} {
		if got, err := s2.OwnedBy(ctx, c.id, c.owner); err != nil || got != c.want {
			t.Errorf("OwnedBy(%s, %q) = %v, %v", c.id, c.owner, got, err)
		}
	}
	if _, err := s2.OwnedBy(ctx, "urn:uuid:z", "tag-a"); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("unknown ID: %v", err)
	}
}
