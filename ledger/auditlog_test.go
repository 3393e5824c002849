package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

func openAudit(t testing.TB, path, node string) *ledger.AuditLog {
	t.Helper()
	clock := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	a, err := ledger.OpenAuditLog(path, ledger.AuditOptions{Node: node, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func appendN(t *testing.T, a *ledger.AuditLog, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := a.Append(ledger.AuditEnrollment, fmt.Sprintf("1K3M%03d…", i), map[string]string{"level": "L3", "region": "310000"}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditLogAppendReopenVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a := openAudit(t, path, "node-a")
	if seq, head := a.Head(); seq != 1 || len(head) != 64 {
		t.Fatalf("new log head: %d %q", seq, head)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if _, err := a.Append(ledger.AuditSymbolLink, "ABCDEFG…", map[string]string{"old_version": "1", "new_version": "2"}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	seq, head := a.Head()
	if seq != 101 {
		t.Fatalf("seq %d after 100 appends", seq)
	}
	a.Close()
	if _, err := a.Append(ledger.AuditEnrollment, "", nil); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("append after close: %v", err)
	}

	sum, err := ledger.VerifyAuditLog(path, 50)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Seq != seq || sum.Head != head || sum.Node != "node-a" || len(sum.HeadAt) != 64 || sum.TornBytes != 0 {
		t.Errorf("verify: %+v, want seq %d head %s", sum, seq, head)
	}
	b := openAudit(t, path, "node-a")
	if s, h := b.Head(); s != seq || h != head {
		t.Errorf("reopened head %d %s", s, h)
	}
	if n, _ := b.Append(ledger.AuditStatusChange, "", map[string]string{"action": "revoke"}); n != seq+1 {
		t.Errorf("append after reopen: seq %d", n)
	}
	b.Close()
	if _, err := ledger.OpenAuditLog(path, ledger.AuditOptions{Node: "node-b"}); !errors.Is(err, ledger.ErrAuditNode) {
		t.Errorf("opened as another node: %v", err)
	}
	c, err := ledger.OpenAuditLog(path, ledger.AuditOptions{})
	if err != nil || c.Node() != "node-a" {
		t.Fatalf("open without a node: %v", err)
	}
	c.Close()
}

func TestAuditLogRefusesBadInput(t *testing.T) {
	a := openAudit(t, filepath.Join(t.TempDir(), "audit.log"), "n")
	for name, tc := range map[string]struct {
		kind, sym string
		d         map[string]string
	}{
		"kind":      {"Enroll ment", "", nil},
		"empty":     {"", "", nil},
		"key":       {"enrollment", "", map[string]string{"Bad-Key": "x"}},
		"long":      {"enrollment", "", map[string]string{"k": strings.Repeat("x", 300)}},
		"symbol":    {"enrollment", strings.Repeat("S", 65), nil},
		"utf8":      {"enrollment", "\xff", nil},
		"too many":  {"enrollment", "", manyDetails(33)},
		"bad value": {"enrollment", "", map[string]string{"k": "\xfe"}},
	} {
		if _, err := a.Append(tc.kind, tc.sym, tc.d); !errors.Is(err, ledger.ErrAuditEntry) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if s, _ := a.Head(); s != 1 {
		t.Errorf("refused entries were written: seq %d", s)
	}
	if _, err := ledger.OpenAuditLog(filepath.Join(t.TempDir(), "x.log"), ledger.AuditOptions{}); !errors.Is(err, ledger.ErrAuditEntry) {
		t.Errorf("new log without node: %v", err)
	}
	if _, err := ledger.OpenAuditLog(filepath.Join(t.TempDir(), "x.log"), ledger.AuditOptions{Node: "bad node"}); !errors.Is(err, ledger.ErrAuditEntry) {
		t.Errorf("bad node: %v", err)
	}
}

func manyDetails(n int) map[string]string {
	m := map[string]string{}
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

// writeLog makes a log of 1+n entries and returns its lines.
func writeLog(t *testing.T, path string, n int) [][]byte {
	t.Helper()
	a := openAudit(t, path, "node-a")
	appendN(t, a, n)
	a.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(data, []byte("\n"))[:n+1]
}

func TestAuditLogTamperNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		edit func(lines [][]byte) [][]byte
		want string
	}{
		"edited symbol": {func(l [][]byte) [][]byte {
			l[4] = bytes.Replace(l[4], []byte("1K3M003"), []byte("1K3M999"), 1)
			return l
		}, "line 5: hash does not match"},
		"edited and rehashed": {func(l [][]byte) [][]byte {
			// Changing the level also needs a new hash, and then line 6's
			// prev no longer matches.
			l[4] = bytes.Replace(l[4], []byte(`"L3"`), []byte(`"L4"`), 1)
			return rehash(t, l, 4)
		}, "line 6: prev does not match"},
		"removed": {func(l [][]byte) [][]byte {
			return append(l[:3:3], l[4:]...)
		}, "line 4: seq 5, want 4"},
		"swapped": {func(l [][]byte) [][]byte {
			l[2], l[3] = l[3], l[2]
			return l
		}, "line 3: seq 4, want 3"},
		"whitespace": {func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte(`,"kind"`), []byte(`, "kind"`), 1)
			return l
		}, "line 3: not in canonical form"},
		"duplicate key": {func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte(`{"seq":3,`), []byte(`{"seq":3,"seq":3,`), 1)
			return l
		}, "line 3: not in canonical form"},
		"garbage": {func(l [][]byte) [][]byte {
			l[1] = []byte("not json\n")
			return l
		}, "line 2: malformed entry"},
		"first entry": {func(l [][]byte) [][]byte {
			return l[1:]
		}, "line 1: want a log_created entry (entry 1) or log_continued entry"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".log")
			lines := tc.edit(writeLog(t, path, 7))
			if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ledger.OpenAuditLog(path, ledger.AuditOptions{Node: "node-a"})
			if !errors.Is(err, ledger.ErrAuditCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("open: %v, want %q", err, tc.want)
			}
			if _, err := ledger.VerifyAuditLog(path, 0); !errors.Is(err, ledger.ErrAuditCorrupt) {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

// rehash recomputes line i's hash the way a forger would, by appending
// a fresh entry with the same content to a scratch log.
func rehash(t *testing.T, lines [][]byte, i int) [][]byte {
	t.Helper()
	scratch := filepath.Join(t.TempDir(), "scratch.log")
	if err := os.WriteFile(scratch, bytes.Join(lines[:i], nil), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := ledger.OpenAuditLog(scratch, ledger.AuditOptions{Node: "node-a", Now: func() time.Time {
		return time.Date(2025, 3, 1, 8, 0, i+1, 0, time.UTC)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ledger.AuditEnrollment, fmt.Sprintf("1K3M%03d…", i-1), map[string]string{"level": "L4", "region": "310000"}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	data, _ := os.ReadFile(scratch)
	forged := bytes.SplitAfter(data, []byte("\n"))[i]
	out := append([][]byte{}, lines...)
	out[i] = forged
	return out
}

func TestAuditLogTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	lines := writeLog(t, path, 4)
	full := bytes.Join(lines, nil)
	torn := append(append([]byte{}, full...), lines[4][:30]...) // a crash mid-append
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := ledger.VerifyAuditLog(path, 0)
	if err != nil || sum.Seq != 5 || sum.TornBytes != 30 {
		t.Fatalf("verify of a torn log: %+v %v", sum, err)
	}
	a := openAudit(t, path, "node-a")
	if a.Truncated() != 30 {
		t.Errorf("truncated %d bytes, want 30", a.Truncated())
	}
	if n, err := a.Append(ledger.AuditEnrollment, "", nil); err != nil || n != 6 {
		t.Fatalf("append after recovery: %d %v", n, err)
	}
	a.Close()
	if sum, err := ledger.VerifyAuditLog(path, 0); err != nil || sum.Seq != 6 || sum.TornBytes != 0 {
		t.Errorf("after recovery: %+v %v", sum, err)
	}
	// A complete line that lost only its newline is torn too: its
	// Append never returned.
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, data[:len(data)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	b := openAudit(t, path, "node-a")
	if s, _ := b.Head(); s != 5 || b.Truncated() == 0 {
		t.Errorf("newline-less last line: seq %d truncated %d", s, b.Truncated())
	}
}

func TestAuditLogAnchor(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, lb := embeddedtest.Open(t, filepath.Join(dir, "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, l, lb)
	c := ledger.Client{L: l}
	path := filepath.Join(dir, "audit.log")
	a := openAudit(t, path, "node-a")
	appendN(t, a, 3)
	an, sent, err := a.Anchor(ctx, c)
	if err != nil || !sent {
		t.Fatalf("anchor: %v %v", sent, err)
	}
	seq, head := a.Head()
	got, err := c.AuditAnchor(ctx, ledgertest.RegionA, "node-a")
	if err != nil || got.Seq != seq || got.Head != head || an.Head != head {
		t.Fatalf("anchored %+v, want %d %s (%v)", got, seq, head, err)
	}
	if _, sent, err := a.Anchor(ctx, c); sent || err != nil {
		t.Errorf("unchanged head anchored again: %v %v", sent, err)
	}
	appendN(t, a, 2)
	if _, sent, err := a.Anchor(ctx, c); !sent || err != nil {
		t.Errorf("moved head: %v %v", sent, err)
	}
	a.Close()
	seq, _ = a.Head()
	got, _ = c.AuditAnchor(ctx, ledgertest.RegionA, "node-a")
	sum, err := ledger.VerifyAuditLog(path, got.Seq)
	if err != nil || ledger.CheckAnchor(sum, got) != nil || got.Seq != seq {
		t.Errorf("check anchor: %+v %v %v", sum, err, ledger.CheckAnchor(sum, got))
	}

	// The log replaced by a shorter one under the same node: the chain
	// refuses its head, and CheckAnchor sees the loss.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	b := openAudit(t, path, "node-a")
	if _, _, err := b.Anchor(ctx, c); !errors.Is(err, chaincode.ErrStale) {
		t.Errorf("replaced log anchored: %v", err)
	}
	b.Close()
	sum, _ = ledger.VerifyAuditLog(path, got.Seq)
	if err := ledger.CheckAnchor(sum, got); !errors.Is(err, ledger.ErrAuditAnchor) {
		t.Errorf("lost entries not seen: %v", err)
	}
	// Same length, other content: a fork.
	os.Remove(path)
	f := openAudit(t, path, "node-a")
	appendN(t, f, int(seq)-1)
	if _, _, err := f.Anchor(ctx, c); !errors.Is(err, chaincode.ErrHeadConflict) {
		t.Errorf("forked log anchored: %v", err)
	}
	f.Close()
	sum, _ = ledger.VerifyAuditLog(path, got.Seq)
	if err := ledger.CheckAnchor(sum, got); !errors.Is(err, ledger.ErrAuditAnchor) {
		t.Errorf("rewritten log not seen: %v", err)
	}
}

func FuzzAuditLog(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.log")
	a := openAudit(f, path, "node-a")
	a.Append(ledger.AuditEnrollment, "1K3M9QZ…", map[string]string{"level": "L3"})
	a.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add(seed[:len(seed)-5])
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "audit.log")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		sum, err := ledger.VerifyAuditLog(p, 1)
		if err != nil {
			if !errors.Is(err, ledger.ErrAuditCorrupt) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		l, err := ledger.OpenAuditLog(p, ledger.AuditOptions{Node: "node-a"})
		if err != nil {
			if sum.Seq > 0 && sum.Node != "node-a" && errors.Is(err, ledger.ErrAuditNode) {
				return
			}
			t.Fatalf("verified log does not open: %+v %v", sum, err)
		}
		defer l.Close()
		if sum.Seq > 0 {
			if s, h := l.Head(); s != sum.Seq || h != sum.Head {
				t.Fatalf("open and verify disagree: %d %s vs %+v", s, h, sum)
			}
		}
	})
}

// BenchmarkAuditLogAppend appends from 32 goroutines per CPU (concurrent
// enrollments), so that group commit has writers to group.
func BenchmarkAuditLogAppend(b *testing.B) {
	a := openAudit(b, filepath.Join(b.TempDir(), "audit.log"), "node-a")
	d := map[string]string{"level": "L3", "region": "310000", "binding_credential": "urn:uuid:8f4e0a0e-8f0a-4c1e-9d55-0b5e6d7e8a90"}
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Append(ledger.AuditEnrollment, "1K3M9QZ…", d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestAuditLogGroupCommit: concurrent Appends share writes and fsyncs (the
// clock is read once per group, and ticks at every read, so entries of one
// group share a time), and every entry is in the chain once.
func TestAuditLogGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a := openAudit(t, path, "node-a")
	const writers, each = 32, 20
	seqs := make(chan uint64, writers*each)
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				seq, err := a.Append(ledger.AuditEnrollment, "1K3M9QZ…", map[string]string{"level": "L3"})
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- seq
			}
		}()
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] || s < 2 || s > writers*each+1 {
			t.Fatalf("seq %d returned twice or out of range", s)
		}
		seen[s] = true
	}
	sum, err := ledger.VerifyAuditLog(path, 0)
	if err != nil || sum.Seq != writers*each+1 {
		t.Fatalf("verify: %+v %v", sum, err)
	}
	raw, _ := os.ReadFile(path)
	times := map[string]bool{}
	for line := range strings.Lines(string(raw)) {
		var e ledger.AuditEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		times[e.Time.String()] = true
	}
	t.Logf("%d entries in %d groups", writers*each, len(times)-1)
	if len(times) >= writers*each+1 {
		t.Fatalf("no group commit: %d writes for %d entries", len(times), writers*each+1)
	}
}

// TestAuditLogSIGKILL: a child appending from many goroutines is killed
// mid-stream; the log reopens with a valid chain holding every entry it
// acknowledged.
func TestAuditLogSIGKILL(t *testing.T) {
	if testenv.IsChild() {
		t.Skip("child")
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	var acked, most uint64
	testenv.KillChild(t, "TestAuditLogChild", []string{"TRUSTID_AUDIT_CHILD=" + path}, func(v string) bool {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("child said %q", "acked "+v)
		}
		acked, most = acked+1, max(most, n)
		return acked < 2000
	})
	if acked < 2000 {
		t.Fatalf("the child acknowledged only %d entries", acked)
	}
	a, err := ledger.OpenAuditLog(path, ledger.AuditOptions{Node: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if seq, _ := a.Head(); seq < most {
		t.Fatalf("acknowledged entry %d lost: the log ends at %d", most, seq)
	}
	if _, err := a.Append(ledger.AuditEnrollment, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.VerifyAuditLog(path, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after %d acknowledged entries (highest %d); torn bytes cut: %d", acked, most, a.Truncated())
}

// TestAuditLogChild is the child of TestAuditLogSIGKILL.
func TestAuditLogChild(t *testing.T) {
	path := os.Getenv("TRUSTID_AUDIT_CHILD")
	if path == "" {
		t.Skip("run by TestAuditLogSIGKILL")
	}
	a := openAudit(t, path, "node-a")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seq, err := a.Append(ledger.AuditEnrollment, "1K3M9QZ…", map[string]string{"level": "L3"})
				if err != nil {
					panic(err)
				}
				mu.Lock()
				fmt.Printf("acked %d\n", seq)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestVerifyAuditLogWithoutEntries: a log with no complete entry (emptied,
// or cut inside entry 1) names no node and no head: VerifyAuditLog calls
// it corrupt rather than verified. OpenAuditLog still starts it afresh
// (a crash while creating it), and the ledger's anchor tells.
func TestVerifyAuditLogWithoutEntries(t *testing.T) {
	for name, data := range map[string]string{"empty": "", "cut": `{"seq":1,"time":"2025-03-01T08:00:01Z","kind":"log_cr`} {
		path := filepath.Join(t.TempDir(), "audit.log")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ledger.VerifyAuditLog(path, 0); !errors.Is(err, ledger.ErrAuditCorrupt) || !strings.Contains(err.Error(), "line 1: no complete entry") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestAuditLogRestoredCopyNotAnchored: a log put back from an older copy
// (or cut and rewritten) is refused by the chain while it is shorter
// than the anchored one; once it has grown past the anchored seq the
// chain cannot tell it from an extension, so the node checks, before its
// first anchor, that the log holds the anchored head. Before, the grown
// copy's head was anchored over the old one and audit-verify then
// accepted it: the entries it lost left no trace.
func TestAuditLogRestoredCopyNotAnchored(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, lb := embeddedtest.Open(t, filepath.Join(dir, "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, l, lb)
	c := ledger.Client{L: l}
	path := filepath.Join(dir, "audit.log")
	a := openAudit(t, path, "node-a")
	appendN(t, a, 1)
	old, err := os.ReadFile(path) // the backup: entries 1–2
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, a, 2)
	if _, _, err := a.Anchor(ctx, c); err != nil {
		t.Fatal(err)
	}
	a.Close()
	good, _ := os.ReadFile(path)
	anchored, _ := c.AuditAnchor(ctx, ledgertest.RegionA, "node-a")

	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	b := openAudit(t, path, "node-a")
	appendN(t, b, 3) // entry 5: past the anchored 4
	if _, _, err := b.Anchor(ctx, c); !errors.Is(err, ledger.ErrAuditAnchor) {
		t.Errorf("restored copy grown past the anchor: %v, want ErrAuditAnchor", err)
	}
	b.Close()
	if now, _ := c.AuditAnchor(ctx, ledgertest.RegionA, "node-a"); now.Seq != anchored.Seq || now.Head != anchored.Head {
		t.Errorf("anchor moved to the restored copy: %+v, was %+v", now, anchored)
	}

	// The log itself, reopened and extended, is anchored as before.
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	g := openAudit(t, path, "node-a")
	appendN(t, g, 1)
	if _, sent, err := g.Anchor(ctx, c); !sent || err != nil {
		t.Errorf("reopened log: %v %v", sent, err)
	}
}

// TestAuditNodeIDsTheChainAccepts: ValidAuditNode accepts exactly the node
// IDs AnchorAudit does, so that a node never creates a log it cannot
// anchor (before, "-node" or ".node" opened a log the chain refused to
// anchor every time).
func TestAuditNodeIDsTheChainAccepts(t *testing.T) {
	ctx := context.Background()
	l, lb := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(ctx, t, l, lb)
	c := ledger.Client{L: l}
	head := strings.Repeat("ab", 32)
	for _, id := range []string{"node-a", "a", "0", "a-", "a.b:c/d_e", strings.Repeat("n", 128),
		"-node", ".node", "/node", ":node", "_node", "", "node a", strings.Repeat("n", 129)} {
		_, err := c.AnchorAudit(ctx, id, 1, head)
		if valid := ledger.ValidAuditNode(id); valid != (err == nil) {
			t.Errorf("%q: ValidAuditNode %v, AnchorAudit %v", id, valid, err)
		}
	}
	if _, err := ledger.OpenAuditLog(filepath.Join(t.TempDir(), "audit.log"), ledger.AuditOptions{Node: "-node"}); !errors.Is(err, ledger.ErrAuditEntry) {
		t.Errorf("a log for node -node: %v", err)
	}
}
