package credentials_test

import (
	"context"
	"sync"
	"testing"

	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
)

// TestRevocationFinalOnFileStore: a revocation and a reinstatement of one
// SD-JWT credential (one token-status entry) race on an issuer over a
// FileStore (a node without the ledger). Whatever the order, the entry
// ends revoked: the reinstatement's "not revoked" check and its write are
// one step for the revocation (FileStore.SetManyIf), so a reinstatement
// checked before the revocation is written cannot be written after it and
// undo it. (Review finding, session 19: the check read the entry, then a
// separate write set it valid.)
func TestRevocationFinalOnFileStore(t *testing.T) {
	n := newNode(t, testBase)
	holder, _ := holderKey(t, gm.AlgES256)
	hj, _ := gm.NewJWK(holder.Public(), "")
	ctx := context.Background()
	for round := range 40 {
		sd := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &hj})
		var ref status.Ref
		for _, r := range sd.Status {
			if r.Purpose == status.PurposeToken {
				ref = r
			}
		}
		if err := n.issuer.SetStatus(ctx, sd.ID, issuer.ActionSuspend); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := n.issuer.SetStatus(ctx, sd.ID, issuer.ActionRevoke); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() { _ = n.issuer.SetStatus(ctx, sd.ID, issuer.ActionReinstate) }) // 409 if it comes second
		wg.Wait()
		if _, v, err := n.status.Get(ctx, ref.ListID, ref.Index); err != nil || v != status.TokenInvalid {
			t.Fatalf("round %d: the token entry is %d (%v) after a revocation: a reinstatement undid it", round, v, err)
		}
	}
}
