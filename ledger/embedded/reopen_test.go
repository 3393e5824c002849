package embedded_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// TestReopenUnderLoad: with the file reopened every few page allocations,
// concurrent submitters, readers and an event follower lose nothing:
// every acknowledged batch is on the chain once, in a block log that
// verifies, the height counts every block, and the follower receives
// every batch's event in order.
func TestReopenUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	a, err := embedded.Open(path, embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA), ReopenAfter: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := a.As(chaincode.RegionMSP(ledgertest.RegionB))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ledgertest.EnsureConsortium(ctx, t, a, b)
	start, err := a.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events, err := a.Events(ctx, start)
	if err != nil {
		t.Fatal(err)
	}

	const writers, perWriter = 4, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	acked := make(chan string, writers*perWriter)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				id := fmt.Sprintf("w%d-%d", w, i)
				in, err := chaincode.NewBatchInput(id, []chaincode.StatusChange{{List: ledgertest.ListID(id), Index: uint64(i), Status: 1}})
				if err != nil {
					errs <- err
					return
				}
				if _, err := (ledger.Client{L: a}).AnchorBatch(ctx, in); err != nil {
					errs <- fmt.Errorf("batch %s: %w", id, err)
					return
				}
				acked <- id
			}
		}()
	}
	stop := make(chan struct{})
	var rg sync.WaitGroup
	rg.Add(1)
	go func() { // readers: the height never goes back, a read never fails
		defer rg.Done()
		var last uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			h, err := b.Height(ctx)
			if err == nil && h < last {
				err = fmt.Errorf("height went back from %d to %d", last, h)
			}
			if err == nil {
				_, err = (ledger.Client{L: b}).Batch(ctx, ledgertest.RegionA, "w0-0")
				if errors.Is(err, chaincode.ErrNotFound) {
					err = nil
				}
			}
			if err != nil {
				errs <- err
				return
			}
			last = h
		}
	}()
	wg.Wait()
	close(stop)
	rg.Wait()
	close(acked)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := embedded.Reopens(a); n < 10 {
		t.Fatalf("%d reopens: the test did not exercise reopening", n)
	}

	ids := map[string]bool{}
	for id := range acked {
		ids[id] = true
		if _, err := (ledger.Client{L: b}).Batch(ctx, ledgertest.RegionA, id); err != nil {
			t.Errorf("acknowledged batch %s: %v", id, err)
		}
	}
	if len(ids) != writers*perWriter {
		t.Fatalf("%d batches acknowledged, want %d", len(ids), writers*perWriter)
	}
	h, err := a.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h-start != writers*perWriter {
		t.Fatalf("%d blocks for %d batches", h-start, writers*perWriter)
	}
	if err := a.Verify(); err != nil {
		t.Fatal(err)
	}
	next := start
	for len(ids) > 0 {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("events ended with %d batches not seen", len(ids))
			}
			if ev.Block < next {
				t.Fatalf("event of block %d after block %d", ev.Block, next)
			}
			next = ev.Block + 1
			if ev.Name != chaincode.EventStatusBatch {
				continue
			}
			var be chaincode.Batch
			if err := json.Unmarshal(ev.Payload, &be); err != nil {
				t.Fatal(err)
			}
			delete(ids, be.ID)
		case <-ctx.Done():
			t.Fatalf("%d batches' events not received", len(ids))
		}
	}
}
