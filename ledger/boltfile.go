package ledger

import (
	"errors"
	"fmt"

	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/trustid-cn/trustid/internal/boltfile"
)

// OpenFileError wraps err, from opening the ledger file at path, in
// ErrUnavailable; a file another process holds is named as such.
func OpenFileError(path string, err error) error {
	if errors.Is(err, bolterrors.ErrTimeout) || errors.Is(err, boltfile.ErrLocked) {
		return fmt.Errorf("%w: %s is locked by another process (a trustid serve running on this data directory?)", ErrUnavailable, path)
	}
	return fmt.Errorf("%w: open %s: %v", ErrUnavailable, path, err)
}

// reopenAfter is the page allocations between reopenings of the outbox's
// and the binding index's files (package boltfile); 0 is its default.
// Tests lower it.
var reopenAfter = 0
