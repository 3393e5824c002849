package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/ledger"
)

func readAuditEntries(t *testing.T, path string) []ledger.AuditEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []ledger.AuditEntry
	for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var e ledger.AuditEntry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// TestAuditLogOfEnrollments runs a node holding two symbol key versions:
// the start writes a node_started entry, each enrollment writes an enrollment entry and a symbol_link entry with
// no personal data, the head is anchored on the ledger periodically and at
// shutdown, `trustid ledger audit-verify` agrees with the chain, and a
// tampered log is refused by audit-verify and by serve.
func TestAuditLogOfEnrollments(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	dir := t.TempDir()
	for v, key := range map[string]string{"1": strings.Repeat("a1", 32), "2": strings.Repeat("b2", 32)} {
		file := filepath.Join(t.TempDir(), "k"+v)
		os.WriteFile(file, []byte(key), 0o600)
		if out, errOut, err := run(t, context.Background(), "id", "import-key", "--version", v, "--file", file, "--data", dir); err != nil {
			t.Fatalf("import-key %s: %v %s %s", v, err, out, errOut)
		}
	}
	addr := testport.Reserve(t)
	serveArgs := []string{"--data", dir, "--addr", addr, "--issuer", "http://" + addr, "--log-level", "debug",
		"--audit-anchor-interval", "1s", "--node-id", "sh-node-1"}
	node := testnode.Start(t, serveMain, serveArgs...)
	n := &authNode{t: t, dir: dir, base: node.Base, logs: node.Logs}
	f := &enrollFixture{authNode: n}
	f.enrollTok = n.tokenFor("app-backend", n.addClientArgs("app-backend", auth.ScopeEnroll))
	f.terminal = n.addTerminal("t-counter-1")

	people := []*person{newPerson(t, "11010519900307123", "张三"), newPerson(t, "31010419851111002", "李四")}
	var results []enrollResult
	var secrets []string
	for i, p := range people {
		att := ""
		if i == 0 {
			var err error
			if att, err = f.terminal.Attest(p.doc, p.name, p.device.Public(), identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.95}, true); err != nil {
				t.Fatal(err)
			}
		}
		code, r, m := f.enroll(f.enrollBody(p, att, "", nil))
		if code != 201 {
			t.Fatalf("enroll %d: %d %v", i, code, m)
		}
		results = append(results, r)
		secrets = append(secrets, p.number, p.number[:14], p.name, r.Symbol)
	}

	path := filepath.Join(dir, auditFile)
	entries := readAuditEntries(t, path)
	if len(entries) != 2+2*len(people) || entries[0].Kind != ledger.AuditLogCreated || entries[0].Details["node"] != "sh-node-1" ||
		entries[1].Kind != ledger.AuditNodeStarted {
		t.Fatalf("audit log: %+v", entries)
	}
	for i, r := range results {
		en, link := entries[2+2*i], entries[3+2*i]
		sym, err := identity.ParseSymbol(r.Symbol)
		if err != nil {
			t.Fatal(err)
		}
		ref := sym.Text()
		if en.Kind != ledger.AuditEnrollment || en.Symbol != sym.String() || en.Details["level"] != r.AssuranceLevel ||
			en.Details["region"] != "310000" || en.Details["binding_credential"] != r.BindingCredential.ID ||
			en.Details["identity_credential"] != r.IdentityCredential.ID || en.Details["symbol_version"] != "2" || len(en.Details["symbol_ref"]) != 64 {
			t.Errorf("enrollment entry %d: %+v (response %s %s)", i, en, r.AssuranceLevel, sym)
		}
		if _, err := hex.DecodeString(en.Details["symbol_ref"]); err != nil || strings.Contains(en.Details["symbol_ref"], ref) {
			t.Errorf("symbol_ref %q", en.Details["symbol_ref"])
		}
		if link.Kind != ledger.AuditSymbolLink || link.Symbol != sym.String() || link.Details["old_version"] != "1" ||
			link.Details["symbol_ref"] != en.Details["symbol_ref"] || len(link.Details["old_symbol_ref"]) != 64 ||
			link.Details["old_symbol_ref"] == en.Details["symbol_ref"] {
			t.Errorf("symbol_link entry %d: %+v", i, link)
		}
	}
	scan := leakcheck.New(t, secrets...)
	scan.PlantDir(dir)
	if hits := scan.Dir(dir); len(hits) > 0 {
		t.Errorf("personal data in the data directory: %v", hits)
	}

	// Periodic anchoring reaches the head.
	head := entries[len(entries)-1]
	want := `"seq":` + jsonNum(head.Seq) + `,"head":"` + head.Hash + `"`
	waitFor(t, func() bool {
		for _, line := range strings.Split(node.Logs.String(), "\n") {
			if strings.Contains(line, `"msg":"audit log anchored"`) && strings.Contains(line, want) {
				return true
			}
		}
		return false
	}, "the audit head anchored")

	node.Stop()
	scan.PlantLog(node.Logs)
	if hits := scan.Log([]byte(node.Logs.String())); len(hits) > 0 {
		t.Errorf("personal data in the logs: %v", hits)
	}
	var out string
	waitFor(t, func() bool { // the ledger file is released after serve returns
		var err error
		out, _, err = run(t, context.Background(), "ledger", "audit-verify", "--data", dir)
		return err == nil
	}, "audit-verify")
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("audit-verify output %q: %v", out, err)
	}
	if rep["anchored"] != true || rep["seq"] != float64(head.Seq) || rep["anchored_seq"] != float64(head.Seq) ||
		rep["node_id"] != "sh-node-1" || rep["head"] != head.Hash {
		t.Errorf("audit-verify: %v", rep)
	}

	// Tamper with a middle line: audit-verify and serve refuse, naming it.
	data, _ := os.ReadFile(path)
	lines := bytes.SplitAfter(data, []byte("\n"))
	lines[3] = bytes.Replace(lines[3], []byte(`"old_version":"1"`), []byte(`"old_version":"3"`), 1)
	os.WriteFile(path, bytes.Join(lines, nil), 0o600)
	if _, _, err := run(t, context.Background(), "ledger", "audit-verify", "--data", dir); err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("tampered log verified: %v", err)
	}
	root := newRootCmd()
	root.SetArgs(append([]string{"serve", "--log-format", "json"}, serveArgs...))
	root.SetErr(io.Discard)
	root.SetOut(io.Discard)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := root.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("serve on a tampered log: %v", err)
	}
}

func jsonNum(n uint64) string { b, _ := json.Marshal(n); return string(b) }
