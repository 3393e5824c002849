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
