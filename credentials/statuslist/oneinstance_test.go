package statuslist_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/ledger"
)

// heldAnchor holds the next Anchor call, once armed: before the outbox
// has the changes (before) or after it has them, before returning (not
// before), until release is closed. A caller descheduled between its
// check and the outbox, or between the outbox and its answer.
type heldAnchor struct {
	*ledger.Outbox
	before  bool
	armed   chan struct{} // closed by the held call
	release chan struct{}
	once    sync.Once
	arm     bool
	mu      sync.Mutex
}

func (a *heldAnchor) Anchor(ctx context.Context, changes []chaincode.StatusChange) error {
	a.mu.Lock()
	hold := a.arm
	a.arm = false
	a.mu.Unlock()
	if hold && a.before {
		close(a.armed)
		<-a.release
	}
	err := a.Outbox.Anchor(ctx, changes)
	if hold && !a.before {
		close(a.armed)
		<-a.release
	}
	return err
}

// tokenRef is the token entry of credential id of in.
func tokenRef(t *testing.T, in *instance, id string) status.Ref {
	t.Helper()
	refs, err := in.shared.Refs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		if r.Purpose == status.PurposeToken {
			return r
		}
	}
	t.Fatal("no token entry")
	return status.Ref{}
}

var errRevoked = errors.New("revoked")

// reinstateIf sets the token entry r VALID unless it reads INVALID (the
// issuer's reinstatement: SetManyIf guarded by the entry).
func reinstateIf(in *instance, r status.Ref) error {
	return in.shared.SetManyIf(context.Background(), []status.Entry{{ListID: r.ListID, Index: r.Index, Value: status.TokenValid}},
		[]status.Ref{r}, func(v []uint8) error {
			if v[0] == status.TokenInvalid {
				return errRevoked
			}
			return nil
		})
}

// TestSharedRevocationReadAfterConcurrentReinstatement: a reinstatement
// checked before a revocation of the same entry through the same
// instance, but handed to the outbox after it, must not hide the
// revocation from the instance: once the revocation is acknowledged, the
// instance reads the entry revoked (its QR redemptions, PIN checks and
// verifications refuse it), while the chain lags too.
func TestSharedRevocationReadAfterConcurrentReinstatement(t *testing.T) {
	l := &heldBatches{Ledger: openLedger(t), release: make(chan struct{})}
	ha := &heldAnchor{before: true, armed: make(chan struct{}), release: make(chan struct{})}
	a := startInstanceAnchor(t, l, t.TempDir(), "a", func(o *ledger.Outbox) statuslist.Anchorer { ha.Outbox = o; return ha }, nil)
	id := a.issue(t, "o")
	r := tokenRef(t, a, id)

	l.armed.Store(true) // the ledger is down: nothing reaches the chain
	ha.mu.Lock()
	ha.arm = true
	ha.mu.Unlock()
	reinstated := make(chan error, 1)
	go func() { reinstated <- reinstateIf(a, r) }()
	<-ha.armed // checked: not revoked; not in the outbox yet
	revoked := make(chan error, 1)
	go func() {
		revoked <- a.shared.SetMany(context.Background(), []status.Entry{{ListID: r.ListID, Index: r.Index, Value: status.TokenInvalid}})
	}()
	select {
	case err := <-revoked:
		revoked <- err
	case <-time.After(300 * time.Millisecond):
	}
	close(ha.release)
	if err := <-revoked; err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if err := <-reinstated; err != nil && !errors.Is(err, errRevoked) {
		t.Fatalf("reinstate: %v", err)
	}
	if _, v, err := a.shared.Get(context.Background(), r.ListID, r.Index); err != nil || v != status.TokenInvalid {
		t.Fatalf("the instance reads the token entry %d (%v) after acknowledging its revocation", v, err)
	}
	close(l.release)
	if v := value(t, converged(t, l, a), r); v != status.TokenInvalid {
		t.Fatalf("the chain's token entry is %d after a revocation", v)
	}
}

// TestSharedOverlayFollowsOutboxOrder: two changes of one entry through
// one instance, the first answered after the second: the instance must
// read what the chain will hold once both are committed, and its overlay
// must empty as the chain applies them (else it reads a value no other
// instance serves, for good).
func TestSharedOverlayFollowsOutboxOrder(t *testing.T) {
	l := &heldBatches{Ledger: openLedger(t), release: make(chan struct{})}
	ha := &heldAnchor{armed: make(chan struct{}), release: make(chan struct{})}
	a := startInstanceAnchor(t, l, t.TempDir(), "a", func(o *ledger.Outbox) statuslist.Anchorer { ha.Outbox = o; return ha }, nil)
	id := a.issue(t, "o")
	r := tokenRef(t, a, id)
	set := func(v uint8) error {
		return a.shared.SetMany(context.Background(), []status.Entry{{ListID: r.ListID, Index: r.Index, Value: v}})
	}

	l.armed.Store(true)
	ha.mu.Lock()
	ha.arm = true
	ha.mu.Unlock()
	suspended := make(chan error, 1)
	go func() { suspended <- set(status.TokenSuspended) }()
	<-ha.armed // in the outbox, not answered yet
	reinstated := make(chan error, 1)
	go func() { reinstated <- set(status.TokenValid) }()
	select {
	case err := <-reinstated:
		reinstated <- err
	case <-time.After(300 * time.Millisecond):
	}
	close(ha.release)
	for _, c := range []chan error{suspended, reinstated} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	_, before, _ := a.shared.Get(context.Background(), r.ListID, r.Index)
	close(l.release)
	lists := converged(t, l, a)
	onChain := value(t, lists, r)
	if _, v, err := a.shared.Get(context.Background(), r.ListID, r.Index); err != nil || v != onChain || before != onChain {
		t.Fatalf("the instance read %d, then %d (%v); the chain holds %d", before, v, err, onChain)
	}
}

// TestSharedCaughtUpAfterReplay: an instance that starts follows the
// chain from block 0; until its lists reach the heads anchored on the
// chain it reads a revoked entry as valid, and CaughtUp (its readiness)
// says so; once they have, CaughtUp is nil and the entry reads revoked.
func TestSharedCaughtUpAfterReplay(t *testing.T) {
	l := openLedger(t)
	a := startInstance(t, l, t.TempDir(), "a")
	id := a.issue(t, "o")
	r := tokenRef(t, a, id)
	a.set(t, id, status.PurposeToken, status.TokenInvalid)
	converged(t, l, a)

	view := ledger.NewView(l, ledger.ViewOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); view.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(5 * time.Second); !view.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the ledger view did not load")
		}
	}

	var hold sync.RWMutex
	hold.Lock() // b's view of the chain applies nothing yet: it replays
	b := startInstanceHeld(t, l, t.TempDir(), "b", nil, nil, &hold)
	if err := b.shared.CaughtUp(view); err == nil {
		t.Fatal("an instance that has not followed the chain is caught up")
	}
	if _, v, _ := b.shared.Get(context.Background(), r.ListID, r.Index); v != status.TokenValid {
		t.Fatalf("before its replay the instance reads %d", v)
	}
	hold.Unlock()
	for deadline := time.Now().Add(10 * time.Second); b.shared.CaughtUp(view) != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not caught up: %v", b.shared.CaughtUp(view))
		}
	}
	if _, v, err := b.shared.Get(context.Background(), r.ListID, r.Index); err != nil || v != status.TokenInvalid {
		t.Fatalf("caught up, the instance reads the revoked entry %d (%v)", v, err)
	}
}
