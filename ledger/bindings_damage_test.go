package ledger_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// TestBindingIndexLostDataPages: the index is written without fsync, so
// a power loss can keep bbolt's meta page and lose data pages. The meta
// checksum still holds, and bolt.Open panics rebuilding the free list
// (NoFreelistSync walks every page): OpenBindingIndex takes that like an
// unreadable file and starts empty, so `trustid serve` still starts.
func TestBindingIndexLostDataPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bindings.db")
	x, err := ledger.OpenBindingIndex(path, ledgertest.RegionA, failingReader{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	bs := make([]chaincode.CredentialBinding, 3000)
	for i := range bs {
		bs[i] = binding(t)
	}
	if err := x.Add(bs); err != nil {
		t.Fatal(err)
	}
	x.Close()
	// Meta pages (0, 1) on disk, every data page lost (zeros).
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clear(raw[2*os.Getpagesize():])
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	var y *ledger.BindingIndex
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		y, err = ledger.OpenBindingIndex(path, ledgertest.RegionA, failingReader{}, 0)
	}()
	if err != nil {
		t.Fatalf("an index with lost data pages is not replaced: %v", err)
	}
	y.Close()
}

// TestBindingIndexRepaired: a value the index holds that differs from
// the chain's (damaged on disk: it would fail the statuslist MAC and
// every status change of that ID on this instance) is replaced by the
// chain's when its event is applied again or it is read from the chain.
func TestBindingIndexRepaired(t *testing.T) {
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(context.Background(), t, a, b)
	ctx := context.Background()
	ca := ledger.Client{L: a}
	good := binding(t)
	if _, err := ca.BindCredentialIDs(ctx, chaincode.BindingsInput{Region: ledgertest.RegionA, Bindings: []chaincode.CredentialBinding{good}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bindings.db")
	x, err := ledger.OpenBindingIndex(path, ledgertest.RegionA, ca, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Add([]chaincode.CredentialBinding{good}); err != nil {
		t.Fatal(err)
	}
	x.Close()
	// Damage the value on disk (as a torn page would).
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	damaged := binding(t).Value
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("bindings")).Put([]byte(good.Key), []byte(damaged))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	x, err = ledger.OpenBindingIndex(path, ledgertest.RegionA, ca, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	// The follower replays the chain's event from block 0 at every start:
	if err := x.Add([]chaincode.CredentialBinding{good}); err != nil { // as the event does
		t.Fatal(err)
	}
	if v, err := x.Lookup(ctx, good.Key); err != nil || v != good.Value {
		t.Fatalf("the index still serves the damaged value after the chain's binding was applied again: got %q, chain has %q (%v)", v, good.Value, err)
	}
}
