package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// TestViewHeadsNeverGoBack: the view keeps the newest head of a list: an
// event naming an older version (a replay from block 0) does not replace
// it, nor does a reconcile that reads an older one (the event overtook
// the read).
func TestViewHeadsNeverGoBack(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	d1, d2, d3 := chaincode.ListDigest([]byte("v1")), chaincode.ListDigest([]byte("v2")), chaincode.ListDigest([]byte("v3"))
	if _, err := (ledger.Client{L: a}).PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: "00000001aaaaaaaa", Version: 1, Digest: d1}}); err != nil {
		t.Fatal(err)
	}
	v := ledger.NewView(a, ledger.ViewOptions{})
	if err := ledger.LoadView(ctx, v); err != nil {
		t.Fatal(err)
	}
	heads := func(version uint64, digest string) ledger.Event {
		p, _ := json.Marshal(chaincode.HeadsEvent{Region: ledgertest.RegionA, Heads: []chaincode.StatusHead{
			{Region: ledgertest.RegionA, List: "00000001aaaaaaaa", Version: version, Digest: digest}}})
		return ledger.Event{Name: chaincode.EventStatusHeads, Payload: p}
	}
	check := func(when string) {
		t.Helper()
		if h, ok := v.StatusHead(ledgertest.RegionA, "00000001aaaaaaaa"); !ok || h.Version != 3 || h.Digest != d3 {
			t.Errorf("%s: head %+v %v, want version 3", when, h, ok)
		}
	}
	for _, ev := range []ledger.Event{heads(3, d3), heads(2, d2)} {
		if err := ledger.ApplyEvent(ctx, v, ev); err != nil {
			t.Fatal(err)
		}
	}
	check("after an event of version 2")
	if err := ledger.LoadView(ctx, v); err != nil {
		t.Fatal(err)
	}
	check("after a reconcile that read version 1")
}

// TestViewCheckList: CheckList accepts a list whose digest is the
// anchored head's and refuses another (a stale or forged list) with
// ErrListDigest, an unanchored list with ErrListUnknown; StatusLists
// names only the region's own lists.
func TestViewCheckList(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, a, b)
	v1, v2 := []byte("list v1"), []byte("list v2")
	if _, err := (ledger.Client{L: a}).PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: "00000001aaaaaaaa", Version: 2, Digest: chaincode.ListDigest(v2)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := (ledger.Client{L: b}).PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: "0000000baaaaaaaa", Version: 1, Digest: chaincode.ListDigest(v1)}}); err != nil {
		t.Fatal(err)
	}
	v := ledger.NewView(a, ledger.ViewOptions{})
	if _, err := v.CheckList(ledgertest.RegionA, "00000001aaaaaaaa", v2); !errors.Is(err, ledger.ErrNotReady) {
		t.Errorf("before the load: %v", err)
	}
	if err := ledger.LoadView(ctx, v); err != nil {
		t.Fatal(err)
	}
	if h, err := v.CheckList(ledgertest.RegionA, "00000001aaaaaaaa", v2); err != nil || h.Version != 2 {
		t.Errorf("anchored list: %+v %v", h, err)
	}
	if _, err := v.CheckList(ledgertest.RegionA, "00000001aaaaaaaa", v1); !errors.Is(err, ledger.ErrListDigest) {
		t.Errorf("stale list: %v", err)
	}
	if _, err := v.CheckList(ledgertest.RegionB, "00000001aaaaaaaa", v2); !errors.Is(err, ledger.ErrListUnknown) {
		t.Errorf("list of another region: %v", err)
	}
	if got := v.StatusLists(ledgertest.RegionA); !slices.Equal(got, []string{"00000001aaaaaaaa"}) {
		t.Errorf("StatusLists(A) = %v", got)
	}
}
