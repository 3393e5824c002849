// Package jsonfile keeps a registry in one JSON file that several processes
// share (a running node and the `trustid` commands that change it): the
// file is parsed strictly, re-read when it changes, and changed under a
// cross-process lock (internal/filelock) by a read-modify-write that never
// loses another writer's update, written atomically (internal/atomicfile).
// auth's clients.json and identity's terminals.json are kept with it.
package jsonfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/trustid-cn/trustid/internal/atomicfile"
	"github.com/trustid-cn/trustid/internal/filelock"
)

// ErrTooLarge: the file is larger than Options.MaxSize.
var ErrTooLarge = errors.New("jsonfile: file too large")

// Error is a failure of the file itself: Op says which step failed
// ("read", "mkdir", "lock", "encode", "write" or "stat").
type Error struct {
	Op   string
	Path string
	Err  error
}

func (e *Error) Error() string { return e.Op + " " + e.Path + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Options configures Open. Decode, Encode and Empty are required.
type Options[T any] struct {
	// Decode parses and validates the file's contents strictly (with
	// internal/strictjson). Its errors are returned wrapped in an *Error
	// with Op "read".
	Decode func(data []byte) (T, error)
	// Encode renders a value as the file's contents.
	Encode func(T) ([]byte, error)
	// Empty returns the value of a missing file.
	Empty func() T
	// MaxSize bounds the file in bytes; a larger file is refused with
	// ErrTooLarge.
	MaxSize int64
	// Perm is the file's mode; zero means 0600.
	Perm os.FileMode
}

// Registry is a value kept in a JSON file. It is safe for concurrent use.
// Values it hands out are shared: callers must not change them (Update
// gives its function a private copy read from the file).
type Registry[T any] struct {
	path string
	opts Options[T]

	writeMu sync.Mutex // serializes writers in this process

	mu   sync.RWMutex
	val  T
	info os.FileInfo // of the file val came from; nil if it was missing
}

// Open reads the registry at path. A missing file is the Empty value (the
// file is created by the first Update); a file that cannot be read or
// decoded is an error, and is never overwritten.
func Open[T any](path string, opts Options[T]) (*Registry[T], error) {
	if opts.Perm == 0 {
		opts.Perm = 0o600
	}
	r := &Registry[T]{path: path, opts: opts}
	val, info, err := r.read()
	if err != nil {
		return nil, err
	}
	r.val, r.info = val, info
	return r, nil
}

// Path returns the file's path.
func (r *Registry[T]) Path() string { return r.path }

// Value returns the value last read or written.
func (r *Registry[T]) Value() T {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.val
}

// Reload re-reads the file if its identity, size or modification time
// changed since it was last read, and reports whether the value changed.
// On error the value in memory is kept, and the next Reload tries again.
func (r *Registry[T]) Reload() (bool, error) {
	info, err := os.Stat(r.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, &Error{Op: "read", Path: r.path, Err: err}
	}
	r.mu.RLock()
	same := sameFile(r.info, info)
	r.mu.RUnlock()
	if same {
		return false, nil
	}
	val, info, err := r.read()
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	r.val, r.info = val, info
	r.mu.Unlock()
	return true, nil
}

// Update changes the file: under the cross-process lock (the file's path
// plus ".lock") it re-reads the file whatever its modification time says,
// calls fn with that value, and writes what fn returns atomically, which
// then becomes the value in memory (as decoded from the bytes written, so
// it is what other processes read). An error from fn is returned as it is
// and nothing is written; failures of the file are *Error.
func (r *Registry[T]) Update(fn func(T) (T, error)) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(r.path), 0o700); err != nil {
		return &Error{Op: "mkdir", Path: r.path, Err: err}
	}
	unlock, err := filelock.Lock(r.path + ".lock")
	if err != nil {
		return &Error{Op: "lock", Path: r.path, Err: err}
	}
	defer unlock()
	cur, _, err := r.read()
	if err != nil {
		return err
	}
	next, err := fn(cur)
	if err != nil {
		return err
	}
	data, err := r.opts.Encode(next)
	if err != nil {
		return &Error{Op: "encode", Path: r.path, Err: err}
	}
	val, err := r.opts.Decode(data)
	if err != nil {
		return &Error{Op: "encode", Path: r.path, Err: err}
	}
	if err := atomicfile.WriteFile(r.path, data, r.opts.Perm); err != nil {
		return &Error{Op: "write", Path: r.path, Err: err}
	}
	info, err := os.Stat(r.path)
	if err != nil {
		return &Error{Op: "stat", Path: r.path, Err: err}
	}
	r.mu.Lock()
	r.val, r.info = val, info
	r.mu.Unlock()
	return nil
}

// read reads and decodes the file; a missing file is the Empty value.
func (r *Registry[T]) read() (T, os.FileInfo, error) {
	var zero T
	f, err := os.Open(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return r.opts.Empty(), nil, nil
	}
	if err != nil {
		return zero, nil, &Error{Op: "read", Path: r.path, Err: err}
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return zero, nil, &Error{Op: "read", Path: r.path, Err: err}
	}
	if info.Size() > r.opts.MaxSize {
		return zero, nil, &Error{Op: "read", Path: r.path, Err: fmt.Errorf("%w: over %d bytes", ErrTooLarge, r.opts.MaxSize)}
	}
	data, err := io.ReadAll(io.LimitReader(f, r.opts.MaxSize+1))
	if err != nil {
		return zero, nil, &Error{Op: "read", Path: r.path, Err: err}
	}
	if int64(len(data)) > r.opts.MaxSize {
		return zero, nil, &Error{Op: "read", Path: r.path, Err: fmt.Errorf("%w: over %d bytes", ErrTooLarge, r.opts.MaxSize)}
	}
	val, err := r.opts.Decode(data)
	if err != nil {
		return zero, nil, &Error{Op: "read", Path: r.path, Err: err}
	}
	return val, info, nil
}

func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}
