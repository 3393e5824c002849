//go:build unix

package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// crashAnchorer passes hand-offs to a real outbox until armed; armed, it
// kills the process with SIGKILL at the point the mode names.
type crashAnchorer struct {
	ob    *ledger.Outbox
	mode  string // "before-outbox" or "between-change-and-head"
	armed atomic.Bool
}

func die() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func (c *crashAnchorer) Anchor(ctx context.Context, changes []chaincode.StatusChange) error {
	if !c.armed.Load() {
		return c.ob.Anchor(ctx, changes)
	}
	if c.mode == "before-outbox" {
		die()
	}
	err := c.ob.Anchor(ctx, changes) // on disk now
	die()
	return err
}

func (c *crashAnchorer) AnchorHeads(ctx context.Context, heads []chaincode.HeadInput) error {
	if !c.armed.Load() {
		return c.ob.AnchorHeads(ctx, heads)
	}
	if c.mode == "before-outbox" {
		die()
	}
	select {} // the head never reaches the outbox: Anchor kills the process
}

type crashRecord struct {
	ID  string     `json:"id"`
	Ref status.Ref `json:"ref"`
}

// TestAnchorCrash kills a node (SIGKILL, in a child process) in the middle
// of a revocation — after the status store's change, before the outbox
// has it; and after the outbox has the change but not the list's head —
// then restarts it on the same files. ReplayAnchors hands the journal's
// change over again: the chain ends with the revocation and the store's
// head, the change anchored once (killed before the outbox) or twice
// (killed after it; the record is an absolute value, so the repeat is
// harmless), never lost.
func TestAnchorCrash(t *testing.T) {
	if testenv.IsChild() {
		t.Skip("child")
	}
	for mode, wantRecords := range map[string]int{"before-outbox": 1, "between-change-and-head": 2} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			out, err := testenv.RunChild("TestAnchorCrashChild", "TRUSTID_ANCHOR_CRASH_DIR="+dir, "TRUSTID_ANCHOR_CRASH_MODE="+mode)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the child was not killed: %v\n%s", err, out)
			}
			raw, err := os.ReadFile(filepath.Join(dir, "crash.json"))
			if err != nil {
				t.Fatal(err)
			}
			var rec crashRecord
			json.Unmarshal(raw, &rec)

			ctx := context.Background()
			n := openNodeIn(t, dir, testBase)
			// The store has the revocation and its journal entry.
			if _, v, _ := n.status.Get(ctx, rec.Ref.ListID, rec.Ref.Index); v != 1 {
				t.Fatal("the revocation was not saved before the crash")
			}
			p, err := n.status.Unanchored(ctx, rec.Ref.ListID)
			if err != nil || p.Anchored == p.Version || len(p.Changes) != 1 || p.Changes[0].Index != rec.Ref.Index {
				t.Fatalf("journal after the crash: %+v %v", p, err)
			}
			ch := openChain(t, dir, true)
			anchorIssuer(t, n, ch, testBase)
			changes, heads, err := n.issuer.ReplayAnchors(ctx)
			if err != nil || changes != 1 || heads != 2 {
				t.Fatalf("replay: %d changes, %d heads, %v", changes, heads, err)
			}
			ch.flush(t, n.issuer, rec.Ref.ListID)
			want, _ := n.issuer.StatusHead(ctx, rec.Ref.ListID)
			if h, err := ch.c.StatusHead(ctx, anchorRegion, rec.Ref.ListID); err != nil || h.Version != want.Version || h.Digest != want.Digest {
				t.Fatalf("head on the chain %+v %v, want %+v", h, err, want)
			}
			if s, ok := ch.chainStatus(t, rec.Ref.ListID, rec.Ref.Index, 1); !ok || s != 1 {
				t.Fatal("the revocation is not on the chain")
			}
			counts := ledgertest.Anchored(t, ch.l)
			if k := counts[chaincode.StatusChange{List: rec.Ref.ListID, Index: uint64(rec.Ref.Index), Status: 1}]; k != wantRecords {
				t.Errorf("the revocation was anchored %d times, want %d", k, wantRecords)
			}
			if st := ch.ob.Stats(); st.Dead != 0 {
				t.Errorf("dead batches: %+v", st)
			}

			// RunAnchoring checkpoints the journal: the next start hands
			// over heads only.
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- n.issuer.RunAnchoring(rctx, 20*time.Millisecond) }()
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if again := openNodeIn(t, dir, testBase); func() bool {
					v, a, _ := again.status.Versions(ctx, rec.Ref.ListID)
					return v == a
				}() {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the journal was never checkpointed")
				}
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			n2 := openNodeIn(t, dir, testBase)
			anchorIssuer(t, n2, ch, testBase)
			if changes, _, err := n2.issuer.ReplayAnchors(ctx); err != nil || changes != 0 {
				t.Errorf("after a checkpoint the replay sent %d changes again (%v)", changes, err)
			}
		})
	}
}

// TestAnchorCrashChild is the child of TestAnchorCrash: it issues a
// credential and revokes it with the crash armed.
func TestAnchorCrashChild(t *testing.T) {
	dir := os.Getenv("TRUSTID_ANCHOR_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestAnchorCrash")
	}
	ctx := context.Background()
	n := openNodeIn(t, dir, testBase)
	ch := openChain(t, dir, false)
	registerRegion(t, ch.l, anchorRegion, n.issuer.DID(), testBase, n.keys)
	ca := &crashAnchorer{ob: ch.ob, mode: os.Getenv("TRUSTID_ANCHOR_CRASH_MODE")}
	is, err := NewIssuer(IssuerConfig{BaseURL: testBase, Keys: n.keys, Status: n.status, Now: n.clock.Now, Anchor: ca})
	if err != nil {
		t.Fatal(err)
	}
	n.issuer = is
	iss := mustIssue(t, n, sampleCredential(), IssueOptions{})
	raw, _ := json.Marshal(crashRecord{ID: iss.ID, Ref: iss.Status[0]})
	if err := os.WriteFile(filepath.Join(dir, "crash.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	ca.armed.Store(true)
	is.SetStatus(ctx, iss.ID, ActionRevoke)
	t.Fatal("not killed")
}
