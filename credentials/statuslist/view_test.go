package statuslist_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
)

// viewBehind issues a credential through instance a, lets b's view of the
// chain have it, holds b's view, and revokes the credential through a
// until a's commit is confirmed and a's marker cleared: b's view does not
// have the revocation. With replay, the chain's answer to a's revocation
// batch is lost and a's outbox has it confirmed as a replay. It returns
// b's issuer, the credential and a function that lets b's view catch up.
func viewBehind(t *testing.T, markers statuslist.Markers, format string, opt func(*statuslist.SharedOptions), replay bool) (l ledger.Ledger, a, b *instance, isB *issuer.Issuer, cred *issuer.Issued, catchUp func()) {
	t.Helper()
	ks, err := keystore.Open(filepath.Join(t.TempDir(), "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l = openLedger(t)
	var hold sync.RWMutex
	lost := &lostAnswer{Ledger: l}
	dirA := t.TempDir()
	a = runInstance(t, l, openInstance(t, l, lost, dirA, filepath.Join(dirA, "bindings.db"), "a", nil, opt), nil)
	b = startInstanceHeld(t, l, t.TempDir(), "b", nil, opt, &hold)
	newIssuer := func(in *instance) *issuer.Issuer {
		is, err := issuer.New(issuer.Config{BaseURL: "https://node.example", Keys: ks, Status: in.shared})
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	isA := newIssuer(a)
	isB = newIssuer(b)
	ctx := context.Background()
	cred, err = isA.Issue(ctx, map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"},
		"credentialSubject": map[string]any{"id": "did:example:holder"}}, issuer.IssueOptions{Client: "rp-1", Format: format})
	if err != nil {
		t.Fatal(err)
	}
	converged(t, l, a, b)

	hold.Lock()
	held := true
	catchUp = func() {
		if held {
			held = false
			hold.Unlock()
		}
	}
	t.Cleanup(catchUp)
	lost.armed.Store(replay)
	if err := isA.SetStatusAs(ctx, cred.ID, issuer.ActionRevoke, issuer.Actor{ClientID: "rp-1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.ob.Flush(ctx); err != nil { // committed
		t.Fatal(err)
	}
	if st := a.ob.Stats(); replay && (lost.armed.Load() || st.Replayed != 1) {
		t.Fatalf("the revocation's batch was not replayed: %+v", st)
	}
	for a.shared.Pending() != 0 { // a's view has it
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a's markers cleared, in the background
	if got, want := b.shared.ViewBlock(), a.shared.ViewBlock(); got >= want {
		t.Fatalf("b's view at block %d, a's at %d: b's view is not behind", got, want)
	}
	return l, a, b, isB, cred, catchUp
}

// TestSharedChangeAfterRevocationViewBehind: a client revokes a
// credential through instance a, whose commit is confirmed (a's markers
// cleared) before instance b's view of the chain has it (the events'
// delivery lag, held here); then it reinstates or suspends the credential
// through b. b must not answer that the change was made: it waits until
// its view has the revocation's block, then refuses the change as the
// issuer refuses a change of a revoked credential (409 status_conflict),
// changing nothing. Before, b read its view at once and answered 200
// (SECURITY.md, Known gaps, 21(d)).
func TestSharedChangeAfterRevocationViewBehind(t *testing.T) {
	for name, newStore := range sharedStores() {
		for _, format := range []string{issuer.FormatVCJWT, issuer.FormatSDJWT} {
			for _, action := range []string{issuer.ActionReinstate, issuer.ActionSuspend} {
				t.Run(name+"/"+format+"/"+action, func(t *testing.T) {
					markers := newStore(t)
					opt := func(o *statuslist.SharedOptions) { o.Markers = markers }
					l, a, b, isB, cred, catchUp := viewBehind(t, markers, format, opt, false)
					ctx := context.Background()
					before := map[status.Ref]uint8{}
					for _, r := range cred.Status {
						_, before[r], _ = b.shared.Get(ctx, r.ListID, r.Index)
					}
					changed := make(chan error, 1)
					go func() { changed <- isB.SetStatusAs(ctx, cred.ID, action, issuer.Actor{ClientID: "rp-1"}) }()
					var err error
					select {
					case err = <-changed:
						t.Errorf("b answered the %s (%v) while its view did not have a's confirmed revocation", action, err)
						catchUp()
					case <-time.After(300 * time.Millisecond):
						catchUp()
						err = <-changed
					}
					if !errors.Is(err, issuer.ErrStatusConflict) {
						t.Fatalf("b's %s after a's confirmed revocation: %v, want ErrStatusConflict", action, err)
					}
					after := converged(t, l, a, b)
					for _, r := range cred.Status {
						want := before[r]
						if r.Purpose != status.PurposeSuspension {
							want = 1 // revoked
							if r.Purpose == status.PurposeToken {
								want = status.TokenInvalid
							}
						}
						if got := value(t, after, r); got != want {
							t.Errorf("%s entry %d, want %d", r.Purpose, got, want)
						}
					}
				})
			}
		}
	}
}

// TestSharedViewBehindTimeout: a change that must read entries whose last
// commit b's view does not have within MarkerWait is refused with
// status.ErrChangePending (503 status_change_pending, retryable) and
// changes nothing; once b's view has caught up, the same change gets its
// answer (409 status_conflict).
func TestSharedViewBehindTimeout(t *testing.T) {
	for name, newStore := range sharedStores() {
		t.Run(name, func(t *testing.T) {
			markers := newStore(t)
			opt := func(o *statuslist.SharedOptions) { o.Markers, o.MarkerWait = markers, 200*time.Millisecond }
			l, a, b, isB, cred, catchUp := viewBehind(t, markers, issuer.FormatVCJWT, opt, false)
			ctx := context.Background()
			actor := issuer.Actor{ClientID: "rp-1"}
			start := time.Now()
			err := isB.SetStatusAs(ctx, cred.ID, issuer.ActionSuspend, actor)
			if !errors.Is(err, status.ErrChangePending) {
				t.Fatalf("b's suspension while its view is behind: %v, want ErrChangePending", err)
			}
			if d := time.Since(start); d < 150*time.Millisecond {
				t.Errorf("refused after %v, before MarkerWait", d)
			}
			if n := b.shared.Pending(); n != 0 {
				t.Fatalf("a refused change was kept: %d pending", n)
			}
			catchUp()
			if err := isB.SetStatusAs(ctx, cred.ID, issuer.ActionSuspend, actor); !errors.Is(err, issuer.ErrStatusConflict) {
				t.Fatalf("b's suspension once its view caught up: %v, want ErrStatusConflict", err)
			}
			after := converged(t, l, a, b)
			for _, r := range cred.Status {
				if r.Purpose == status.PurposeSuspension && value(t, after, r) != 0 {
					t.Errorf("the refused suspension was anchored")
				}
			}
		})
	}
}
