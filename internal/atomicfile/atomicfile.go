// Package atomicfile replaces files atomically: a reader (in this process or
// another) sees the old contents or the new, never a torn write, and the new
// contents survive a crash once WriteFile returns.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// WriteFile writes data to a temporary file beside path, syncs it, renames it
// over path and syncs the directory. Missing parent directories are created
// with mode 0700. The temporary file is removed on any error.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
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
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	// The rename is durable only once the directory is: a failure here is
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

// syncDir syncs an open directory (Windows cannot sync a directory
// handle; there the rename is left to the file system). A test replaces
// it.
var syncDir = func(d *os.File) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	return d.Sync()
}
