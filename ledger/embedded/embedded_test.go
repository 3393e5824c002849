package embedded_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

func TestEmbeddedConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	t.Run("new", func(t *testing.T) {
		ledgertest.Run(t, func(t *testing.T) (ledger.Ledger, ledger.Ledger) {
			a, b := embeddedtest.Open(t, path)
			return a, b
		})
	})
	// The suite again over the same file, reopened and verified.
	t.Run("reopened", func(t *testing.T) {
		ledgertest.Run(t, func(t *testing.T) (ledger.Ledger, ledger.Ledger) {
			a, b := embeddedtest.Open(t, path)
			if err := a.Verify(); err != nil {
				t.Fatal(err)
			}
			return a, b
		})
	})
}

func tamper(t *testing.T, path string, bucket string, f func(b *bolt.Bucket)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { f(tx.Bucket([]byte(bucket))); return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestEmbeddedVerify: the block log and the state check each other; any
// edit of either is found.
func TestEmbeddedVerify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	populate := func() {
		a, b := embeddedtest.Open(t, path)
		ledgertest.EnsureConsortium(context.Background(), t, a, b)
		in, _ := chaincode.NewBatchInput("b1", []chaincode.StatusChange{{List: "00000001aaaaaaaa", Index: 1, Status: 1}})
		if _, err := (ledger.Client{L: a}).AnchorBatch(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		if err := a.Verify(); err != nil {
			t.Fatal(err)
		}
		b.Close()
		a.Close()
	}
	populate()
	check := func(what string) {
		t.Helper()
		a, b := embeddedtest.Open(t, path)
		defer func() { b.Close(); a.Close() }()
		if err := a.Verify(); !errors.Is(err, embedded.ErrTampered) {
			t.Errorf("%s: Verify = %v", what, err)
		}
	}
	// 1. A state value changed behind the log's back.
	key, _ := chaincode.CompositeKey("batch", "310000", "b1")
	var orig []byte
	tamper(t, path, "state", func(b *bolt.Bucket) {
		orig = append([]byte(nil), b.Get([]byte(key))...)
		b.Put([]byte(key), []byte(`{"id":"b1","forged":true}`))
	})
	check("edited state")
	tamper(t, path, "state", func(b *bolt.Bucket) { b.Put([]byte(key), orig) })
	// 2. A block's content changed.
	var last []byte
	var lastKey []byte
	tamper(t, path, "blocks", func(b *bolt.Bucket) {
		k, v := b.Cursor().Last()
		lastKey, last = append([]byte(nil), k...), append([]byte(nil), v...)
		b.Put(lastKey, bytes.Replace(v, []byte(`"fn":"AnchorBatch"`), []byte(`"fn":"AnchorBatcx"`), 1))
	})
	check("edited block")
	tamper(t, path, "blocks", func(b *bolt.Bucket) { b.Put(lastKey, last) })
	// 3. A block removed from the middle.
	tamper(t, path, "blocks", func(b *bolt.Bucket) {
		k, _ := b.Cursor().First()
		b.Delete(k)
	})
	check("removed block")
}

// TestEmbeddedLockedAndClosed: a second process cannot open the file
// while a node holds it; a closed ledger refuses calls.
func TestEmbeddedLockedAndClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	a, b := embeddedtest.Open(t, path)
	start := time.Now()
	if _, err := embedded.Open(path, embedded.Options{MSPID: chaincode.RegionMSP("310000")}); !errors.Is(err, ledger.ErrUnavailable) || time.Since(start) > 5*time.Second {
		t.Errorf("second open: %v after %v", err, time.Since(start))
	} else if !strings.Contains(err.Error(), path+" is locked by another process") {
		t.Errorf("second open does not name the lock: %v", err)
	}
	if _, err := embedded.Open(filepath.Join(t.TempDir(), "x.db"), embedded.Options{MSPID: "Org1MSP"}); !errors.Is(err, chaincode.ErrUnknownCaller) {
		t.Errorf("non-region MSP: %v", err)
	}
	b.Close()
	if _, err := a.Evaluate(context.Background(), "ListRegions"); err != nil {
		t.Errorf("a after b closed: %v", err)
	}
	a.Close()
	if _, _, err := a.Submit(context.Background(), "ListRegions"); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("submit after close: %v", err)
	}
}

// TestEmbeddedConcurrentSubmits: many writers, one chain, no lost block.
func TestEmbeddedConcurrentSubmits(t *testing.T) {
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ctx := context.Background()
	ledgertest.EnsureConsortium(ctx, t, a, b)
	h0, _ := a.Height(ctx)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				in, _ := chaincode.NewBatchInput(fmt.Sprintf("w%d-%d", w, i), []chaincode.StatusChange{{List: "00000002aaaaaaaa", Index: uint64(w*100 + i), Status: 1}})
				if _, err := (ledger.Client{L: a}).AnchorBatch(ctx, in); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if h, _ := a.Height(ctx); h != h0+200 {
		t.Errorf("height %d, want %d", h, h0+200)
	}
	if err := a.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenShared: a file opened with OpenShared in this process is shared
// (a handle acting as the second MSP), writes of one handle are seen by
// the other, and the file opens again once every handle closed. A second
// opening of the file, not shared, would wait for the file's lock and
// fail (ErrUnavailable), whatever the machine's speed: the error is the
// test, not the time the call took.
func TestOpenShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	a, err := embedded.OpenShared(path, embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := embedded.OpenShared(filepath.Join(filepath.Dir(path), ".", "ledger.db"), embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionB)})
	if err != nil {
		t.Fatalf("second OpenShared: %v", err)
	}
	if b.MSPID() != chaincode.RegionMSP(ledgertest.RegionB) {
		t.Errorf("second handle acts as %s", b.MSPID())
	}
	ctx := context.Background()
	ledgertest.EnsureConsortium(ctx, t, a, b)
	if r, err := (ledger.Client{L: a}).Region(ctx, ledgertest.RegionB); err != nil || r.Status != chaincode.RegionActive {
		t.Errorf("A sees B: %+v %v", r, err)
	}
	a.Close()
	b.Close()
	c, err := embedded.OpenShared(path, embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA)})
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	defer c.Close()
	if _, err := (ledger.Client{L: c}).Region(ctx, ledgertest.RegionB); err != nil {
		t.Errorf("after reopening: %v", err)
	}
}
