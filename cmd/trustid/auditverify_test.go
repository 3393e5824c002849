package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// TestAuditVerifyRefusesEmptiedLog: `trustid ledger audit-verify` on a
// log whose entries were all removed (emptied, or cut to a partial line)
// fails naming the loss, and --node-id naming another node than the log
// fails too. Before, the emptied log named no node, so no anchor was
// found and the command printed chain_verified true, anchored false.
func TestAuditVerifyRefusesEmptiedLog(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	ctx := context.Background()
	dir := t.TempDir()
	l, err := embedded.Open(filepath.Join(dir, ledgerFile), embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.As(chaincode.RegionMSP(ledgertest.RegionB))
	if err != nil {
		t.Fatal(err)
	}
	ledgertest.EnsureConsortium(ctx, t, l, b)
	path := filepath.Join(dir, auditFile)
	a, err := ledger.OpenAuditLog(path, ledger.AuditOptions{Node: "sh-node-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ledger.AuditEnrollment, "1K3M9QZ…", map[string]string{"level": "L3"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Anchor(ctx, ledger.Client{L: l}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	l.Close()
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out, _, err := run(t, ctx, "ledger", "audit-verify", "--data", dir); err != nil || !strings.Contains(out, `"anchored": true`) {
		t.Fatalf("audit-verify of the intact log: %v\n%s", err, out)
	}
	if out, _, err := run(t, ctx, "ledger", "audit-verify", "--data", dir, "--node-id", "sh-node-2"); err == nil || !strings.Contains(err.Error(), `"sh-node-1"`) {
		t.Errorf("audit-verify --node-id of another node: %v\n%s", err, out)
	}
	for name, data := range map[string][]byte{"emptied": nil, "cut in line 1": good[:40]} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, _, err := run(t, ctx, "ledger", "audit-verify", "--data", dir)
		if err == nil || !strings.Contains(err.Error(), "no complete entry") {
			t.Errorf("%s log: %v\n%s", name, err, out)
		}
	}
}
