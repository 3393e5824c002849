package ledger_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

func binding(t testing.TB) chaincode.CredentialBinding {
	t.Helper()
	var k [32]byte
	var mac [16]byte
	rand.Read(k[:])
	rand.Read(mac[:])
	raw := append([]byte{1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 0x1b, 0xfa, 0x19, 0xda, 0x86, 0x26, 0xbd, 0x41, 1, 0, 0, 7}, mac[:]...)
	return chaincode.CredentialBinding{Key: hex.EncodeToString(k[:]), Value: base64.RawURLEncoding.EncodeToString(raw)}
}

// countingBinder counts the transactions a Binder sends.
type countingBinder struct {
	ledger.Client
	txs   atomic.Int64
	delay time.Duration // added to each transaction, so that requests queue
}

func (c *countingBinder) BindCredentialIDs(ctx context.Context, in chaincode.BindingsInput) (chaincode.BindingsResult, error) {
	c.txs.Add(1)
	time.Sleep(c.delay)
	return c.Client.BindCredentialIDs(ctx, in)
}

// downBinder fails the first fails transactions as a ledger that is down
// does.
type downBinder struct {
	ledger.Client
	fails atomic.Int64
}

func (c *downBinder) BindCredentialIDs(ctx context.Context, in chaincode.BindingsInput) (chaincode.BindingsResult, error) {
	if c.fails.Add(-1) >= 0 {
		return chaincode.BindingsResult{}, errInjected
	}
	return c.Client.BindCredentialIDs(ctx, in)
}

