//go:build linux

package ledger_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/ledger"
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
