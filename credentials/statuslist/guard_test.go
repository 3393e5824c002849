package statuslist_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/ledger"
)

// failOnceAnchor blocks the first armed Anchor call until release is
// closed, then fails it (a disk error of the outbox's write); every other
// call goes to the outbox.
type failOnceAnchor struct {
	*ledger.Outbox
	armed   *atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (a failOnceAnchor) Anchor(ctx context.Context, changes []chaincode.StatusChange) error {
	if a.armed.CompareAndSwap(true, false) {
		close(a.entered)
		<-a.release
		return errors.New("outbox: write failed (disk full)")
	}
	return a.Outbox.Anchor(ctx, changes)
}

// TestSharedGuardsReleasedWithTheirChange: two changes of one entry, each
// guarded by another entry (as an enrollment's suspension is guarded by
// every copy's revocation entry); the first's Anchor fails while the
// second waits for its turn, which then commits (before session 24 the
// second went ahead and committed first; it may no longer, see
// TestSharedOverlayFollowsOutboxOrder). Every marker is released: another instance can then
// change either guard. (Review finding, session 19: guards filed under
// the entry of their change's first key were popped by whichever change
// of the entry was done first, so the failed change released a guard
// twice and the other's guard was counted for the instance's life.)
func TestSharedGuardsReleasedWithTheirChange(t *testing.T) {
	markers := sharedStores()["memory"](t)
	const ttl = 300 * time.Millisecond
	opt := func(o *statuslist.SharedOptions) {
		o.Markers, o.MarkerTTL, o.MarkerWait = markers, ttl, 200*time.Millisecond
	}
	l := openLedger(t)
	fa := failOnceAnchor{armed: new(atomic.Bool), entered: make(chan struct{}), release: make(chan struct{})}
	a := startInstanceAnchor(t, l, t.TempDir(), "a", func(ob *ledger.Outbox) statuslist.Anchorer { fa.Outbox = ob; return fa }, opt)
	b := startInstanceAnchor(t, l, t.TempDir(), "b", nil, opt)
	ctx := context.Background()
	c1, c2 := a.issue(t, "client"), a.issue(t, "client")
	r1, _ := a.shared.Refs(ctx, c1)
	r2, _ := a.shared.Refs(ctx, c2)
	v1, s1, v2 := r1[0], r1[1], r2[0]
	converged(t, l, a, b)
	accept := func([]uint8) error { return nil }

	// R1: suspend credential 1 guarded by V1; its Anchor is held, then fails.
	fa.armed.Store(true)
	failed := make(chan error, 1)
	go func() {
		failed <- a.shared.SetManyIf(ctx, []status.Entry{{ListID: s1.ListID, Index: s1.Index, Value: 1}}, []status.Ref{v1}, accept)
	}()
	<-fa.entered
	// R2: a change of the same entry S1 guarded by V2 (an enrollment's
	// suspension naming credential 1 first, guarded by every copy's
	// revocation entry, is the same shape) waits for R1's turn (its
	// changes of S1 reach the outbox in the order they were checked),
	// then goes through and commits.
	second := make(chan error, 1)
	go func() {
		second <- a.shared.SetManyIf(ctx, []status.Entry{{ListID: s1.ListID, Index: s1.Index, Value: 1}}, []status.Ref{v2}, accept)
	}()
	time.Sleep(50 * time.Millisecond)
	close(fa.release)
	if err := <-failed; err == nil {
		t.Fatal("R1 succeeded")
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if err := a.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	converged(t, l, a, b)

	// Nothing of a's is pending now: every marker must go (at the latest
	// when it expires). Wait past the ttl: a refreshes what it still counts.
	time.Sleep(3 * ttl)
	for _, v := range []status.Ref{v1, v2} {
		if err := b.shared.Set(ctx, v.ListID, v.Index, 1); err != nil {
			t.Fatalf("b cannot revoke a guard of a's changes although a has none pending: %v", err)
		}
	}
}
