package ledger_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// TestOutboxReopen: with its file reopened every few page allocations,
// the outbox anchors every change it accepted from concurrent writers
// exactly once and ends empty.
func TestOutboxReopen(t *testing.T) {
	defer ledger.SetReopenAfter(4)()
	n := openNode(t, t.TempDir(), nil, ledger.OutboxOptions{MaxBatch: 20, Window: time.Microsecond, Concurrency: 2})
	defer n.close()
	stop := n.run(t)
	defer stop()
	ctx := context.Background()
	const writers, each = 8, 60
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := n.ob.Anchor(ctx, ledgertest.SeqChanges(ledgertest.ListID("N"), w*each+i, 1)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := n.ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, ledgertest.Anchored(t, n.l), ledgertest.ListID("N"), writers*each)
	if st := n.ob.Stats(); st.Pending != 0 || st.Backlog != 0 || st.CommittedChanges != writers*each {
		t.Errorf("after flush: %+v", st)
	}
	if r := ledger.OutboxReopens(n.ob); r < 10 {
		t.Fatalf("%d reopens: the test did not exercise reopening", r)
	}
}

// TestBindingIndexReopen: with its file reopened every few page
// allocations, the binding index keeps every binding added by concurrent
// writers, and readers find each one added (the chain behind it is
// unreachable, so a lost binding fails the lookup), then and after the
// index is closed and opened again.
func TestBindingIndexReopen(t *testing.T) {
	defer ledger.SetReopenAfter(4)()
	path := filepath.Join(t.TempDir(), "bindings.db")
	x, err := ledger.OpenBindingIndex(path, ledgertest.RegionA, failingReader{}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const writers, each = 4, 60
	added := make(chan chaincode.CredentialBinding, writers*each)
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				b := binding(t)
				if err := x.Add([]chaincode.CredentialBinding{b}); err != nil {
					t.Error(err)
					return
				}
				added <- b
			}
		}()
	}
	var all []chaincode.CredentialBinding
	done := make(chan struct{})
	go func() { wg.Wait(); close(added) }()
	go func() {
		defer close(done)
		for b := range added {
			if v, err := x.Lookup(ctx, b.Key); err != nil || v != b.Value {
				t.Errorf("binding just added: %q %v", v, err)
			}
			all = append(all, b)
		}
	}()
	<-done
	if x.Len() != writers*each || len(all) != writers*each {
		t.Fatalf("%d held, %d added, want %d", x.Len(), len(all), writers*each)
	}
	if r := ledger.BindingReopens(x); r < 10 {
		t.Fatalf("%d reopens: the test did not exercise reopening", r)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x, err = ledger.OpenBindingIndex(path, ledgertest.RegionA, failingReader{}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for _, b := range all {
		if v, err := x.Lookup(ctx, b.Key); err != nil || v != b.Value {
			t.Fatalf("after closing: %q %v", v, err)
		}
	}
}
