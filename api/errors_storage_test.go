package api

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/store"
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

// TestMapErrorStoreUnavailable: the ephemeral store down or restarting
// (Redis), however a feature wraps it, answers 503 temporarily_unavailable,
// not 500 (an enrollment answered 500 in the load-balancer proof while
// Redis restarted).
func TestMapErrorStoreUnavailable(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("device proof marker: %w", fmt.Errorf("%w: redis mark used: dial tcp: connection refused", store.ErrUnavailable)),
		fmt.Errorf("x: %w", store.ErrFull),
	} {
		if e := mapError(err); e.Status != http.StatusServiceUnavailable || e.Code != CodeUnavailable {
			t.Errorf("%v: %d %s", err, e.Status, e.Code)
		}
	}
}

// TestMapErrorRegionSuspended: issuing for a client whose region is
// suspended is refused 403 region_suspended (the error also matches
// ErrNotAccredited), never a 500.
func TestMapErrorRegionSuspended(t *testing.T) {
	err := fmt.Errorf("issue: %w", fmt.Errorf("%w: %w: the region 310000 of did:web:x", vc.ErrNotAccredited, vc.ErrRegionSuspended))
	if e := mapError(err); e.Status != http.StatusForbidden || e.Code != "region_suspended" {
		t.Errorf("%v: %d %s", err, e.Status, e.Code)
	}
}

// TestBindingUnconfirmed: a chosen credential ID's binding the ledger did
// not confirm answers 503 binding_unconfirmed with Retry-After, not 500 or
// 404.
func TestBindingUnconfirmed(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/credentials/x/status", nil)
	writeError(rec, req, slog.New(slog.DiscardHandler), fmt.Errorf("issuer: %w: ledger: unavailable", status.ErrUnconfirmed))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" || !strings.Contains(rec.Body.String(), `"binding_unconfirmed"`) {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
}

// TestStatusChangePending: a status change refused because another
// instance's change of the entry is not committed yet answers 503
// status_change_pending with Retry-After.
func TestStatusChangePending(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/credentials/x/status", nil)
	writeError(rec, req, slog.New(slog.DiscardHandler), fmt.Errorf("issuer: %w: entry 3 of list x", status.ErrChangePending))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" || !strings.Contains(rec.Body.String(), `"status_change_pending"`) {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
}
