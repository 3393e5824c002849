package statuslist_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/ledger"
)

// TestSharedReadsItsLastChange: an instance reads its own last
// acknowledged change of an entry until that change is on the chain
// (read your writes, docs/credentials.md "One region, many instances"),
// also when its earlier changes of the entry reach it in between and one
// of them has the same value: suspend, reinstate, suspend again, the
// last one still in the outbox when the first two are applied. (The
// overlay entry was dropped when the first suspension was applied, its
// value equal to the last one's, and the instance then read the
// reinstatement.)
func TestSharedReadsItsLastChange(t *testing.T) {
	ctx := context.Background()
	l := openLedger(t)
	sl := &slowBatch{Ledger: l, held: make(chan struct{}), release: make(chan struct{})}
	a := openInstance(t, l, sl, t.TempDir(), t.TempDir()+"/bindings.db", "a", nil, nil)
	if err := a.ob.Watch(a.shared.Restore, a.shared.Done); err != nil {
		t.Fatal(err)
	}
	// The instance's follower applies the chain's events only once gate
	// is open.
	gate := make(chan struct{})
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.ob.Run(runCtx) })
	wg.Go(func() { a.shared.RunHeads(runCtx, 10*time.Millisecond) })
	wg.Go(func() {
		ledger.Follow(runCtx, l, 10*time.Millisecond, func(ev ledger.Event) error {
			select {
			case <-gate:
			case <-runCtx.Done():
				return runCtx.Err()
			}
			return errors.Join(a.shared.ApplyEvent(ev.Block, ev.Name, ev.Payload), a.chosen.Index.ApplyEvent(ev))
		}, nil)
	})
	t.Cleanup(func() { cancel(); wg.Wait(); a.ob.Close() })

	refs, err := a.shared.AllocateMany(ctx, status.PurposeSuspension)
	if err != nil {
		t.Fatal(err)
	}
	r := refs[0]
	change := func(v uint8) {
		t.Helper()
		if err := a.shared.SetMany(ctx, []status.Entry{{ListID: r.ListID, Index: r.Index, Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
	read := func() uint8 {
		t.Helper()
		_, v, err := a.shared.Get(ctx, r.ListID, r.Index)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	change(1) // suspend: committed, not yet applied here
	if err := a.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	change(0) // reinstate: committed, not yet applied here
	if err := a.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sl.armed.Store(true)
	change(1) // suspend again: its batch held on its way to the chain
	<-sl.held
	if got := read(); got != 1 {
		t.Fatalf("before the chain's changes are applied: %d, want 1", got)
	}
	close(gate)
	// Wait until the two committed changes are applied here.
	deadline := time.Now().Add(10 * time.Second)
	for {
		snap, err := a.shared.Snapshot(ctx, r.ListID)
		if err == nil && snap.Version >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the committed changes were not applied: %+v %v", snap, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := read(); got != 1 {
		t.Errorf("the instance reads %d after its first two changes were applied, want 1: its last change (suspended) is not on the chain yet", got)
	}
	close(sl.release)
	if err := a.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != 1 {
		t.Errorf("after the last change: %d, want 1", got)
	}
}
