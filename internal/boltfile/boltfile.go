// Package boltfile keeps a bbolt file open for the life of a process
// without bbolt's in-memory bookkeeping growing with the file.
//
// bbolt's free list remembers, for each page a transaction took from the
// free list since the file was opened, which transaction took it
// (internal/freelist/shared.go, the allocs map), and forgets it only
// when that page is freed again. A file that is mostly appended to (the
// embedded ledger's block log, the binding index) keeps most pages it
// takes, so that map grows with the data for as long as the file stays
// open. Reopening the file is the only way to empty it: DB does so after
// a set number of page allocations, between transactions.
//
// bbolt's own lock of the file (flock) is released when the file is
// closed, so another process waiting for it would get the file in the
// instant of a reopen. DB therefore also holds a companion lock, the
// file's path plus ".lock" (package filelock), from Open to Close,
// taken before bbolt opens the file: every process that opens the file
// through Open waits for that lock, so none gets in during a reopen.
package boltfile

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/trustid-cn/trustid/internal/filelock"
)

// DefaultReopenAfter is the number of page allocations after which DB
// reopens its file when Open is given 0: the allocs map then holds at
// most that many entries (16 bytes each in a Go map, about 35 KiB in
// all), and a reopen (unmap, unlock, lock, map, read the free list)
// comes every few hundred commits.
const DefaultReopenAfter = 1024

// DefaultLockWait is how long Open waits for the companion lock when
// Options.LockWait is 0: bbolt's Timeout in the project's openers.
const DefaultLockWait = time.Second

// ErrLocked is returned by Open when another holder (another process,
// or another DB of the same file in this one) kept the file's companion
// lock for the whole wait.
var ErrLocked = errors.New("boltfile: file in use by another process")

// ErrDamaged is returned by Open for a file shorter than its own pages
// say, or one bbolt cannot read: a copy cut short (a partial backup or
// restore), or not a bbolt file.
var ErrDamaged = errors.New("boltfile: file is damaged")

// ErrClosed is returned by a transaction started after Close.
var ErrClosed = errors.New("boltfile: file closed")

// ErrReopen wraps the error of a reopen that failed (the file gone, or
// locked by a process that opened it without Open): the transaction that triggered
// it was committed; later ones try to open the file again, and fail with
// this error while they cannot.
var ErrReopen = errors.New("boltfile: reopening the file failed")

// DB is a bbolt file, reopened after a set number of page allocations.
// A transaction runs on the file as it was opened when the transaction
// started; a reopen waits for every transaction in progress to end and
// holds new ones back until the file is open again, so no transaction
// sees it closed and every commit made before is in the reopened file.
//
// A transaction's function must not start another transaction on the
// same DB (bbolt forbids that for writes already; here a nested read
// could wait forever behind a reopen waiting for the outer one). Safe
// for concurrent use.
type DB struct {
	open   func() (*bolt.DB, error)
	unlock func() // releases the companion lock
	after  int64
	// due is the open file's reopening threshold (dueAfter).
	due int64

	// mu is held shared by each transaction, exclusively to reopen and
	// to close.
	mu      sync.RWMutex
	db      *bolt.DB // nil: closed, or the last reopen failed
	closed  bool
	reopens int
	// failures counts failed openings; lastErr is the last one's error.
	// A transaction that waited while an opening failed reports that
	// failure rather than trying again itself: otherwise the
	// transactions queued behind a failed reopen would each try in turn
	// under the exclusive lock (bbolt waits up to its Timeout for a
	// locked file), the last of n waiting n times that long.
	failures atomic.Int64
	lastErr  error
}

// Options configures Open; the zero value is the defaults.
type Options struct {
	// ReopenAfter is the number of page allocations between reopenings;
	// 0 means DefaultReopenAfter.
	ReopenAfter int
	// LockWait bounds the wait for the companion lock; 0 means
	// DefaultLockWait.
	LockWait time.Duration
}

// Open takes the companion lock of the bbolt file at path (path +
// ".lock"), waiting at most opts.LockWait (ErrLocked), then opens the
// file with open, which also reopens it; the lock is held until Close.
// open should only
// open the file (create buckets after Open, with Update): bbolt's Open
// writes nothing to a file that has data and a synced free list, so a
// reopen works on a full disk. With NoFreelistSync, a reopen rebuilds the
// free list by walking every page, so such a file is reopened only after
// as many page allocations as it has pages (dueAfter).
func Open(path string, open func() (*bolt.DB, error), opts Options) (*DB, error) {
	if opts.ReopenAfter <= 0 {
		opts.ReopenAfter = DefaultReopenAfter
	}
	if opts.LockWait <= 0 {
		opts.LockWait = DefaultLockWait
	}
	unlock, err := filelock.TryLock(path+".lock", opts.LockWait)
	if errors.Is(err, filelock.ErrLocked) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("boltfile: lock %s: %w", path, err)
	}
	if err := checkWhole(path, opts.LockWait); err != nil {
		unlock()
		return nil, err
	}
	db, err := open()
	if err != nil {
		unlock()
		return nil, err
	}
	d := &DB{open: open, unlock: unlock, after: int64(opts.ReopenAfter)}
	d.install(db)
	return d, nil
}

