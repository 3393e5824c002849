//go:build unix

package filelock

import (
	"os"
	"syscall"
	"time"
)

func lock(path string) (func(), error) {
	return flock(path, syscall.LOCK_EX, time.Time{})
}

func tryLock(path string, deadline time.Time) (func(), error) {
	return flock(path, syscall.LOCK_EX|syscall.LOCK_NB, deadline)
}

// flock opens path and locks it with how; with LOCK_NB it tries again
// until deadline, then returns ErrLocked.
func flock(path string, how int, deadline time.Time) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err == syscall.EWOULDBLOCK && how&syscall.LOCK_NB != 0 {
			if !time.Now().Before(deadline) {
				err = ErrLocked
				break
			}
			time.Sleep(min(retryEvery, time.Until(deadline)))
			continue
		}
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
