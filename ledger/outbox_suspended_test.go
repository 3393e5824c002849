package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// TestOutboxRetriesWhileSuspended: the chain refuses a suspended region's
// batch with ErrForbidden, which a reinstatement cures: the outbox keeps
// the batch and sends it again (docs/ledger.md: only a batch "the chain
// refuses for good" goes to the dead bucket), and it commits once the
// region is reinstated.
func TestOutboxRetriesWhileSuspended(t *testing.T) {
	ctx := context.Background()
	n := openNode(t, t.TempDir(), nil, ledger.OutboxOptions{MaxBatch: 10, Window: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	defer n.close()
	cb := ledger.Client{L: n.b}
	if err := cb.Vote(ctx, chaincode.ActionSuspend, ledgertest.RegionA); err != nil {
		t.Fatal(err)
	}
	stop := n.run(t)
	defer stop()
	if err := n.ob.Anchor(ctx, ledgertest.SeqChanges(ledgertest.ListID("S"), 0, 5)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); n.ob.Stats().Retries < 3; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not retried: %+v", n.ob.Stats())
		}
	}
	if st := n.ob.Stats(); st.Dead != 0 {
		t.Fatalf("a suspended region's batch went dead: %+v", st)
	}
	if err := cb.Vote(ctx, chaincode.ActionReinstate, ledgertest.RegionA); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.ob.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if st := n.ob.Stats(); st.Dead != 0 || st.CommittedChanges != 5 {
		t.Errorf("stats %+v", st)
	}
}