// checkWhole opens the bbolt file at path read-only and refuses it
// (ErrDamaged) when its pages end past its size or bbolt cannot read it
// (bbolt panics on a damaged free list, and a page past the end of the
// file faults): a copy cut short would otherwise panic at open or at a
// later read. A missing or empty file is new, and passes. A read that
// faulted leaves bbolt's handle of the file open: the caller is to stop.
func checkWhole(path string, wait time.Duration) (err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) || err == nil && fi.Size() == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("boltfile: %w", err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s cannot be read (%v): it is cut short or not a bbolt file; put back a complete copy, taken with its process stopped", ErrDamaged, path, r)
		}
	}()
	db, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true, Timeout: wait})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil // locked by a process that opened it without Open: open says so
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w; put back a complete copy, taken with its process stopped", ErrDamaged, path, err)
	}
	defer db.Close()
	var size int64
	db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	if fi.Size() < size {
		return fmt.Errorf("%w: %s has %d bytes, its pages end at byte %d: it was cut short (a partial copy); put back a complete copy, taken with its process stopped", ErrDamaged, path, fi.Size(), size)
	}
	return nil
}

// install makes db the open file; d.mu must be held exclusively (or d
// not shared yet).
func (d *DB) install(db *bolt.DB) {
	d.db, d.due = db, dueAfter(db, d.after)
}

// dueAfter returns the page allocations after which db is reopened:
// after, or, for a file whose free list is rebuilt at open by walking
// every page (NoFreelistSync), at least its number of pages, so the walk
// costs at most one page a page allocated, not a full walk every after
// allocations of a file that keeps growing. bbolt's allocs map then
// holds at most one entry per page of the file.
func dueAfter(db *bolt.DB, after int64) int64 {
	if !db.NoFreelistSync {
		return after
	}
	var pages int64
	if db.View(func(tx *bolt.Tx) error {
		pages = tx.Size() / int64(db.Info().PageSize)
		return nil
	}) != nil {
		return after
	}
	return max(after, pages)
}

// acquire returns the open bbolt DB with mu held shared (release with
// mu.RUnlock), opening it again when the last reopen failed.
func (d *DB) acquire() (*bolt.DB, error) {
	seen := d.failures.Load()
	for {
		d.mu.RLock()
		if d.db != nil {
			return d.db, nil
		}
		d.mu.RUnlock()
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, ErrClosed
		}
		if d.db == nil {
			if d.failures.Load() != seen {
				err := d.lastErr // an opening failed while this one waited
				d.mu.Unlock()
				return nil, err
			}
			db, err := d.open()
			if err != nil {
				d.failed(err)
				d.mu.Unlock()
				return nil, d.lastErr
			}
			d.install(db)
			d.reopens++
		}
		d.mu.Unlock()
	}
}

// View runs fn in a read-only transaction (bolt.DB.View).
func (d *DB) View(fn func(*bolt.Tx) error) error {
	db, err := d.acquire()
	if err != nil {
		return err
	}
	defer d.mu.RUnlock()
	return db.View(fn)
}

// Update runs fn in a read-write transaction (bolt.DB.Update), then
// reopens the file if it is due.
func (d *DB) Update(fn func(*bolt.Tx) error) error {
	return d.write(fn, (*bolt.DB).Update)
}

// Batch is bolt.DB.Batch: fn may run more than once, in a transaction
// shared with other Batch callers; then the file is reopened if due.
func (d *DB) Batch(fn func(*bolt.Tx) error) error {
	return d.write(fn, (*bolt.DB).Batch)
}

func (d *DB) write(fn func(*bolt.Tx) error, run func(*bolt.DB, func(*bolt.Tx) error) error) error {
	db, err := d.acquire()
	if err != nil {
		return err
	}
	err = run(db, fn)
	st := db.Stats()
	due := st.TxStats.GetPageCount() >= d.due
	d.mu.RUnlock()
	if due {
		d.reopen(db)
	}
	return err
}

// reopen closes old and opens the file again, unless another caller
// did so first.
func (d *DB) reopen(old *bolt.DB) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db != old {
		return
	}
	// A failure leaves d.db nil: the next transaction opens the file
	// again, or reports why it cannot.
	d.db = nil
	if err := old.Close(); err != nil {
		d.failed(err)
		return
	}
	db, err := d.open()
	if err != nil {
		d.failed(err)
		return
	}
	d.install(db)
	d.reopens++
}

// failed records a failed opening; d.mu must be held exclusively.
func (d *DB) failed(err error) {
	d.lastErr = fmt.Errorf("%w: %w", ErrReopen, err)
	d.failures.Add(1)
}

// Reopens returns how many times the file was opened again.
func (d *DB) Reopens() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.reopens
}

// Close waits for the transactions in progress, closes the file and
// releases its companion lock.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	defer d.unlock()
	if d.db == nil {
		return nil
	}
	err := d.db.Close()
	d.db = nil
	return err
}
