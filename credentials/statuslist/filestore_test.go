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

// TestFileStoreListFileRefusals: a list file that does not hold what
// the store writes is ErrCorrupted, each check on its own: another
// format, an ID not its file's name or no list ID, a size under 8 or
// not a multiple of 8, an allocation bitmap or values of another length
// (bitstring and token lists); a file of before versions (version 0)
// opens at version 1.
func TestFileStoreListFileRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenFileStore(dir, FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	read := func(purpose string) diskList {
		t.Helper()
		lid, _, err := s.Allocate(ctx, purpose)
		if err != nil {
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
		return d
	}
	bits, token := read(status.PurposeRevocation), read(status.PurposeToken)
	// open writes d as the only list of a new store, in the file named
	// after name (d's ID if empty), and opens the store.
	open := func(d diskList, name string) (*FileStore, error) {
		t.Helper()
		if name == "" {
			name = d.ID
		}
		dir := t.TempDir()
		raw, _ := json.Marshal(d)
		if err := os.WriteFile(filepath.Join(dir, name+".json"), raw, 0o600); err != nil {
			t.Fatal(err)
		}
		return OpenFileStore(dir, FileStoreOptions{})
	}
	for name, c := range map[string]struct {
		d    diskList
		file string
	}{
		"another format":     {d: with(bits, func(d *diskList) { d.Format = "trustid-status-list/0" })},
		"another list's ID":  {d: bits, file: "fedcba9876543210"},
		"no list ID":         {d: with(bits, func(d *diskList) { d.ID = "0123" })},
		"size 0":             {d: with(bits, func(d *diskList) { d.Size, d.Allocated, d.Values = 0, []byte{}, []byte{} })},
		"size 12":            {d: with(bits, func(d *diskList) { d.Size, d.Allocated, d.Values = 12, d.Allocated[:1], d.Values[:1] })},
		"bitmap short":       {d: with(bits, func(d *diskList) { d.Allocated = d.Allocated[:4] })},
		"bitstring short":    {d: with(bits, func(d *diskList) { d.Values = d.Values[:4] })},
		"token values short": {d: with(token, func(d *diskList) { d.Values = d.Values[:len(d.Values)-1] })},
	} {
		if _, err := open(c.d, c.file); !errors.Is(err, ErrCorrupted) {
			t.Errorf("%s: %v, want ErrCorrupted", name, err)
		}
	}
	older, err := open(with(bits, func(d *diskList) { d.Version = 0 }), "")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := older.Version(ctx, bits.ID); err != nil || v != 1 {
		t.Fatalf("a list file of version 0 opens at version %d (%v), want 1", v, err)
	}
}

// with returns a copy of d changed by f.
func with(d diskList, f func(*diskList)) diskList {
	f(&d)
	return d
}

// TestFileStoreSetRefusals: SetMany refuses a negative index (ErrIndex),
// a value past the list's largest (ErrValue: 2 in a bitstring list, 4 in
// a token list of 2 bits), and changes nothing; SetManyIf whose check
// refuses returns the check's error and changes nothing; an allocation
// with a cancelled context allocates nothing.
func TestFileStoreSetRefusals(t *testing.T) {
	ctx := context.Background()
	s, err := OpenFileStore(t.TempDir(), FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refs, err := s.AllocateMany(ctx, status.PurposeRevocation, status.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	rev, tok := refs[0], refs[1]
	for _, c := range []struct {
		e    status.Entry
		want error
	}{
		{status.Entry{ListID: rev.ListID, Index: -1, Value: 1}, status.ErrIndex},
		{status.Entry{ListID: rev.ListID, Index: rev.Index, Value: 2}, status.ErrValue},
		{status.Entry{ListID: tok.ListID, Index: tok.Index, Value: 1 << TokenBits}, status.ErrValue},
	} {
		if err := s.SetMany(ctx, []status.Entry{c.e}); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.e, err, c.want)
		}
	}
	refused := errors.New("refused")
	err = s.SetManyIf(ctx, []status.Entry{{ListID: rev.ListID, Index: rev.Index, Value: 1}}, []status.Ref{rev},
		func([]uint8) error { return refused })
	if !errors.Is(err, refused) {
		t.Errorf("SetManyIf with a refusing check: %v", err)
	}
	for _, r := range refs {
		if _, v, err := s.Get(ctx, r.ListID, r.Index); err != nil || v != 0 {
			t.Errorf("%v is %d (%v) after refused changes, want 0", r, v, err)
		}
	}
	l, _ := s.lookup(rev.ListID)
	count := l.count
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.AllocateMany(cancelled, status.PurposeRevocation); !errors.Is(err, context.Canceled) {
		t.Errorf("allocation with a cancelled context: %v", err)
	}
	if l, _ := s.lookup(rev.ListID); l.count != count {
		t.Errorf("an allocation with a cancelled context allocated: count %d, want %d", l.count, count)
	}
}
