package ledgeranchors_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/sdk/ledgeranchors"
)

// TestStartFailsWhenTheLedgerCannotBeLoaded: Start returns ErrNotReady,
// with the ledger's last error, when ctx ends before the view loaded, and
// leaves nothing running. ctx ends when the view retries (its second
// call of Height, a second after the first failed), so the first failure
// has been recorded however slowly the machine runs; before, ctx ended
// after 300 ms, which a loaded machine could spend before the view's
// first call.
func TestStartFailsWhenTheLedgerCannotBeLoaded(t *testing.T) {
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	b.Close()
	a.Close() // every call now fails
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := ledgeranchors.Start(ctx, &onRetry{Ledger: a, retry: cancel}, ledgeranchors.Options{})
	// The cause is the ledger's error (a closed embedded ledger answers
	// bbolt's "database not open"), not the deadline.
	if !errors.Is(err, ledgeranchors.ErrNotReady) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Fatalf("Start on a closed ledger: %v, want ErrNotReady with the ledger's error", err)
	}
}

// onRetry is a ledger that calls retry at the second call of Height: a
// view calls Height first when it loads, and again when it retries.
type onRetry struct {
	ledger.Ledger
	calls atomic.Int32
	retry func()
}

func (l *onRetry) Height(ctx context.Context) (uint64, error) {
	if l.calls.Add(1) == 2 {
		l.retry()
	}
	return l.Ledger.Height(ctx)
}
