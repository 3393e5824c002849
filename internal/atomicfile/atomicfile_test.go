package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteFileReplacesAndSetsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "f.json")
	if err := WriteFile(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "two" {
		t.Fatalf("read = %q, %v; want two", got, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode = %v, want 0644", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only f.json (no temporary files left)", len(entries))
	}
}

func TestWriteFileFailureLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory in the way of the target makes the rename fail.
	blocked := filepath.Join(dir, "blocked")
	if err := os.Mkdir(blocked, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blocked, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(blocked, []byte("new"), 0o600); err == nil {
		t.Fatal("WriteFile over a non-empty directory succeeded")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("directory holds %d entries after a failed write, want 2 (temporary file removed)", len(entries))
	}
	got, _ := os.ReadFile(path)
	if string(got) != "old" {
		t.Fatalf("other file changed: %q", got)
	}
}

// TestWriteFileDirectorySyncFails: a directory that cannot be synced is
// an error, since the rename may not survive a crash.
func TestWriteFileDirectorySyncFails(t *testing.T) {
	boom := errors.New("EIO")
	old := syncDir
	syncDir = func(*os.File) error { return boom }
	t.Cleanup(func() { syncDir = old })
	if err := WriteFile(filepath.Join(t.TempDir(), "f"), []byte("x"), 0o600); !errors.Is(err, boom) {
		t.Fatalf("directory sync failure not reported: %v", err)
	}
}

// TestRemoveTemps: the temporary files a crash left beside a file are
// removed, and nothing else: not the file, not another file's leftovers
// (f.lock's begin like f's), not a name that only looks alike.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	// What a crash between writing and renaming leaves.
	var left []string
	for range 2 {
		f, err := os.CreateTemp(dir, tempPrefix(path)+"*"+tempSuffix)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		left = append(left, filepath.Base(f.Name()))
	}
	other, err := os.CreateTemp(dir, tempPrefix(path+".lock")+"*"+tempSuffix)
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	keep := []string{"f", filepath.Base(other.Name()), ".f..tmp", ".f.1.tmp.x", "f.1.tmp"}
	for _, name := range keep[2:] {
		os.WriteFile(filepath.Join(dir, name), nil, 0o600)
	}
	if err := RemoveTemps(path); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(keep)
	if !slices.Equal(got, keep) {
		t.Errorf("after RemoveTemps: %q, want %q (removed %q)", got, keep, left)
	}
	if err := RemoveTemps(filepath.Join(dir, "missing", "f")); err == nil {
		t.Error("RemoveTemps in a missing directory succeeded")
	}
}

// TestWriteNew: WriteNew makes a missing file with its mode, and never
// replaces one: the existing file is kept, the error wraps os.ErrExist
// and no temporary file is left.
func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteNew(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteNew(path, []byte("second"), 0o644); !errors.Is(err, os.ErrExist) {
		t.Fatalf("WriteNew over an existing file: %v, want os.ErrExist", err)
	}
	got, _ := os.ReadFile(path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "first" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file %q, mode %v; want the first write, 0600", got, fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only f", len(entries))
	}
}
