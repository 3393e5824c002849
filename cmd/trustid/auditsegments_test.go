package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// TestAuditLogSegmentsServe: a node rotates its audit log after each
// anchor past --audit-segment-size (not an idle log's segment holding
// its log_continued alone) and deletes the sealed segments past
// --audit-retention once the ledger's anchor is past them; what remains
// verifies with `ledger audit-verify` (beginning past entry 1, where the
// ledger records it pruned to), the node
// starts again on it, and a copy of the rotated data directory put back
// after that start is refused as an unrotated one is
// (TestRestoredDataDirectoryRefused).
func TestAuditLogSegmentsServe(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	ctx := context.Background()
	dir, addr := filepath.Join(t.TempDir(), "data"), testport.Reserve(t)
	ledgerPath := filepath.Join(t.TempDir(), "ledger.db")
	args := []string{"--data", dir, "--addr", addr, "--issuer", "http://" + addr, "--ledger-file", ledgerPath,
		"--audit-segment-size", "1", "--audit-anchor-interval", "1s", "--audit-retention", "1s"}
	node := testnode.Start(t, serveMain, args...)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(node.Logs.String(), `"msg":"audit log: deleted a sealed segment past --audit-retention"`); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no segment pruned:\n%s", node.Logs.String())
		}
	}
	node.Stop()
	if !strings.Contains(node.Logs.String(), "under six months") {
		t.Error("a retention under six months is not warned of")
	}

	verify := func() map[string]any {
		t.Helper()
		out, _, err := run(t, ctx, "ledger", "audit-verify", "--data", dir, "--ledger-file", ledgerPath)
		var got map[string]any
		if err != nil || json.Unmarshal([]byte(out), &got) != nil {
			t.Fatalf("audit-verify: %v\n%s", err, out)
		}
		return got
	}
	got := verify()
	// Idle after its start (entries 1-2, sealed at the start's anchor and
	// pruned), the node did not rotate again: audit.log holds its
	// log_continued (entry 3) alone.
	if got["anchored"] != true || got["first"].(float64) != 3 || got["seq"].(float64) != 3 || got["segments"].(float64) != 1 {
		t.Fatalf("audit-verify after pruning: %v", got)
	}
	if got["pruned_through"] != 2.0 || got["pruned_to"] == nil {
		t.Fatalf("audit-verify after pruning: %v, want the ledger's record of the pruning through entry 2", got)
	}
	if _, err := os.Stat(filepath.Join(dir, auditFile+".1-2")); err == nil {
		t.Fatal("the first segment is still there")
	}

	backup := filepath.Join(t.TempDir(), "backup")
	if err := os.CopyFS(backup, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	node = testnode.Start(t, serveMain, args...) // after pruning
	node.Stop()
	if again := verify(); again["seq"].(float64) <= got["seq"].(float64) {
		t.Fatalf("restart: %v, was %v", again, got)
	}
	if stop := serveRestored(t, dir, backup, auditFile, args); stop != nil {
		stop()
		t.Fatal("a restored copy of a rotated audit log served")
	}
}

