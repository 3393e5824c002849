package ledger_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// FuzzViewApply: an event the ledger delivers to a view (status batch,
// status heads, registry change, or another), whatever its payload, is
// refused leaving the view as it was, or applied: the heads it names
// are the view's (or newer ones), the batch's statuses are tracked.
func FuzzViewApply(f *testing.F) {
	ctx := context.Background()
	l, err := embedded.Open(filepath.Join(f.TempDir(), "ledger.db"), embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	b, err := l.As(chaincode.RegionMSP(ledgertest.RegionB))
	if err != nil {
		f.Fatal(err)
	}
	ledgertest.EnsureConsortium(ctx, f, l, b)
	// Seeds: the events the ledger delivered for the consortium, a
	// status batch and status heads.
	c := ledger.Client{L: l}
	in, err := chaincode.NewBatchInput("batch-1", []chaincode.StatusChange{{List: "00000001aaaaaaaa", Index: 7, Status: 1}, {List: "00000002bbbbbbbb", Index: 0, Status: 0}})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := c.AnchorBatch(ctx, in); err != nil {
		f.Fatal(err)
	}
	if _, err := c.PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: "00000001aaaaaaaa", Version: 3, Digest: chaincode.ListDigest([]byte("list"))}}); err != nil {
		f.Fatal(err)
	}
	height, err := l.Height(ctx)
	if err != nil {
		f.Fatal(err)
	}
	evctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	events, err := l.Events(evctx, 0)
	if err != nil {
		f.Fatal(err)
	}
	for ev := range events {
		f.Add(ev.Name, ev.Payload)
		if ev.Block+1 >= height {
			break
		}
	}
	f.Add(chaincode.EventStatusHeads, []byte(`{"heads":[{"region":"","list":"","version":18446744073709551615}]}`))
	f.Add(chaincode.EventRegistry, []byte(`{"kind":"region","id":"999999"}`))
	f.Add(chaincode.EventStatusBatch, []byte(`{"region":"310000","changes":"!!"}`))
	v := ledger.NewView(l, ledger.ViewOptions{TrackStatuses: true})
	if err := ledger.LoadView(ctx, v); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		before := ledger.ViewState(v)
		if err := ledger.ApplyEvent(ctx, v, ledger.Event{Name: name, Payload: payload}); err != nil {
			if after := ledger.ViewState(v); after != before {
				t.Fatalf("refused event (%v) changed the view", err)
			}
			return
		}
		switch name {
		case chaincode.EventStatusHeads:
			var he chaincode.HeadsEvent
			if err := json.Unmarshal(payload, &he); err != nil {
				t.Fatalf("heads %q applied: %v", payload, err)
			}
			for _, h := range he.Heads {
				if got, ok := v.StatusHead(h.Region, h.List); !ok || got.Version < h.Version {
					t.Fatalf("head %+v applied, the view has %+v", h, got)
				}
			}
		case chaincode.EventStatusBatch:
			var b chaincode.Batch
			if err := json.Unmarshal(payload, &b); err != nil {
				t.Fatalf("batch %q applied: %v", payload, err)
			}
			cs, err := chaincode.DecodeBatch(b)
			if err != nil {
				t.Fatalf("batch %q applied: %v", payload, err)
			}
			last := map[[2]any]uint8{}
			for _, c := range cs {
				last[[2]any{c.List, c.Index}] = c.Status
			}
			for k, want := range last {
				if got, ok := v.Status(b.Region, k[0].(string), k[1].(uint64)); !ok || got != want {
					t.Fatalf("status %v of batch %q: %d, %v", k, payload, got, ok)
				}
			}
		}
	})
}
