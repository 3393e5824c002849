// Package filelock serializes read-modify-write cycles of a data file
// across processes (trustid serve and the operator CLI changing the same
// registry or keystore) with an exclusive lock on a companion lock file,
// and lets a process hold a file for its whole life (TryLock: the
// embedded ledger's bbolt files, package boltfile).
//
// The lock is advisory: only code that takes it is excluded. Callers keep
// their own in-process mutex as well, take the lock, re-read the file,
// apply their change and write it (atomically, by rename), then release.
package filelock

import (
	"errors"
	"time"
)

// ErrLocked is returned by TryLock when another process, or another open
// of the lock file in this one, held the lock for the whole wait.
var ErrLocked = errors.New("filelock: locked by another holder")

// Lock takes the exclusive lock of path (by convention the data file's
// path plus ".lock"), creating the lock file when needed, waiting while
// another process or another open file holds it. It returns the function
// that releases the lock; call it exactly once.
//
// On Unix it is flock(2): the kernel releases the lock when the process
// dies, so a crash never leaves the file locked. Elsewhere it creates path
// exclusively, retrying for up to ten seconds; a crashed writer leaves the
// file behind and it must be removed by hand.
func Lock(path string) (unlock func(), err error) { return lock(path) }

// TryLock is Lock waiting at most wait: it tries once, then again every
// 20 ms until wait has passed, and returns ErrLocked if the lock was
// still held. Two opens of path in one process exclude each other as two
// processes do.
func TryLock(path string, wait time.Duration) (unlock func(), err error) {
	return tryLock(path, time.Now().Add(wait))
}

// retryEvery is how often TryLock tries again.
const retryEvery = 20 * time.Millisecond