// TestAuditVerifyPrunedAsRecorded: `ledger audit-verify` compares where
// the log begins with the ledger's record of its pruning: a log pruned
// as recorded verifies; one whose oldest segment left was then deleted
// by hand (the log looks pruned, its chain intact) fails naming the
// entries missing. Without a record (nothing pruned yet, or an older
// chain) a log deleted from its start verifies, as before.
func TestAuditVerifyPrunedAsRecorded(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, auditFile)
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(time.Second); return now }
	// node runs f with the node's log and ledger, closed after (the
	// command opens the ledger file alone).
	node := func(f func(a *ledger.AuditLog, c ledger.Client, segment func())) {
		t.Helper()
		l, err := embedded.Open(filepath.Join(dir, ledgerFile), embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := l.As(chaincode.RegionMSP(ledgertest.RegionB))
		if err != nil {
			t.Fatal(err)
		}
		ledgertest.EnsureConsortium(ctx, t, l, b)
		a, err := ledger.OpenAuditLog(path, ledger.AuditOptions{Node: "sh-node-1", Now: clock, SegmentSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		c := ledger.Client{L: l}
		f(a, c, func() { // an entry, anchored: its segment sealed
			t.Helper()
			if _, err := a.Append(ledger.AuditEnrollment, "1K3M9QZ…", map[string]string{"level": "L3"}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.Anchor(ctx, c); err != nil {
				t.Fatal(err)
			}
		})
		a.Close()
		b.Close()
		l.Close()
	}
	verify := func() (map[string]any, error) {
		t.Helper()
		out, _, err := run(t, ctx, "ledger", "audit-verify", "--data", dir)
		var got map[string]any
		if err == nil {
			err = json.Unmarshal([]byte(out), &got)
		}
		return got, err
	}
	deleteOldest := func() {
		t.Helper()
		m, err := filepath.Glob(path + ".*-*")
		if err != nil || len(m) == 0 {
			t.Fatal(m, err)
		}
		slices.SortFunc(m, func(x, y string) int { return cmp.Or(cmp.Compare(len(x), len(y)), cmp.Compare(x, y)) })
		if err := os.Remove(m[0]); err != nil {
			t.Fatal(err)
		}
	}

	// Nothing recorded: a log whose first segment is deleted verifies.
	node(func(_ *ledger.AuditLog, _ ledger.Client, segment func()) {
		for range 3 {
			segment()
		}
	})
	deleteOldest()
	if got, err := verify(); err != nil || got["pruned_through"] != nil {
		t.Fatalf("a log cut at its start, no pruning recorded: %v %v", got, err)
	}

	// Pruned by the node: recorded, and verifies.
	node(func(a *ledger.AuditLog, c ledger.Client, segment func()) {
		segment()
		segment()
		now = now.Add(time.Hour)
		if gone, err := a.Prune(ctx, c, time.Minute); err != nil || len(gone) == 0 {
			t.Fatalf("pruned %v %v", gone, err)
		}
	})
	got, err := verify()
	if err != nil || got["pruned_through"] != got["first"].(float64)-1 {
		t.Fatalf("a log pruned as recorded: %v %v", got, err)
	}

	// The oldest segment left deleted by hand: segments missing.
	node(func(_ *ledger.AuditLog, _ ledger.Client, segment func()) {
		segment()
		segment()
	})
	deleteOldest()
	if got, err := verify(); !errors.Is(err, ledger.ErrAuditAnchor) || !strings.Contains(err.Error(), "missing (deleted, not pruned)") {
		t.Fatalf("a segment deleted early: %v %v, want %v naming the entries missing", got, err, ledger.ErrAuditAnchor)
	}
}

// TestAuditLogSegmentsMissingServe: a node whose log begins later than
// the ledger records it pruned to (a sealed segment deleted by hand
// while it was stopped) logs AUDIT LOG SEGMENTS MISSING at its next
// pruning and deletes nothing.
func TestAuditLogSegmentsMissingServe(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	ctx := context.Background()
	dir, addr := filepath.Join(t.TempDir(), "data"), testport.Reserve(t)
	ledgerPath := filepath.Join(t.TempDir(), "ledger.db")
	args := func(retention string) []string {
		return []string{"--data", dir, "--addr", addr, "--issuer", "http://" + addr, "--ledger-file", ledgerPath,
			"--audit-segment-size", "1", "--audit-anchor-interval", "1s", "--audit-retention", retention}
	}
	waitLog := func(node *testnode.Node, msg string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(node.Logs.String(), msg); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s:\n%s", msg, node.Logs.String())
			}
		}
	}
	node := testnode.Start(t, serveMain, args("1s")...) // entries 1-2 pruned, recorded
	waitLog(node, `"msg":"audit log: deleted a sealed segment past --audit-retention"`)
	node.Stop()
	node = testnode.Start(t, serveMain, args("1h")...) // seals audit.log.3-4, prunes nothing
	node.Stop()
	sealed, err := filepath.Glob(filepath.Join(dir, auditFile+".*-*"))
	if err != nil || len(sealed) != 1 {
		t.Fatalf("sealed segments: %v %v", sealed, err)
	}
	if err := os.Remove(sealed[0]); err != nil {
		t.Fatal(err)
	}
	if out, _, err := run(t, ctx, "ledger", "audit-verify", "--data", dir, "--ledger-file", ledgerPath); !errors.Is(err, ledger.ErrAuditAnchor) {
		t.Fatalf("audit-verify with %s deleted: %v\n%s", filepath.Base(sealed[0]), err, out)
	}
	node = testnode.Start(t, serveMain, args("1s")...)
	waitLog(node, `"msg":"AUDIT LOG SEGMENTS MISSING`)
	node.Stop()
	if strings.Contains(node.Logs.String(), "deleted a sealed segment") {
		t.Fatalf("pruned a log missing segments:\n%s", node.Logs.String())
	}
}
