// Package atomicfile replaces files atomically: a reader (in this process or
// another) sees the old contents or the new, never a torn write, and the new
// contents survive a crash once WriteFile returns. WriteNew makes a file
// the same way but never replaces one.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// WriteFile writes data to a temporary file beside path, syncs it, renames it
// over path and syncs the directory. Missing parent directories are created
// with mode 0700. The temporary file is removed on any error.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, os.Rename)
}

// WriteNew is WriteFile for a file that must not exist yet: the temporary
// file is linked to path, never renamed over it, so an existing file is
// kept and the error wraps os.ErrExist. Of writers racing to make path,
// exactly one succeeds, and a reader sees no file or the whole of it.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, os.Link)
}

// write is WriteFile with install (os.Rename or os.Link) putting the
// synced temporary file at path.
func write(path string, data []byte, perm os.FileMode, install func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	f, err := os.CreateTemp(dir, tempPrefix(path)+"*"+tempSuffix)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("atomicfile: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("atomicfile: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if err := install(f.Name(), path); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	// The new name is durable only once the directory is: a failure here is
	// the caller's (the new contents may not survive a crash).
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: sync directory of %s: %w", path, err)
	}
	defer d.Close()
	if err := syncDir(d); err != nil {
		return fmt.Errorf("atomicfile: sync directory of %s: %w", path, err)
	}
	return nil
}

// tempPrefix and tempSuffix frame the names of WriteFile's temporary
// files for path; os.CreateTemp puts a random string between them, which
// has no "." (so the temporary files of "f.lock" are not taken for those
// of "f").
func tempPrefix(path string) string { return "." + filepath.Base(path) + "." }

const tempSuffix = ".tmp"

// RemoveTemps removes the temporary files WriteFile left beside path when
// the process died before renaming one. Call it only where no WriteFile
// of path can be running (under the lock its writers take): it cannot
// tell a leftover from a write in progress.
func RemoveTemps(path string) error {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	prefix := tempPrefix(path)
	for _, e := range entries {
		random, ours := strings.CutPrefix(e.Name(), prefix)
		random, tmp := strings.CutSuffix(random, tempSuffix)
		if !ours || !tmp || random == "" || strings.Contains(random, ".") || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("atomicfile: %w", err)
		}
	}
	return nil
}

// syncDir syncs an open directory (Windows cannot sync a directory
// handle; there the rename is left to the file system). A test replaces
// it.
var syncDir = func(d *os.File) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	return d.Sync()
}
