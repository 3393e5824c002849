package statuslist_test

import (
	"context"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
)

// TestSharedChangesOrderedAcrossInstances: a client reinstates a credential
// through instance a, whose batch is slow to commit, then suspends it
// through instance b. b must not commit its change before a's, or every
// instance would serve the credential as reinstated though the issuer was
// told the suspension came last (SECURITY.md, Known gaps, 21).
func TestSharedChangesOrderedAcrossInstances(t *testing.T) {
	l := openLedger(t)
	sl := &slowBatch{Ledger: l, held: make(chan struct{}), release: make(chan struct{})}
	a := startInstance(t, sl, t.TempDir(), "a")
	b := startInstance(t, l, t.TempDir(), "b")
	id := a.issue(t, "client-a")
	a.set(t, id, status.PurposeSuspension, 1)
	refs, err := a.shared.Refs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got := value(t, converged(t, l, a, b), refs[1]); got != 1 {
		t.Fatalf("suspension bit %d after the first suspension", got)
	}

	sl.armed.Store(true)
	a.set(t, id, status.PurposeSuspension, 0) // reinstate: its commit is held
	<-sl.held
	suspended := make(chan struct{})
	go func() {
		defer close(suspended)
		b.set(t, id, status.PurposeSuspension, 1)
	}()
	select {
	case <-suspended:
		// Give b's batch the time to commit while a's is held.
		time.Sleep(300 * time.Millisecond)
	case <-time.After(300 * time.Millisecond):
	}
	close(sl.release)
	<-suspended

	lists := converged(t, l, a, b)
	if got := value(t, lists, refs[1]); got != 1 {
		t.Fatalf("every instance serves the credential as not suspended (suspension bit %d) after the issuer's last change, through another instance, suspended it", got)
	}
}
