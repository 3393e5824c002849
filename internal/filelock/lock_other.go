//go:build !unix

package filelock

import (
	"errors"
	"os"
	"time"
)

func lock(path string) (func(), error) {
	return tryLock(path, time.Now().Add(10*time.Second))
}

func tryLock(path string, deadline time.Time) (func(), error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if !time.Now().Before(deadline) {
			return nil, ErrLocked
		}
		time.Sleep(min(retryEvery, time.Until(deadline)))
	}
}
