package ledgeranchors_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/sdk/ledgeranchors"
)

// TestStartFailsWhenTheLedgerCannotBeLoaded: Start returns ErrNotReady,
// with the ledger's last error, when ctx ends before the view loaded, and
// leaves nothing running.
func TestStartFailsWhenTheLedgerCannotBeLoaded(t *testing.T) {
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	b.Close()
	a.Close() // every call now fails
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := ledgeranchors.Start(ctx, a, ledgeranchors.Options{})
	// The cause is the ledger's error (a closed embedded ledger answers
	// bbolt's "database not open"), not the deadline.
	if !errors.Is(err, ledgeranchors.ErrNotReady) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start on a closed ledger: %v, want ErrNotReady with the ledger's error", err)
	}
}
