package api

import (
	"fmt"
	"io/fs"
	"net/http"
	"syscall"
	"testing"

	vc "github.com/trustid-cn/trustid/credentials"
)

// TestMapErrorStorageFull: a write that fails on a full disk or quota,
// however wrapped (even under a sentinel with its own mapping), answers
// 507 insufficient_storage, not 500; other errors keep their mapping.
func TestMapErrorStorageFull(t *testing.T) {
	for _, err := range []error{
		&fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC},
		fmt.Errorf("%w: %w", vc.ErrStatusFull, &fs.PathError{Op: "sync", Path: "x", Err: syscall.ENOSPC}),
		fmt.Errorf("save: %w", syscall.EDQUOT),
	} {
		e := mapError(err)
		if e.Status != http.StatusInsufficientStorage || e.Code != CodeStorageFull {
			t.Errorf("%v: %d %s", err, e.Status, e.Code)
		}
	}
	if e := mapError(fmt.Errorf("%w: x", vc.ErrStatusFull)); e.Status != http.StatusServiceUnavailable {
		t.Errorf("status full without ENOSPC: %d", e.Status)
	}
	if e := mapError(&fs.PathError{Op: "write", Path: "x", Err: syscall.EIO}); e.Status != http.StatusInternalServerError {
		t.Errorf("EIO: %d", e.Status)
	}
}
