package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
)

// forgedLog writes a log of the given entries, chained and hashed as
// Append does but without Append's checks: what someone who can write
// the file (and knows SM3) can make.
func forgedLog(t *testing.T, bodies ...auditBody) []byte {
	t.Helper()
	at, _ := json.Marshal(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC))
	var buf []byte
	prev := auditGenesisPrev
	for i, b := range bodies {
		body, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		buf = appendAuditLine(buf, uint64(i+1), at, body[1:len(body)-1], prev)
		prev = string(buf[len(buf)-3-64 : len(buf)-3])
	}
	return buf
}

// bigDetails are the most details Append takes, each value the longest
// and escaped by JSON six bytes a character: together over maxAuditLine.
func bigDetails() map[string]string {
	d := map[string]string{}
	for i := range maxAuditDetails {
		d["k"+strconv.Itoa(i)] = strings.Repeat("<", maxAuditValue)
	}
	return d
}

// TestVerifyAuditLogRefusesForgedEntries: a log whose chain and hashes
// hold is still corrupt when its first entry is not a log_created entry
// naming a valid node, an entry has a kind Append refuses, a line is
// longer than Append writes, or a line longer than the read buffer is
// followed by a newline (not a torn tail OpenAuditLog may cut, with the
// entries after it).
func TestVerifyAuditLogRefusesForgedEntries(t *testing.T) {
	created := auditBody{Kind: AuditLogCreated, Details: map[string]string{"node": "node-a"}}
	enroll := auditBody{Kind: AuditEnrollment, Symbol: "1K3M001…", Details: map[string]string{"level": "L3"}}
	good := forgedLog(t, created, enroll)
	dir := t.TempDir()
	check := func(name string, data []byte, want string) {
		t.Helper()
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyAuditLog(path, 0); !errors.Is(err, ErrAuditCorrupt) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrAuditCorrupt %q", name, err, want)
		}
	}
	path := filepath.Join(dir, "good")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyAuditLog(path, 0); err != nil {
		t.Fatalf("the forged log's own form: %v", err)
	}
	check("first not created", forgedLog(t, auditBody{Kind: AuditEnrollment, Details: map[string]string{"node": "node-a"}}, enroll), "line 1: want a log_created entry")
	check("bad node", forgedLog(t, auditBody{Kind: AuditLogCreated, Details: map[string]string{"node": "node a"}}), "line 1: want a log_created entry")
	check("bad kind", forgedLog(t, created, auditBody{Kind: "Enrollment"}), `kind "Enrollment"`)
	check("long line", forgedLog(t, created, auditBody{Kind: AuditEnrollment, Details: bigDetails()}), "line 2: longer than")
	over := append(append(append([]byte{}, good...), bytes.Repeat([]byte("x"), 70<<10)...), '\n')
	check("over the buffer", append(over, good...), "line 3: longer than")
}

// TestAppendRefusesOverlongEntry: an entry whose line would be over
// maxAuditLine is ErrAuditEntry and not written; the log stays valid.
func TestAppendRefusesOverlongEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAuditLog(path, AuditOptions{Node: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := a.Append(AuditEnrollment, "", bigDetails()); !errors.Is(err, ErrAuditEntry) || seq != 0 {
		t.Errorf("Append = %d, %v; want ErrAuditEntry", seq, err)
	}
	if seq, err := a.Append(AuditEnrollment, "", nil); err != nil || seq != 2 {
		t.Errorf("the next Append = %d, %v; want 2", seq, err)
	}
	a.Close()
	if sum, err := VerifyAuditLog(path, 0); err != nil || sum.Seq != 2 {
		t.Errorf("VerifyAuditLog = %+v, %v", sum, err)
	}
}

// TestCheckAnchorNamesWhatDiffers: an anchor of another node, or past the
// log's end, is ErrAuditAnchor saying which.
func TestCheckAnchorNamesWhatDiffers(t *testing.T) {
	head := strings.Repeat("a", 64)
	sum := AuditSummary{Node: "node-a", Seq: 3, Head: head, HeadAt: head}
	for _, c := range []struct {
		an   chaincode.AuditAnchor
		want string
	}{
		{chaincode.AuditAnchor{Node: "node-b", Seq: 3, Head: head}, `the anchor is of node "node-b"`},
		{chaincode.AuditAnchor{Node: "node-a", Seq: 5, Head: head}, "entries lost"},
		{chaincode.AuditAnchor{Node: "node-a", Seq: 3, Head: strings.Repeat("b", 64)}, "log rewritten"},
	} {
		if err := CheckAnchor(sum, c.an); !errors.Is(err, ErrAuditAnchor) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckAnchor(%+v) = %v, want %q", c.an, err, c.want)
		}
	}
	if err := CheckAnchor(sum, chaincode.AuditAnchor{Node: "node-a", Seq: 3, Head: head}); err != nil {
		t.Errorf("the anchored head: %v", err)
	}
}

// TestOlderNodeIDLogIsNotCorrupt: a log an older version created under a
// node ID that began with '.', '_', ':', '/' or '-' (its --node-id took
// them; the chain never did) is intact: VerifyAuditLog reads it, and
// OpenAuditLog refuses it as ErrAuditNode naming the ID and what to do,
// not as a corrupt log (ErrAuditCorrupt: rewritten).
func TestOlderNodeIDLogIsNotCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	log := forgedLog(t, auditBody{Kind: AuditLogCreated, Details: map[string]string{"node": "_edge1"}},
		auditBody{Kind: AuditEnrollment, Symbol: "1K3M001…", Details: map[string]string{"level": "L3"}})
	if err := os.WriteFile(path, log, 0o600); err != nil {
		t.Fatal(err)
	}
	if sum, err := VerifyAuditLog(path, 0); err != nil || sum.Node != "_edge1" || sum.Seq != 2 {
		t.Errorf("VerifyAuditLog = %+v, %v", sum, err)
	}
	for _, node := range []string{"", "0a1b2c3d4e5f"} {
		_, err := OpenAuditLog(path, AuditOptions{Node: node})
		if !errors.Is(err, ErrAuditNode) || errors.Is(err, ErrAuditCorrupt) || !strings.Contains(err.Error(), `"_edge1"`) || !strings.Contains(err.Error(), "move it aside") {
			t.Errorf("OpenAuditLog(%q) = %v, want ErrAuditNode naming the node", node, err)
		}
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, log) {
		t.Error("the log changed")
	}
}