// TestBinderLogsRepeatsRarely: a binding retried through 30 failures of
// the ledger (every millisecond here) commits, and the failure is logged
// once, not at every retry (internal/retrylog); a failure after that
// commit is logged at once again.
func TestBinderLogsRepeatsRarely(t *testing.T) {
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(context.Background(), t, a, b)
	chain := &downBinder{Client: ledger.Client{L: a}}
	chain.fails.Store(30)
	var logs testnode.Buffer
	d := ledger.NewBinder(chain, ledgertest.RegionA, ledger.BinderOptions{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	if err := d.Bind(ctx, binding(t)); err != nil {
		t.Fatal(err)
	}
	const msg = `"msg":"credential bindings not committed yet; retrying"`
	if got := strings.Count(logs.String(), msg); got != 1 || chain.fails.Load() >= 0 {
		t.Errorf("30 failures logged %d times, want once:\n%.2000s", got, logs.String())
	}
	chain.fails.Store(1)
	if err := d.Bind(ctx, binding(t)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(logs.String(), msg); got != 2 {
		t.Errorf("a failure after a commit: %d lines, want it logged at once", got)
	}
}

// TestBinderGroups: concurrent Bind calls share transactions, a taken key
// in a group fails only its caller, and the rest of the group commits; a
// caller whose context ends first gets ErrBindingUnconfirmed.
func TestBinderGroups(t *testing.T) {
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(context.Background(), t, a, b)
	ctx := context.Background()
	taken := binding(t)
	if _, err := (ledger.Client{L: a}).BindCredentialIDs(ctx, chaincode.BindingsInput{Region: ledgertest.RegionA, Bindings: []chaincode.CredentialBinding{taken}}); err != nil {
		t.Fatal(err)
	}
	chain := &countingBinder{Client: ledger.Client{L: a}}
	d := ledger.NewBinder(chain, ledgertest.RegionA, ledger.BinderOptions{Concurrency: 1})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go d.Run(rctx)

	const n = 200
	errs := make([]error, n)
	want := make([]chaincode.CredentialBinding, n)
	var wg sync.WaitGroup
	for i := range n {
		want[i] = binding(t)
		if i == n/2 {
			want[i].Key = taken.Key // another value for a bound key
		}
		wg.Go(func() { errs[i] = d.Bind(ctx, want[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if i == n/2 {
			if !errors.Is(err, chaincode.ErrBindingExists) {
				t.Errorf("the taken key: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("binding %d: %v", i, err)
		}
		got, err := (ledger.Client{L: b}).CredentialBinding(ctx, ledgertest.RegionA, want[i].Key)
		if err != nil || got.Value != want[i].Value {
			t.Fatalf("binding %d on the chain: %+v %v", i, got, err)
		}
	}
	if txs := chain.txs.Load(); txs > n/4 {
		t.Errorf("%d bindings took %d transactions: not grouped", n, txs)
	}
	t.Logf("%d bindings in %d transactions", n, chain.txs.Load())

	// No Run: nothing is sent, and the caller stops waiting with its context.
	idle := ledger.NewBinder(chain, ledgertest.RegionA, ledger.BinderOptions{})
	tctx, tcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer tcancel()
	if err := idle.Bind(tctx, binding(t)); !errors.Is(err, ledger.ErrBindingUnconfirmed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unconfirmed: %v", err)
	}

	// A region this identity may not write for: every binding refused at
	// once, not each in a transaction of its own.
	wrong := &countingBinder{Client: ledger.Client{L: a}, delay: 20 * time.Millisecond}
	w := ledger.NewBinder(wrong, ledgertest.RegionB, ledger.BinderOptions{Concurrency: 1})
	go w.Run(rctx)
	const m = 50
	var refused sync.WaitGroup
	for i := range m {
		refused.Go(func() {
			if err := w.Bind(ctx, binding(t)); !errors.Is(err, chaincode.ErrForbidden) {
				t.Errorf("binding %d for another region: %v", i, err)
			}
		})
	}
	refused.Wait()
	if txs := wrong.txs.Load(); txs > m/4 {
		t.Errorf("%d refused bindings took %d transactions: sent one by one", m, txs)
	}
}

// TestBindingIndex: the index keeps its region's bindings from events
// (another region's are ignored) on disk across a reopen, reads a key it
// lacks from the chain and keeps it, reports a key the chain lacks as
// chaincode.ErrNotFound, and a chain that does not answer as
// ErrBindingLookup.
func TestBindingIndex(t *testing.T) {
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(context.Background(), t, a, b)
	ctx := context.Background()
	ca, cb := ledger.Client{L: a}, ledger.Client{L: b}
	mine, other, late := binding(t), binding(t), binding(t)
	if _, err := ca.BindCredentialIDs(ctx, chaincode.BindingsInput{Region: ledgertest.RegionA, Bindings: []chaincode.CredentialBinding{mine}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.BindCredentialIDs(ctx, chaincode.BindingsInput{Region: ledgertest.RegionB, Bindings: []chaincode.CredentialBinding{other}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bindings.db")
	fail := &failingReader{}
	x, err := ledger.OpenBindingIndex(path, ledgertest.RegionA, fail, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ledger.Follow(fctx, a, 5*time.Millisecond, x.ApplyEvent, nil)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for x.Len() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the other region's event, if it were kept
	cancel()
	<-done
	if x.Len() != 1 {
		t.Fatalf("index holds %d bindings, want region A's 1", x.Len())
	}
	x.Close()

	// Reopened: held without asking the chain (the reader fails).
	x, err = ledger.OpenBindingIndex(path, ledgertest.RegionA, fail, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := x.Lookup(ctx, mine.Key); err != nil || v != mine.Value {
		t.Fatalf("after reopening: %q %v", v, err)
	}
	if _, err := x.Lookup(ctx, late.Key); !errors.Is(err, ledger.ErrBindingLookup) || !errors.Is(err, ledger.ErrUnavailable) {
		t.Fatalf("chain down: %v", err)
	}
	x.Close()

	// With the chain: a key committed after the index's events is read
	// from it and kept; an unknown key is not found.
	x, err = ledger.OpenBindingIndex(path, ledgertest.RegionA, ca, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, err := ca.BindCredentialIDs(ctx, chaincode.BindingsInput{Region: ledgertest.RegionA, Bindings: []chaincode.CredentialBinding{late}}); err != nil {
		t.Fatal(err)
	}
	if v, err := x.Lookup(ctx, late.Key); err != nil || v != late.Value || x.Len() != 2 {
		t.Fatalf("late binding: %q %v, %d held", v, err, x.Len())
	}
	if _, err := x.Lookup(ctx, other.Key); !errors.Is(err, chaincode.ErrNotFound) {
		t.Fatalf("region B's key read as A's: %v", err)
	}
	// An index that cannot be read (closed here; a failed reopen alike)
	// is a copy: the chain answers.
	x.Close()
	if v, err := x.Lookup(ctx, late.Key); err != nil || v != late.Value {
		t.Fatalf("index unreadable: %q %v, want the chain's value", v, err)
	}

	// A file left unreadable (written without fsync, then a power loss)
	// is replaced by an empty index, which the chain fills again.
	bad := filepath.Join(t.TempDir(), "bindings.db")
	if err := os.WriteFile(bad, bytes.Repeat([]byte{0xa5}, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	y, err := ledger.OpenBindingIndex(bad, ledgertest.RegionA, ca, 0)
	if err != nil {
		t.Fatalf("an unreadable index file: %v", err)
	}
	defer y.Close()
	if v, err := y.Lookup(ctx, mine.Key); err != nil || v != mine.Value || y.Len() != 1 {
		t.Fatalf("after replacing the file: %q %v", v, err)
	}

	// A file cut short (a partial copy of the data directory) likewise,
	// where bbolt would fault reading a page past its end.
	short := filepath.Join(t.TempDir(), "bindings.db")
	z, err := ledger.OpenBindingIndex(short, ledgertest.RegionA, ca, 0)
	if err != nil {
		t.Fatal(err)
	}
	z.Lookup(ctx, mine.Key)
	z.Close()
	fi, err := os.Stat(short)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(short, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	if z, err = ledger.OpenBindingIndex(short, ledgertest.RegionA, ca, 0); err != nil {
		t.Fatalf("an index file cut short: %v", err)
	}
	defer z.Close()
	if v, err := z.Lookup(ctx, mine.Key); err != nil || v != mine.Value {
		t.Fatalf("after replacing the file cut short: %q %v", v, err)
	}
}

// failingReader is a chain that cannot be reached.
type failingReader struct{}

func (failingReader) CredentialBinding(ctx context.Context, region, key string) (chaincode.StoredBinding, error) {
	return chaincode.StoredBinding{}, fmt.Errorf("%w: peer unreachable", ledger.ErrUnavailable)
}
