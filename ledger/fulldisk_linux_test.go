//go:build linux

package ledger_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// The tests of this file run in a child process whose file size limit
// (RLIMIT_FSIZE) stands for a full disk: a write at or past the limit
// fails with EFBIG (Go ignores SIGXFSZ), reads do not.

// limitFileSize sets this process's file size limit to n bytes; the
// function it returns restores the limit. It may be called from any
// goroutine.
func limitFileSize(t *testing.T, n int64) (restore func()) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Error(err)
		return func() {}
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(n), Max: lim.Max}); err != nil {
		t.Error(err)
	}
	return func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			t.Error(err)
		}
	}
}

// TestAuditLogFailedGroupLeavesNothing: a group whose write stops short (a
// full disk, here the file size limit of a child process) fails every
// append of it, and none of its entries is in the log afterwards, also
// those whose whole line was written before the write stopped.
func TestAuditLogFailedGroupLeavesNothing(t *testing.T) {
	if testenv.IsChild() {
		t.Skip("child")
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	if out, err := testenv.RunChild("TestAuditLogFailedGroupChild", "TRUSTID_AUDIT_FSIZE_CHILD="+path); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	sum, err := ledger.VerifyAuditLog(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Seq != 3 || sum.TornBytes != 0 {
		t.Fatalf("the log ends at entry %d with %d torn bytes; want 3 (created, two acknowledged appends) and none", sum.Seq, sum.TornBytes)
	}
}

// TestAuditLogFailedGroupChild is the child of
// TestAuditLogFailedGroupLeavesNothing: it appends one entry, then, with
// the file size limit set to let the next group write one and a half of
// its two lines, one entry followed by a group of two.
func TestAuditLogFailedGroupChild(t *testing.T) {
	path := os.Getenv("TRUSTID_AUDIT_FSIZE_CHILD")
	if path == "" {
		t.Skip("run by TestAuditLogFailedGroupLeavesNothing")
	}
	clock := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var hold chan struct{} // while set, the clock, read in a commit, waits
	entered := make(chan struct{}, 1)
	a, err := ledger.OpenAuditLog(path, ledger.AuditOptions{Node: "node-a", Now: func() time.Time {
		mu.Lock()
		h := hold
		hold = nil
		clock = clock.Add(time.Second)
		now := clock
		mu.Unlock()
		if h != nil {
			entered <- struct{}{}
			<-h
		}
		return now
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	add := func() error {
		_, err := a.Append(ledger.AuditEnrollment, "1K3M9QZ…", map[string]string{"level": "L3"})
		return err
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	if err := add(); err != nil { // entry 2
		t.Fatal(err)
	}
	line := size() - before // every entry of this test has this length
	defer limitFileSize(t, size()+line+line+line/2)()

	// Entry 3 commits alone while the next two queue behind it: they are
	// one group, whose write stops halfway through its second line.
	release := make(chan struct{})
	mu.Lock()
	hold = release
	mu.Unlock()
	first := make(chan error, 1)
	go func() { first <- add() }()
	<-entered
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = add() }()
	}
	// Wait until entry 3's caller and both of these wait for their group.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		waiting := 0
		for _, g := range goroutinesIn(").Do(") {
			if strings.Contains(g, "[chan receive") && strings.Contains(g, "groupcommit") {
				waiting++
			}
		}
		if waiting == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d appends wait for their group, want 3", waiting)
		}
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("entry 3: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ledger.ErrUnavailable) {
			t.Errorf("append %d of the group that did not fit: %v", i+1, err)
		}
	}
	if seq, _ := a.Head(); seq != 3 {
		t.Errorf("head %d, want 3", seq)
	}
}

// memChain is a chain in memory, so that only the outbox writes files:
// batches by ID (again: a replay) and heads by list. Its first call runs
// first, once.
type memChain struct {
	first   sync.Once
	onFirst func()
	mu      sync.Mutex
	batches map[string]int // sends of each batch ID
	heads   map[string]ledger.StatusHeadInput
	calls   int
}

func (m *memChain) call() {
	m.first.Do(m.onFirst)
	m.mu.Lock()
	m.calls++
	m.mu.Unlock()
}

func (m *memChain) AnchorBatch(_ context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error) {
	m.call()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches[in.ID]++
	return chaincode.BatchResult{Batch: chaincode.Batch{ID: in.ID, Root: in.Root, Count: in.Count}, Replayed: m.batches[in.ID] > 1}, nil
}

func (m *memChain) PutStatusHeads(_ context.Context, heads []ledger.StatusHeadInput) (chaincode.HeadsEvent, error) {
	m.call()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range heads {
		m.heads[h.List] = h
	}
	return chaincode.HeadsEvent{}, nil
}

// TestOutboxFileFullStopsRun: when the outbox file cannot record that a
// committed batch, or heads, were sent (a full disk), Run returns the
// error (runOutbox starts it again after a pause), where it sent them
// again at once, and again, for as long as the disk stayed full; the
// next Run sends what stayed (a replay) and everything ends on the chain
// once.
func TestOutboxFileFullStopsRun(t *testing.T) {
	if testenv.IsChild() {
		t.Skip("child")
	}
	if out, err := testenv.RunChild("TestOutboxFileFullChild", "TRUSTID_OUTBOX_FSIZE_CHILD="+t.TempDir()); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestOutboxFileFullChild is the child of TestOutboxFileFullStopsRun:
// the file size limit drops to one page when the chain is first called.
func TestOutboxFileFullChild(t *testing.T) {
	dir := os.Getenv("TRUSTID_OUTBOX_FSIZE_CHILD")
	if dir == "" {
		t.Skip("run by TestOutboxFileFullStopsRun")
	}
	d := chaincode.ListDigest([]byte("v1"))
	for _, lane := range []string{"batch", "heads"} {
		t.Run(lane, func(t *testing.T) {
			var restore func()
			chain := &memChain{batches: map[string]int{}, heads: map[string]ledger.StatusHeadInput{}}
			chain.onFirst = func() { restore = limitFileSize(t, 4096) }
			ob, err := ledger.OpenOutbox(filepath.Join(dir, lane+".db"), chain, ledger.OutboxOptions{Window: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer ob.Close()
			ctx := context.Background()
			if lane == "batch" {
				err = ob.Anchor(ctx, ledgertest.SeqChanges(ledgertest.ListID("F"), 0, 10))
			} else {
				err = ob.AnchorHeads(ctx, []ledger.StatusHeadInput{{List: ledgertest.ListID("F"), Version: 1, Digest: d}})
			}
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = ob.Run(rctx)
			cancel()
			if restore != nil {
				restore()
			}
			chain.mu.Lock()
			calls := chain.calls
			chain.mu.Unlock()
			if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "cannot record sent") {
				t.Fatalf("Run on a full outbox file: %v, after %d transactions", err, calls)
			}
			if calls != 1 {
				t.Errorf("%d transactions on a full outbox file, want 1", calls)
			}
			if st := ob.Stats(); st.Frozen+st.HeadsPending != 1 {
				t.Errorf("after the failure: %+v, want the batch or the heads kept", st)
			}
			rctx, cancel = context.WithCancel(ctx)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- ob.Run(rctx) }()
			fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
			defer fcancel()
			if err := ob.Flush(fctx); err != nil {
				t.Fatal(err)
			}
			cancel()
			<-done
			st := ob.Stats()
			if st.Frozen != 0 || st.HeadsPending != 0 || st.Backlog != 0 {
				t.Errorf("after the next Run: %+v", st)
			}
			chain.mu.Lock()
			defer chain.mu.Unlock()
			if lane == "batch" && (len(chain.batches) != 1 || st.CommittedChanges != 10 || st.Replayed != 1) {
				t.Errorf("batches on the chain %v, %+v; want one, sent again as a replay", chain.batches, st)
			}
			if lane == "heads" && chain.heads[ledgertest.ListID("F")].Digest != d {
				t.Errorf("heads on the chain: %v", chain.heads)
			}
		})
	}
}

// TestAuditLogAppendsAfterFullDisk: a group refused by a full disk is cut
// off the file, and once space returns the next Append is written after
// the last acknowledged entry (docs/SECURITY.md: full disk answers 507,
// never 500, and writes resume once the space returns). Before, the log
// closed itself and every later Append failed with ErrClosed (an
// enrollment's 500) until a restart.
func TestAuditLogAppendsAfterFullDisk(t *testing.T) {
	if testenv.IsChild() {
		t.Skip("child")
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	if out, err := testenv.RunChild("TestAuditLogFullDiskChild", "TRUSTID_AUDIT_FULL_CHILD="+path); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	sum, err := ledger.VerifyAuditLog(path, 0)
	if err != nil || sum.Seq != 3 || sum.TornBytes != 0 {
		t.Fatalf("after the full disk: %+v %v; want entries 1–3, none torn", sum, err)
	}
}

// TestAuditLogFullDiskChild is the child of
// TestAuditLogAppendsAfterFullDisk.
func TestAuditLogFullDiskChild(t *testing.T) {
	path := os.Getenv("TRUSTID_AUDIT_FULL_CHILD")
	if path == "" {
		t.Skip("run by TestAuditLogAppendsAfterFullDisk")
	}
	a, err := ledger.OpenAuditLog(path, ledger.AuditOptions{Node: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	add := func() (uint64, error) {
		return a.Append(ledger.AuditEnrollment, "1K3M9QZ…", map[string]string{"level": "L3"})
	}
	if n, err := add(); err != nil || n != 2 {
		t.Fatalf("entry 2: %d %v", n, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	restore := limitFileSize(t, fi.Size()+10)
	if _, err := add(); !errors.Is(err, ledger.ErrUnavailable) || !errors.Is(err, syscall.EFBIG) {
		t.Errorf("append on a full disk: %v", err)
	}
	restore()
	if n, err := add(); err != nil || n != 3 {
		t.Fatalf("append once space returned: %d %v", n, err)
	}
}
