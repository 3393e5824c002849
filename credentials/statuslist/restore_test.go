package statuslist_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/ledger"
)

// committedBatch is a slowBatch that also says when the held batch's
// Submit has returned (committed on the chain).
type committedBatch struct {
	*slowBatch
	once      sync.Once
	committed chan struct{}
}

func (c *committedBatch) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	out, block, err := c.slowBatch.Submit(ctx, fn, args...)
	if fn == "AnchorBatch" {
		c.once.Do(func() { close(c.committed) })
	}
	return out, block, err
}

// TestSharedRestoreWhileSending: a node restarts with a change in its
// outbox, and the outbox runs (cmd/trustid starts it with the ledger)
// before the status store restores what it holds. The batch commits
// while Restore is being handed it: Watch reports it done only after
// Restore has counted it, so its entry's marker is released; another
// instance's change of the entry then takes no wait, long after the
// marker's ttl. (With the outbox reporting the batch before Restore, as
// OnDone and Unsent read separately allowed, the count Restore took was
// never released and RunMarkers held the marker for as long as the
// instance ran: review finding, session 19.)
func TestSharedRestoreWhileSending(t *testing.T) {
	markers := sharedStores()["memory"](t)
	const ttl = 300 * time.Millisecond
	l := openLedger(t)
	dir := t.TempDir()
	open := func(led ledger.Ledger) (*statuslist.Shared, *ledger.Outbox) {
		return openStopped(t, l, led, dir, markers, ttl)
	}
	ctx := context.Background()
	// Instance a accepts a suspension while its outbox does not run (the
	// chain unreachable), then stops.
	sh, ob := open(l)
	list, idx, err := sh.Allocate(ctx, status.PurposeSuspension)
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Set(ctx, list, idx, 1); err != nil {
		t.Fatal(err)
	}
	ob.Close()

	// It restarts: the outbox runs first, its batch's commit held.
	held := &committedBatch{slowBatch: &slowBatch{Ledger: l, held: make(chan struct{}), release: make(chan struct{})}, committed: make(chan struct{})}
	held.armed.Store(true)
	sh, ob = open(held)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ob.Run(rctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); ob.Close() })
	<-held.held

	var mu sync.Mutex
	var order []string
	restore := func(cs []chaincode.StatusChange) {
		if len(cs) == 0 {
			t.Error("Watch handed Restore no change; the outbox holds one")
		}
		// The batch commits now, while Restore is handed it.
		close(held.release)
		<-held.committed
		time.Sleep(50 * time.Millisecond) // the outbox reaches its report
		mu.Lock()
		order = append(order, "restore")
		mu.Unlock()
		sh.Restore(cs)
	}
	done := func(cs []chaincode.StatusChange, batch string, block uint64) {
		mu.Lock()
		order = append(order, "done")
		mu.Unlock()
		sh.Done(cs, batch, block)
	}
	if err := ob.Watch(restore, done); err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
	defer fcancel()
	if err := ob.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(order) != 2 || order[0] != "restore" || order[1] != "done" {
		t.Errorf("order %v, want the batch reported done after Restore", order)
	}
	mu.Unlock()
	wg.Add(1)
	go func() { defer wg.Done(); sh.RunMarkers(rctx) }()

	// a holds nothing: b's change of the entry takes no wait, also long
	// after a's marker's ttl.
	b := startInstanceAnchor(t, l, t.TempDir(), "b", nil, func(o *statuslist.SharedOptions) {
		o.Markers, o.MarkerTTL, o.MarkerWait = markers, ttl, 500*time.Millisecond
	})
	time.Sleep(3 * ttl)
	if err := b.shared.Set(ctx, list, idx, 0); err != nil {
		t.Fatalf("b's change of an entry a's outbox committed: %v", err)
	}
}

// openStopped opens instance "a" of region A over dir with markers whose
// ttl is ttl, its outbox sending to led (l, or a wrapper of it); nothing
// runs: neither the outbox nor RunMarkers.
func openStopped(t *testing.T, l, led ledger.Ledger, dir string, markers statuslist.Markers, ttl time.Duration) (*statuslist.Shared, *ledger.Outbox) {
	t.Helper()
	in := openInstance(t, l, led, dir, filepath.Join(t.TempDir(), "bindings.db"), "a", nil, func(o *statuslist.SharedOptions) {
		o.Markers, o.MarkerTTL, o.MarkerWait = markers, ttl, 200*time.Millisecond
	})
	return in.shared, in.ob
}

// TestSharedStalledHolderClaimsAgain: an instance holding an entry's
// marker for a change in its outbox claims no marker for its next change
// of the entry, but only while its last claim or refresh is recent: an
// instance that stalled (no refresh) past the marker's ttl, while another
// instance took the lapsed marker, claims again and waits, rather than
// accept a change alongside the other's.
func TestSharedStalledHolderClaimsAgain(t *testing.T) {
	markers := sharedStores()["memory"](t)
	const ttl = 200 * time.Millisecond
	l := openLedger(t)
	sh, ob := openStopped(t, l, l, t.TempDir(), markers, ttl)
	defer ob.Close()
	ctx := context.Background()
	list, idx, err := sh.Allocate(ctx, status.PurposeSuspension)
	if err != nil {
		t.Fatal(err)
	}
	// The outbox does not run: the change stays in it, its marker held.
	if err := sh.Set(ctx, list, idx, 1); err != nil {
		t.Fatal(err)
	}
	if err := sh.Set(ctx, list, idx, 0); err != nil {
		t.Fatalf("a second change of an entry whose marker the instance holds: %v", err)
	}
	// No refresh runs (a stalled instance): the marker lapses, x takes it.
	time.Sleep(ttl + 50*time.Millisecond)
	key := "status-change-pending:" + list + ":" + strconv.Itoa(idx)
	if ok, err := markers.Claim(ctx, []byte("x"), []byte("="), time.Minute, key); err != nil || !ok[0].Held {
		t.Fatalf("x's claim of the lapsed marker: %v %v", ok, err)
	}
	if err := sh.Set(ctx, list, idx, 1); !errors.Is(err, status.ErrChangePending) {
		t.Fatalf("a change of an entry whose lapsed marker x took: %v, want ErrChangePending", err)
	}
}
