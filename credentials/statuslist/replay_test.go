package statuslist_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// lostAnswer is a ledger whose next AnchorBatch, once armed, commits but
// fails as if the answer were lost (a timeout after the commit): the
// outbox sends the batch again and the chain answers it as a replay.
type lostAnswer struct {
	ledger.Ledger
	armed atomic.Bool
}

func (l *lostAnswer) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	out, block, err := l.Ledger.Submit(ctx, fn, args...)
	if err == nil && fn == "AnchorBatch" && l.armed.CompareAndSwap(true, false) {
		return nil, 0, fmt.Errorf("%w: the answer was lost", ledger.ErrUnavailable)
	}
	return out, block, err
}

// TestSharedSettleHeadsAfterReplay: an instance revokes a credential and
// stops; the chain's answer to the revocation's batch was lost and the
// outbox had it confirmed as a replay, and the instance's view of the
// chain applies the batch late. The stop sequence (the outbox flushed,
// SettleHeads, flushed again: cmd/trustid's flushOutbox) must follow the
// batch and anchor the list's new head. Before, a replay was reported
// with no block, as a refused batch, so SettleHeads did not wait and the
// list was left one version ahead of its anchored head (SECURITY.md,
// Known gaps, 23).
func TestSharedSettleHeadsAfterReplay(t *testing.T) {
	l := openLedger(t)
	lost := &lostAnswer{Ledger: l}
	dir := t.TempDir()
	in := openInstance(t, l, lost, dir, filepath.Join(dir, "bindings.db"), "a", nil, nil)
	if err := in.ob.Watch(in.shared.Restore, in.shared.Done); err != nil {
		t.Fatal(err)
	}
	// The outbox and the view run past the node's context (serving), as
	// in cmd/trustid; RunHeads stops with it.
	var hold sync.RWMutex
	follow, stopFollow := context.WithCancel(context.Background())
	serving, stopServing := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); in.ob.Run(follow) }()
	go func() {
		defer wg.Done()
		ledger.Follow(follow, l, 10*time.Millisecond, func(ev ledger.Event) error {
			hold.RLock()
			defer hold.RUnlock()
			return errors.Join(in.shared.ApplyEvent(ev.Block, ev.Name, ev.Payload), in.chosen.Index.ApplyEvent(ev))
		}, nil)
	}()
	go func() { defer wg.Done(); in.shared.RunHeads(serving, 10*time.Millisecond) }()
	t.Cleanup(func() { stopServing(); stopFollow(); wg.Wait(); in.ob.Close() })

	id := in.issue(t, "rp-1")
	converged(t, l, in)
	refs, err := in.shared.Refs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var list string // the revocation entry's
	for _, r := range refs {
		if r.Purpose == status.PurposeRevocation {
			list = r.ListID
		}
	}

	hold.Lock()
	held := true
	catchUp := func() {
		if held {
			held = false
			hold.Unlock()
		}
	}
	t.Cleanup(catchUp)
	lost.armed.Store(true)
	in.set(t, id, status.PurposeRevocation, 1)

	// The node stops.
	stopServing()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := in.ob.Stats(); lost.armed.Load() || st.Replayed != 1 {
		t.Fatalf("the revocation's batch was not replayed: %+v", st)
	}
	time.AfterFunc(200*time.Millisecond, catchUp) // the view's events arrive late
	if err := in.shared.SettleHeads(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// The list as the chain's batches make it (the view, still
	// following), against its anchored head.
	catchUp()
	for in.shared.Pending() != 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	s, err := in.shared.Snapshot(context.Background(), list)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.Content()
	h, err := (ledger.Client{L: l}).StatusHead(context.Background(), ledgertest.RegionA, list)
	if err != nil || h.Version != s.Version || h.Digest != chaincode.ListDigest(c) {
		t.Errorf("after the stop, list %s is version %d, its anchored head %+v (%v): the revocation's head was left behind", list, s.Version, h, err)
	}
}

// TestSharedChangeAfterReplayedRevocationViewBehind is
// TestSharedChangeAfterRevocationViewBehind with the chain's answer to
// a's revocation batch lost, the batch confirmed as a replay: a's marker
// must still leave the commit's record, so that b waits for its view to
// have the revocation and refuses the reinstatement (409
// status_conflict). Before, a replay left no record and b answered 200
// (SECURITY.md, Known gaps, 21(d)).
func TestSharedChangeAfterReplayedRevocationViewBehind(t *testing.T) {
	for name, newStore := range sharedStores() {
		t.Run(name, func(t *testing.T) {
			markers := newStore(t)
			opt := func(o *statuslist.SharedOptions) { o.Markers = markers }
			l, a, b, isB, cred, catchUp := viewBehind(t, markers, issuer.FormatVCJWT, opt, true)
			ctx := context.Background()
			changed := make(chan error, 1)
			go func() {
				changed <- isB.SetStatusAs(ctx, cred.ID, issuer.ActionReinstate, issuer.Actor{ClientID: "rp-1"})
			}()
			var err error
			select {
			case err = <-changed:
				t.Errorf("b answered the reinstatement (%v) while its view did not have a's replayed revocation", err)
				catchUp()
			case <-time.After(300 * time.Millisecond):
				catchUp()
				err = <-changed
			}
			if !errors.Is(err, issuer.ErrStatusConflict) {
				t.Fatalf("b's reinstatement after a's replayed revocation: %v, want ErrStatusConflict", err)
			}
			after := converged(t, l, a, b)
			for _, r := range cred.Status {
				if r.Purpose == status.PurposeRevocation && value(t, after, r) != 1 {
					t.Errorf("the revocation was undone")
				}
			}
		})
	}
}
