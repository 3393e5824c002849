package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/internal/testport"
)

// TestAuditLogSegmentsServe: a node rotates its audit log after each
// anchor past --audit-segment-size (not an idle log's segment holding
// its log_continued alone) and deletes the sealed segments past
// --audit-retention once the ledger's anchor is past them; what remains
// verifies with `ledger audit-verify` (beginning past entry 1), the node
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
