package statuslist_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
	"github.com/trustid-cn/trustid/store"
)

var testIDKey = bytes.Repeat([]byte{7}, 32)

// instance is one instance of region ledgertest.RegionA: its own data
// directory (lists it owns, outbox) over a ledger it shares.
type instance struct {
	name   string
	ownDir string
	own    *statuslist.FileStore
	ob     *ledger.Outbox
	shared *statuslist.Shared
	chosen ledger.ChosenIDs
}

// startInstance runs an instance over l until the test ends.
func startInstance(t testing.TB, l ledger.Ledger, dir, name string) *instance {
	t.Helper()
	return startInstanceAnchor(t, l, dir, name, nil, nil)
}

// startInstanceAnchor is startInstance with the shared store's anchorer
// made by wrap from the instance's outbox (the outbox itself if nil) and
// its options changed by opt (if not nil).
func startInstanceAnchor(t testing.TB, l ledger.Ledger, dir, name string, wrap func(*ledger.Outbox) statuslist.Anchorer, opt func(*statuslist.SharedOptions)) *instance {
	t.Helper()
	return startInstanceHeld(t, l, dir, name, wrap, opt, nil)
}

// startInstanceHeld is startInstanceAnchor whose view of the chain
// applies no event while hold (if not nil) is locked: the ledger's events
// delivered late to this instance.
func startInstanceHeld(t testing.TB, l ledger.Ledger, dir, name string, wrap func(*ledger.Outbox) statuslist.Anchorer, opt func(*statuslist.SharedOptions), hold *sync.RWMutex) *instance {
	t.Helper()
	return runInstance(t, l, openInstance(t, l, l, dir, filepath.Join(dir, "bindings.db"), name, wrap, opt), hold)
}

// runInstance runs in, opened over l (openInstance), as
// startInstanceHeld does.
func runInstance(t testing.TB, l ledger.Ledger, in *instance, hold *sync.RWMutex) *instance {
	t.Helper()
	ob, sh, chosen := in.ob, in.shared, in.chosen
	if err := ob.Watch(sh.Restore, sh.Done); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); ob.Run(ctx) }()
	go func() { defer wg.Done(); sh.RunMarkers(ctx) }()
	go func() {
		defer wg.Done()
		ledger.Follow(ctx, l, 10*time.Millisecond, func(ev ledger.Event) error {
			if hold != nil {
				hold.RLock()
				defer hold.RUnlock()
			}
			return errors.Join(sh.ApplyEvent(ev.Block, ev.Name, ev.Payload), chosen.Index.ApplyEvent(ev))
		}, nil)
	}()
	go func() { defer wg.Done(); sh.RunHeads(ctx, 10*time.Millisecond) }()
	t.Cleanup(func() { cancel(); wg.Wait(); ob.Close() })
	return in
}

// openInstance opens instance name of region A over dir, its outbox
// sending to led (l, or a wrapper of l) through wrap (nil: the outbox
// itself), its bindings index at bindings, its options changed by opt
// (if not nil); nothing runs and nothing is watched.
func openInstance(t testing.TB, l, led ledger.Ledger, dir, bindings, name string, wrap func(*ledger.Outbox) statuslist.Anchorer, opt func(*statuslist.SharedOptions)) *instance {
	t.Helper()
	own, err := statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{Instance: name})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := ledger.OpenOutbox(filepath.Join(dir, "outbox.db"), ledger.Client{L: led},
		ledger.OutboxOptions{Window: 5 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := statuslist.NewCredentialIDs(testIDKey)
	if err != nil {
		t.Fatal(err)
	}
	chosen := ledgertest.ChosenIDs(t, l, bindings, ledgertest.RegionA)
	var anchor statuslist.Anchorer = ob
	if wrap != nil {
		anchor = wrap(ob)
	}
	opts := statuslist.SharedOptions{Own: own, IDs: ids, Anchor: anchor, Chosen: chosen, Region: ledgertest.RegionA, BatchPrefix: ob.NodeID() + "-"}
	if opt != nil {
		opt(&opts)
	}
	sh, err := statuslist.NewShared(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &instance{name: name, ownDir: filepath.Join(dir, "status"), own: own, ob: ob, shared: sh, chosen: chosen}
}

// issue allocates a revocation, a suspension and a token entry (in one
// AllocateMany: one group commit) and mints the credential ID, owned by
// owner.
func (in *instance) issue(t testing.TB, owner string) string {
	t.Helper()
	ctx := context.Background()
	purposes := []string{status.PurposeRevocation, status.PurposeSuspension, status.PurposeToken}
	refs, err := in.shared.AllocateMany(ctx, purposes...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range refs {
		if r.Purpose != purposes[i] || !status.ListOf(r.ListID, in.name) {
			t.Fatalf("entry %d: %+v", i, r)
		}
	}
	id, err := in.shared.MintID(0, owner, refs)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.shared.BindOwner(ctx, id, owner, refs); err != nil {
		t.Fatal(err)
	}
	return id
}

// set changes every entry of purpose of a credential through in.
func (in *instance) set(t testing.TB, id, purpose string, v uint8) {
	t.Helper()
	refs, err := in.shared.Refs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var es []status.Entry
	for _, r := range refs {
		if r.Purpose == purpose {
			es = append(es, status.Entry{ListID: r.ListID, Index: r.Index, Value: v})
		}
	}
	if err := in.shared.SetMany(context.Background(), es); err != nil {
		t.Fatal(err)
	}
}

func openLedger(t testing.TB) *embedded.Ledger {
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ledgertest.EnsureConsortium(context.Background(), t, a, b)
	return a
}

// converged waits until every instance has flushed its outbox and they
// all serve the same lists (same versions and content), each list's head
// on the chain matching; it returns the lists.
func converged(t *testing.T, l ledger.Ledger, ins ...*instance) map[string]status.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, in := range ins {
		if err := in.ob.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var last string
	for ctx.Err() == nil {
		ref := map[string]status.Snapshot{}
		last = ""
		for _, id := range ins[0].shared.Lists() {
			s, _ := ins[0].shared.Snapshot(ctx, id)
			ref[id] = s
		}
		for _, in := range ins {
			if in.shared.Pending() != 0 {
				last = fmt.Sprintf("%s: %d changes not seen on the chain", in.name, in.shared.Pending())
			}
			if got := in.shared.Lists(); len(got) != len(ref) {
				last = fmt.Sprintf("%s knows %d lists, %s %d", in.name, len(got), ins[0].name, len(ref))
			}
			for id, want := range ref {
				got, err := in.shared.Snapshot(ctx, id)
				c1, _ := got.Content()
				c2, _ := want.Content()
				if err != nil || !bytes.Equal(c1, c2) {
					last = fmt.Sprintf("%s: list %s v%d, %s has v%d", in.name, id, got.Version, ins[0].name, want.Version)
				}
			}
		}
		if last == "" {
			for id, s := range ref {
				h, err := (ledger.Client{L: l}).StatusHead(ctx, ledgertest.RegionA, id)
				c, _ := s.Content()
				if err != nil || h.Version != s.Version || h.Digest != chaincode.ListDigest(c) {
					last = fmt.Sprintf("head of %s: %+v (%v), list v%d", id, h, err, s.Version)
					break
				}
			}
		}
		if last == "" {
			return ref
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("instances did not converge: %s", last)
	return nil
}

func value(t *testing.T, lists map[string]status.Snapshot, r status.Ref) uint8 {
	t.Helper()
	s := lists[r.ListID]
	if s.Bitstring != nil {
		if s.Bitstring.Get(r.Index) {
			return 1
		}
		return 0
	}
	v, _ := s.Token.Get(r.Index)
	return v
}

// TestSharedTwoInstances: two instances of one region over one ledger
// allocate from their own lists only (no index twice), change each
// other's credentials, read their own changes at once, and end up serving
// identical lists whose heads are on the chain.
func TestSharedTwoInstances(t *testing.T) {
	l := openLedger(t)
	a := startInstance(t, l, t.TempDir(), "a")
	b := startInstance(t, l, t.TempDir(), "b")
	ctx := context.Background()
	var fromA, fromB []string
	seen := map[status.Ref]bool{}
	for range 40 {
		fromA = append(fromA, a.issue(t, "client-a"))
		fromB = append(fromB, b.issue(t, "client-b"))
	}
	for _, id := range append(slices(fromA), fromB...) {
		refs, err := a.shared.Refs(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			if seen[r] {
				t.Fatalf("entry %+v allocated twice", r)
			}
			seen[r] = true
		}
	}
	for _, id := range fromA {
		refs, _ := b.shared.Refs(ctx, id)
		if !status.ListOf(refs[0].ListID, "a") || status.ListOf(refs[0].ListID, "b") {
			t.Fatalf("a allocated from list %s", refs[0].ListID)
		}
	}
	// b revokes a's first ten and suspends the next ten; a revokes b's.
	for i := range 10 {
		b.set(t, fromA[i], status.PurposeRevocation, 1)
		b.set(t, fromA[i], status.PurposeToken, status.TokenInvalid)
		b.set(t, fromA[10+i], status.PurposeSuspension, 1)
		a.set(t, fromB[i], status.PurposeRevocation, 1)
	}
	// Read your writes on the instance that made the change.
	refs, _ := b.shared.Refs(ctx, fromA[0])
	if _, v, err := b.shared.Get(ctx, refs[0].ListID, refs[0].Index); err != nil || v != 1 {
		t.Fatalf("b's own revocation not seen at once: %d, %v", v, err)
	}
	lists := converged(t, l, a, b)
	for i, id := range fromA {
		refs, _ := a.shared.Refs(ctx, id)
		wantRev, wantSusp := uint8(0), uint8(0)
		if i < 10 {
			wantRev = 1
		} else if i < 20 {
			wantSusp = 1
		}
		if value(t, lists, refs[0]) != wantRev || value(t, lists, refs[1]) != wantSusp {
			t.Fatalf("credential %d of a: revocation %d suspension %d", i, value(t, lists, refs[0]), value(t, lists, refs[1]))
		}
	}
	for i, id := range fromB {
		refs, _ := b.shared.Refs(ctx, id)
		if want := uint8(map[bool]int{true: 1}[i < 10]); value(t, lists, refs[0]) != want {
			t.Fatalf("credential %d of b: revocation %d, want %d", i, value(t, lists, refs[0]), want)
		}
	}
}

func slices(s []string) []string { return append([]string(nil), s...) }

// TestSharedConcurrentChanges: two instances change the same entries at
// the same time; the chain orders them, every instance applies that order
// (a revocation stays final), and both serve the same lists.
func TestSharedConcurrentChanges(t *testing.T) {
	l := openLedger(t)
	a := startInstance(t, l, t.TempDir(), "a")
	b := startInstance(t, l, t.TempDir(), "b")
	var ids []string
	for range 5 {
		ids = append(ids, a.issue(t, "o"))
	}
	var wg sync.WaitGroup
	for _, in := range []*instance{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(len(in.name)), 1))
			for range 100 {
				id := ids[r.IntN(len(ids))]
				in.set(t, id, status.PurposeSuspension, uint8(r.IntN(2)))
				in.set(t, id, status.PurposeToken, uint8(r.IntN(2))*status.TokenSuspended)
			}
		}()
	}
	wg.Wait()
	// Revoke the first token entry through a, then reinstate it through
	// b: the revocation is final on both.
	a.set(t, ids[0], status.PurposeToken, status.TokenInvalid)
	converged(t, l, a, b)
	b.set(t, ids[0], status.PurposeToken, status.TokenValid)
	lists := converged(t, l, a, b)
	refs, _ := a.shared.Refs(context.Background(), ids[0])
	if v := value(t, lists, refs[2]); v != status.TokenInvalid {
		t.Fatalf("revoked token entry is %d after a later reinstatement", v)
	}
}

// lateAnchor returns from Anchor only once the changes are on the chain
// and the instance has had time to see them there: a caller descheduled
// between the outbox's write and its own next step.
// slowBatch is a ledger whose next AnchorBatch, once armed, is slow: it
// waits (an endorsement that takes its time, a retry after a timeout)
// until release is closed (or the call is stopped), then goes through.
type slowBatch struct {
	ledger.Ledger
	armed   atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func (s *slowBatch) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	if fn == "AnchorBatch" && s.armed.CompareAndSwap(true, false) {
		close(s.held)
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	return s.Ledger.Submit(ctx, fn, args...)
}

// TestSharedSuspensionSurvivesSlowBatch: a client suspends a credential,
// reinstates it, and suspends it again, each request answered in turn by
// one instance. The reinstatement's batch is slow to commit; the second
// suspension's batch must not commit before it (every instance applies
// the chain's batches in commit order, the later one winning), or the
// credential would be served as not suspended though the last change the
// issuer made, and was told was accepted, suspends it.
func TestSharedSuspensionSurvivesSlowBatch(t *testing.T) {
	l := openLedger(t)
	sl := &slowBatch{Ledger: l, held: make(chan struct{}), release: make(chan struct{})}
	a := startInstance(t, sl, t.TempDir(), "a")
	id := a.issue(t, "client-a")
	a.set(t, id, status.PurposeSuspension, 1)
	refs, err := a.shared.Refs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got := value(t, converged(t, l, a), refs[1]); got != 1 {
		t.Fatalf("suspension bit %d after the first suspension", got)
	}

	sl.armed.Store(true)
	a.set(t, id, status.PurposeSuspension, 0) // reinstate: its batch is slow
	<-sl.held
	a.set(t, id, status.PurposeSuspension, 1) // suspend again
	// Let the second suspension's batch commit while the first is held.
	time.Sleep(300 * time.Millisecond)
	close(sl.release)

	lists := converged(t, l, a)
	if got := value(t, lists, refs[1]); got != 1 {
		t.Fatalf("every instance serves the credential as not suspended (suspension bit %d) after the issuer's last change suspended it", got)
	}
}

type lateAnchor struct{ *ledger.Outbox }

func (a lateAnchor) Anchor(ctx context.Context, changes []chaincode.StatusChange) error {
	if err := a.Outbox.Anchor(ctx, changes); err != nil {
		return err
	}
	if err := a.Flush(ctx); err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond) // ten of the instance's follow intervals
	return nil
}

// TestSharedChangeSeenBeforeAnchorReturns: a change whose batch reaches
// the chain and the instance before SetMany has recorded it still leaves
// no overlay entry behind, so a later change of the entry by another
// instance shows on both.
func TestSharedChangeSeenBeforeAnchorReturns(t *testing.T) {
	l := openLedger(t)
	a := startInstanceAnchor(t, l, t.TempDir(), "a", func(o *ledger.Outbox) statuslist.Anchorer { return lateAnchor{o} }, nil)
	b := startInstance(t, l, t.TempDir(), "b")
	id := a.issue(t, "o")
	a.set(t, id, status.PurposeSuspension, 1)
	b.set(t, id, status.PurposeSuspension, 0)
	converged(t, l, a, b)
	refs, _ := a.shared.Refs(context.Background(), id)
	for _, r := range refs {
		for _, in := range []*instance{a, b} {
			if _, v, err := in.shared.Get(context.Background(), r.ListID, r.Index); r.Purpose == status.PurposeSuspension && (err != nil || v != 0) {
				t.Fatalf("%s: suspension entry is %d (%v) after b reinstated it", in.name, v, err)
			}
		}
	}
}

// TestSharedCredentialIDs: an ID names its entries and owner; a changed
// ID, another region key or another owner is refused.
// TestSharedListMemory: a shared store's list memory is its own store's
// and the lists it materializes from the chain; credentials issued with
// minted IDs add nothing to it beyond their lists (their IDs carry the
// entries: no index entry, no index file).
func TestSharedListMemory(t *testing.T) {
	a := startInstance(t, openLedger(t), t.TempDir(), "a")
	for range 200 {
		a.issue(t, "client-a")
	}
	const n = status.MinEntries
	own := a.own.ListMemory()
	if want := (statuslist.ListMemory{Lists: 3, Bytes: 3*n/8 + 2*n/8 + n*statuslist.TokenBits/8}); own != want {
		t.Fatalf("own store: %+v, want %+v", own, want)
	}
	if m, want := a.shared.ListMemory(), (statuslist.ListMemory{Lists: 6, Bytes: own.Bytes + 2*n/8 + n*statuslist.TokenBits/8}); m != want {
		t.Fatalf("shared: %+v, want %+v (own %+v)", m, want, own)
	}
	if _, err := os.Stat(filepath.Join(a.ownDir, "index.log")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("200 credentials with minted IDs wrote an index: %v", err)
	}
}

func TestSharedCredentialIDs(t *testing.T) {
	ids, _ := statuslist.NewCredentialIDs(testIDKey)
	other, _ := statuslist.NewCredentialIDs(bytes.Repeat([]byte{8}, 32))
	refs := []status.Ref{{ListID: "0123456710abcdef", Index: 131071, Purpose: status.PurposeRevocation}, {ListID: "89abcdef20abcdef", Index: 0, Purpose: status.PurposeSuspension}}
	id, err := ids.Make(1, "owner-tag", refs)
	if err != nil || !strings.HasPrefix(id, statuslist.CredentialIDPrefix) {
		t.Fatal(id, err)
	}
	got, owner, err := ids.Read(id)
	if err != nil || len(got) != 2 || got[0] != refs[0] || got[1] != refs[1] || !ids.Owned(owner, "owner-tag") || ids.Owned(owner, "someone-else") {
		t.Fatalf("%+v %v", got, err)
	}
	if id2, _ := ids.Make(0, "owner-tag", refs); id2 == id {
		t.Fatal("two members of a group share an ID")
	}
	if ids.Fingerprint() == other.Fingerprint() || len(ids.Fingerprint()) != 8 {
		t.Fatal("fingerprints do not tell two keys apart")
	}
	if _, _, err := other.Read(id); err == nil {
		t.Fatal("an ID of another region key was read")
	}
	for i := len(statuslist.CredentialIDPrefix); i < len(id); i++ {
		b := []byte(id)
		b[i] ^= 1
		if _, _, err := ids.Read(string(b)); err == nil {
			t.Fatalf("a changed ID (character %d) was read", i)
		}
	}
	for _, bad := range []string{"", "urn:uuid:1", statuslist.CredentialIDPrefix, statuslist.CredentialIDPrefix + "!!", statuslist.CredentialIDPrefix + strings.Repeat("A", 600)} {
		if _, _, err := ids.Read(bad); err == nil {
			t.Fatalf("%q was read", bad)
		}
	}
}

// TestSharedCrash: an instance is SIGKILLed while it changes entries;
// every change it acknowledged reaches the chain after it restarts (its
// outbox survives), and a fresh instance materializes them all.
func TestSharedCrash(t *testing.T) {
	if testenv.IsChild() {
		t.Skip("a child does not start children")
	}
	dir := t.TempDir()
	type ack struct {
		list  string
		index int
	}
	var acked []ack
	testenv.KillChild(t, "TestSharedCrashChild", []string{"SHARED_DIR=" + dir}, func(line string) bool {
		var a ack
		if _, err := fmt.Sscanf(line, "%s %d", &a.list, &a.index); err != nil {
			t.Fatalf("bad line %q", line)
		}
		acked = append(acked, a)
		return len(acked) < 300
	})
	if len(acked) < 300 {
		t.Fatalf("the child acknowledged %d changes", len(acked))
	}
	l, err := embedded.Open(filepath.Join(dir, "ledger.db"), embedded.Options{MSPID: chaincode.RegionMSP(ledgertest.RegionA)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	restarted := startInstance(t, l, filepath.Join(dir, "a"), "a")
	fresh := startInstance(t, l, t.TempDir(), "c")
	lists := converged(t, l, restarted, fresh)
	for _, a := range acked {
		if v := value(t, lists, status.Ref{ListID: a.list, Index: a.index}); v != 1 {
			t.Fatalf("acknowledged change %s/%d lost", a.list, a.index)
		}
	}
	t.Logf("%d acknowledged changes, all on the chain and in both instances' lists", len(acked))
}

// TestSharedCrashChild is the instance TestSharedCrash kills: it revokes
// entries from 8 goroutines and prints each change once SetMany returned.
func TestSharedCrashChild(t *testing.T) {
	dir := os.Getenv("SHARED_DIR")
	if !testenv.IsChild() || dir == "" {
		t.Skip("run by TestSharedCrash")
	}
	a, b := embeddedtest.Open(t, filepath.Join(dir, "ledger.db"))
	ledgertest.EnsureConsortium(context.Background(), t, a, b)
	in := startInstance(t, a, filepath.Join(dir, "a"), "a")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				id := in.issue(t, "o")
				in.set(t, id, status.PurposeRevocation, 1)
				refs, _ := in.shared.Refs(context.Background(), id)
				mu.Lock()
				fmt.Printf("acked %s %d\n", refs[0].ListID, refs[0].Index)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestSharedRestoreAfterRestart: changes acknowledged while the chain
// could not take them are read back by the restarted instance (from its
// outbox), before they reach the chain.
func TestSharedRestoreAfterRestart(t *testing.T) {
	l := openLedger(t)
	dir := t.TempDir()
	open := func() (*statuslist.Shared, *ledger.Outbox) {
		in := openInstance(t, l, l, dir, filepath.Join(t.TempDir(), "bindings.db"), "a", nil, nil)
		return in.shared, in.ob
	}
	ctx := context.Background()
	sh, ob := open() // the outbox does not run: nothing reaches the chain
	list, idx, err := sh.Allocate(ctx, status.PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Set(ctx, list, idx, 1); err != nil {
		t.Fatal(err)
	}
	ob.Close()
	sh, ob = open()
	defer ob.Close()
	if _, v, _ := sh.Get(ctx, list, idx); v != 0 {
		t.Fatal("the restarted instance read the change before restoring it")
	}
	unsent, err := ob.Unsent()
	if err != nil || len(unsent) != 1 {
		t.Fatalf("unsent %v %v", unsent, err)
	}
	sh.Restore(unsent)
	if _, v, err := sh.Get(ctx, list, idx); err != nil || v != 1 {
		t.Fatalf("the acknowledged change is not read after a restart: %d %v", v, err)
	}
}

// TestSharedIssuers: two issuers (one per instance, one keystore) over
// shared status: a credential issued through one is revoked through the
// other by its owner only, the revocation is final at once where it was
// made, and both publish the same lists.
func TestSharedIssuers(t *testing.T) {
	l := openLedger(t)
	a := startInstance(t, l, t.TempDir(), "a")
	b := startInstance(t, l, t.TempDir(), "b")
	ks, err := keystore.Open(filepath.Join(t.TempDir(), "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const base = "https://node.example"
	newIssuer := func(in *instance) *issuer.Issuer {
		is, err := issuer.New(issuer.Config{BaseURL: base, Keys: ks, Status: in.shared})
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	isA, isB := newIssuer(a), newIssuer(b)
	ctx := context.Background()
	cred := func() map[string]any {
		return map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"},
			"credentialSubject": map[string]any{"id": "did:example:holder"}}
	}
	jwtCred, err := isA.Issue(ctx, cred(), issuer.IssueOptions{Client: "rp-1"})
	if err != nil {
		t.Fatal(err)
	}
	sdCred, err := isB.Issue(ctx, cred(), issuer.IssueOptions{Client: "rp-1", Format: issuer.FormatSDJWT})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(jwtCred.ID, statuslist.CredentialIDPrefix) || !strings.Contains(jwtCred.Token, ".") {
		t.Fatalf("issued %q", jwtCred.ID)
	}
	if err := isB.SetStatusAs(ctx, jwtCred.ID, issuer.ActionRevoke, issuer.Actor{ClientID: "rp-2"}); !errors.Is(err, issuer.ErrNotOwner) {
		t.Fatalf("another client revoked: %v", err)
	}
	if err := isB.SetStatusAs(ctx, jwtCred.ID, issuer.ActionRevoke, issuer.Actor{ClientID: "rp-1"}); err != nil {
		t.Fatal(err)
	}
	if err := isB.SetStatusAs(ctx, jwtCred.ID, issuer.ActionReinstate, issuer.Actor{ClientID: "rp-1"}); !errors.Is(err, issuer.ErrStatusConflict) {
		t.Fatalf("reinstated a revoked credential: %v", err)
	}
	if err := isA.SetStatusAs(ctx, sdCred.ID, issuer.ActionSuspend, issuer.Actor{ClientID: "rp-1"}); err != nil {
		t.Fatal(err)
	}
	// An id the request chose: issued on a, revoked on b by its owner
	// only, and not issued again on either.
	chosen := cred()
	chosen["id"] = "urn:example:chosen-1"
	chosenCred, err := isA.Issue(ctx, chosen, issuer.IssueOptions{Client: "rp-1"})
	if err != nil || chosenCred.ID != "urn:example:chosen-1" {
		t.Fatalf("chosen id: %q %v", chosenCred.ID, err)
	}
	if err := isB.SetStatusAs(ctx, chosenCred.ID, issuer.ActionRevoke, issuer.Actor{ClientID: "rp-2"}); !errors.Is(err, issuer.ErrNotOwner) {
		t.Fatalf("another client revoked a chosen id: %v", err)
	}
	if err := isB.SetStatusAs(ctx, chosenCred.ID, issuer.ActionRevoke, issuer.Actor{ClientID: "rp-1"}); err != nil {
		t.Fatal(err)
	}
	for _, is := range []*issuer.Issuer{isA, isB} {
		again := cred()
		again["id"] = "urn:example:chosen-1"
		if _, err := is.Issue(ctx, again, issuer.IssueOptions{Client: "rp-2"}); !errors.Is(err, issuer.ErrIDTaken) {
			t.Fatalf("a chosen id issued twice: %v", err)
		}
	}
	if err := isA.SetStatusAs(ctx, "urn:uuid:0c6a2f0e-0000-4000-8000-000000000000", issuer.ActionRevoke, issuer.Actor{Admin: true}); !errors.Is(err, vc.ErrNotFound) {
		t.Fatalf("unknown ID: %v", err)
	}
	lists := converged(t, l, a, b)
	if v := value(t, lists, jwtCred.Status[0]); v != 1 {
		t.Fatalf("revocation entry %d", v)
	}
	if v := value(t, lists, chosenCred.Status[0]); v != 1 {
		t.Fatalf("chosen id's revocation entry %d", v)
	}
	if v := value(t, lists, sdCred.Status[0]); v != status.TokenSuspended {
		t.Fatalf("token entry %d", v)
	}
	docA, _, err := isA.StatusList(ctx, jwtCred.Status[0].ListID)
	if err != nil {
		t.Fatal(err)
	}
	docB, _, err := isB.StatusList(ctx, jwtCred.Status[0].ListID)
	if err != nil {
		t.Fatal(err)
	}
	subA, subB := docA["credentialSubject"].(map[string]any), docB["credentialSubject"].(map[string]any)
	if subA["encodedList"] != subB["encodedList"] || subA["listVersion"] != subB["listVersion"] || docA["validFrom"] != docB["validFrom"] {
		t.Fatalf("the instances publish different lists: %v / %v", subA["listVersion"], subB["listVersion"])
	}
}

// BenchmarkSharedSetStatus: Issuer.SetStatusAs (owner check from the ID,
// current value, SetMany into the outbox with its fsync) over shared
// status on the embedded ledger, from parallel callers: without change
// pending markers (one instance) and with them in the in-memory store and
// in a real Redis.
func BenchmarkSharedSetStatus(b *testing.B) {
	stores := sharedStores()
	for _, name := range []string{"none", "memory", "redis"} {
		b.Run("markers="+name, func(b *testing.B) {
			var opt func(*statuslist.SharedOptions)
			calls := &countingMarkers{}
			if name != "none" {
				calls.Markers = stores[name](b)
				opt = func(o *statuslist.SharedOptions) { o.Markers = calls }
			}
			in := benchmarkSetStatus(b, opt)
			// The markers are cleared in the background once committed.
			b.StopTimer()
			if err := in.ob.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			for n := int64(-1); n != calls.calls(); time.Sleep(200 * time.Millisecond) {
				n = calls.calls()
			}
			b.ReportMetric(float64(calls.calls())/float64(b.N), "store-calls/op")
		})
	}
}

// countingMarkers counts the calls of the store Shared makes: claims by
// changes, refreshes (RunMarkers: a claim that frees no record) and
// clears apart, so that a test counting a change's calls does not count
// a refresh whose tick fell within it (one every ttl/3, whenever a loaded
// machine makes the change take that long).
type countingMarkers struct {
	statuslist.Markers
	claims, refreshes, clears atomic.Int64
}

func (c *countingMarkers) Claim(ctx context.Context, value, free []byte, ttl time.Duration, keys ...string) ([]store.Claimed, error) {
	if free == nil {
		c.refreshes.Add(1)
	} else {
		c.claims.Add(1)
	}
	return c.Markers.Claim(ctx, value, free, ttl, keys...)
}

func (c *countingMarkers) CompareAndReplace(ctx context.Context, old, value []byte, ttl time.Duration, keys ...string) (int, error) {
	c.clears.Add(1)
	return c.Markers.CompareAndReplace(ctx, old, value, ttl, keys...)
}

func (c *countingMarkers) CompareAndDelete(ctx context.Context, old []byte, keys ...string) (int, error) {
	c.clears.Add(1)
	return c.Markers.CompareAndDelete(ctx, old, keys...)
}

func (c *countingMarkers) calls() int64 {
	return c.claims.Load() + c.refreshes.Load() + c.clears.Load()
}

func benchmarkSetStatus(b *testing.B, opt func(*statuslist.SharedOptions)) *instance {
	l := openLedger(b)
	in := startInstanceAnchor(b, l, b.TempDir(), "a", nil, opt)
	ks, err := keystore.Open(filepath.Join(b.TempDir(), "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	is, err := issuer.New(issuer.Config{BaseURL: "https://node.example", Keys: ks, Status: in.shared})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ids := make([]string, 256)
	for i := range ids {
		c, err := is.Issue(ctx, map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"},
			"credentialSubject": map[string]any{"id": "did:example:holder"}}, issuer.IssueOptions{Client: "rp"})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = c.ID
	}
	b.SetParallelism(32)
	b.ResetTimer()
	var n sync.Mutex
	k := 0
	b.RunParallel(func(pb *testing.PB) {
		n.Lock()
		id := ids[k%len(ids)]
		k++
		n.Unlock()
		action := issuer.ActionSuspend
		for pb.Next() {
			if err := is.SetStatusAs(ctx, id, action, issuer.Actor{ClientID: "rp"}); err != nil {
				b.Fatal(err)
			}
			if action == issuer.ActionSuspend {
				action = issuer.ActionReinstate
			} else {
				action = issuer.ActionSuspend
			}
		}
	})
	return in
}

// BenchmarkSharedIssue: Issuer.Issue (vc+jwt, SM2, revocation and
// suspension entries) over shared status on the embedded ledger, from
// parallel callers: with an ID the node mints (nothing stored) and with
// an ID the request chose (bound on the ledger, grouped by the Binder,
// answered after the commit).
func BenchmarkSharedIssue(b *testing.B) {
	for _, mode := range []string{"minted", "chosen"} {
		b.Run(mode, func(b *testing.B) {
			l := openLedger(b)
			in := startInstance(b, l, b.TempDir(), "a")
			ks, err := keystore.Open(filepath.Join(b.TempDir(), "keystore.json"), make([]byte, 16), keystore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			is, err := issuer.New(issuer.Config{BaseURL: "https://node.example", Keys: ks, Status: in.shared})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var seq atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"},
						"credentialSubject": map[string]any{"id": "did:example:holder"}}
					if mode == "chosen" {
						c["id"] = fmt.Sprintf("urn:example:bench:%d", seq.Add(1))
					}
					if _, err := is.Issue(ctx, c, issuer.IssueOptions{Client: "rp"}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// TestSharedEnrollmentAnyInstance: an enrollment's groups (identity and
// binding credential per copy, as package enrollment issues them) issued
// on instance a get minted credential IDs and an enrollment ID carrying
// every copy's entries; instance b suspends and then revokes the whole
// enrollment (and another client cannot), both instances publish it, and
// nothing is written to a's index (memory does not grow per enrollment).
func TestSharedEnrollmentAnyInstance(t *testing.T) {
	l := openLedger(t)
	dirA := t.TempDir()
	a := startInstance(t, l, dirA, "a")
	b := startInstance(t, l, t.TempDir(), "b")
	ks, err := keystore.Open(filepath.Join(t.TempDir(), "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	newIssuer := func(in *instance) *issuer.Issuer {
		is, err := issuer.New(issuer.Config{BaseURL: "https://node.example", Keys: ks, Status: in.shared})
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	isA, isB := newIssuer(a), newIssuer(b)
	ctx := context.Background()
	cred := func() map[string]any {
		return map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"},
			"credentialSubject": map[string]any{"id": "did:example:holder"}}
	}
	var copies [][]status.Ref
	var all []status.Ref
	var issuedIDs []string
	for range 3 {
		issued, err := isA.IssueGroup(ctx, []issuer.GroupItem{
			{Credential: cred(), Options: issuer.IssueOptions{Format: issuer.FormatSDJWT, Client: "rp-1"}},
			{Credential: cred(), Options: issuer.IssueOptions{Format: issuer.FormatVCJWT, Client: "rp-1"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		g := append(append([]status.Ref(nil), issued[0].Status...), issued[1].Status...)
		issuedIDs = append(issuedIDs, issued[0].ID, issued[1].ID)
		copies, all = append(copies, g), append(all, g...)
	}
	enr, err := a.shared.MintEnrollmentID(issuer.OwnerTag("rp-1"), copies)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enr, statuslist.EnrollmentIDPrefix) || len(enr) > statuslist.MaxEnrollmentID {
		t.Fatalf("enrollment ID %q", enr)
	}
	change := func(in *instance, is *issuer.Issuer, action, client string) error {
		ids, err := in.shared.EnrollmentCredentials(enr)
		if err != nil {
			return err
		}
		var flat []string
		for _, g := range ids {
			flat = append(flat, g...)
		}
		if fmt.Sprint(flat) != fmt.Sprint(issuedIDs) {
			t.Fatalf("credential IDs read back %v, issued %v", flat, issuedIDs)
		}
		for _, g := range ids {
			if err := is.SetStatusAs(ctx, g[0], action, issuer.Actor{ClientID: client}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := change(b, isB, issuer.ActionSuspend, "rp-2"); !errors.Is(err, issuer.ErrNotOwner) {
		t.Fatalf("another client suspended the enrollment: %v", err)
	}
	if err := change(b, isB, issuer.ActionSuspend, "rp-1"); err != nil {
		t.Fatal(err)
	}
	lists := converged(t, l, a, b)
	for _, r := range all {
		want := map[string]uint8{status.PurposeRevocation: 0, status.PurposeSuspension: 1, status.PurposeToken: status.TokenSuspended}[r.Purpose]
		if v := value(t, lists, r); v != want {
			t.Fatalf("after suspension: %s entry %d, want %d", r.Purpose, v, want)
		}
	}
	if err := change(b, isB, issuer.ActionRevoke, "rp-1"); err != nil {
		t.Fatal(err)
	}
	lists = converged(t, l, a, b)
	for _, r := range all {
		if r.Purpose == status.PurposeSuspension {
			continue
		}
		want := map[string]uint8{status.PurposeRevocation: 1, status.PurposeToken: status.TokenInvalid}[r.Purpose]
		if v := value(t, lists, r); v != want {
			t.Fatalf("after revocation: %s entry %d, want %d", r.Purpose, v, want)
		}
	}
	if err := change(a, isA, issuer.ActionReinstate, "rp-1"); !errors.Is(err, issuer.ErrStatusConflict) {
		t.Fatalf("reinstated a revoked enrollment: %v", err)
	}
	tampered := enr[:len(enr)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(enr, "AA")]
	if _, err := b.shared.EnrollmentCredentials(tampered); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("tampered enrollment ID read: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dirA, "status", "index.log")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the status index was written: %v", err)
	}
}

// TestEnrollmentIDBound: 16 copies of 3 entries, spread over 6 lists (a
// list of each purpose filling up in mid-enrollment) at the largest
// indices, fit MaxEnrollmentID and read back; more copies, uneven copies
// and a credential ID read as an enrollment ID are refused.
func TestEnrollmentIDBound(t *testing.T) {
	ids, err := statuslist.NewCredentialIDs(testIDKey)
	if err != nil {
		t.Fatal(err)
	}
	list := func(p string, n byte) string {
		id, _ := status.NewListID([4]byte{n, 1, 2, 3}, p, "instance-a")
		return id
	}
	var copies [][]status.Ref
	for i := range 16 {
		half := byte(i / 8)
		copies = append(copies, []status.Ref{
			{ListID: list(status.PurposeToken, half), Index: status.MaxRemoteEntries - 1 - i, Purpose: status.PurposeToken},
			{ListID: list(status.PurposeRevocation, half), Index: status.MaxRemoteEntries - 1 - i, Purpose: status.PurposeRevocation},
			{ListID: list(status.PurposeSuspension, half), Index: status.MaxRemoteEntries - 1 - i, Purpose: status.PurposeSuspension},
		})
	}
	id, err := ids.MakeEnrollment("owner", copies)
	if err != nil || len(id) > statuslist.MaxEnrollmentID {
		t.Fatalf("16 copies: %d characters, %v", len(id), err)
	}
	groups, err := ids.EnrollmentCredentials(id)
	if err != nil || len(groups) != 16 || len(groups[15]) != 2 {
		t.Fatalf("read back %d copies: %v", len(groups), err)
	}
	if want, _ := ids.Make(1, "owner", copies[15]); groups[15][1] != want {
		t.Fatalf("copy 15's binding credential ID %s, want %s", groups[15][1], want)
	}
	if _, err := ids.MakeEnrollment("owner", append(copies, copies[0])); err == nil {
		t.Fatal("17 copies minted")
	}
	// Copies of different shapes (a phone's copy and a printed code's):
	// version 3, each copy read back with its own entries.
	uneven, err := ids.MakeEnrollment("owner", append(append([][]status.Ref(nil), copies[:15]...), copies[15][:1]))
	if err != nil || len(uneven) > statuslist.MaxEnrollmentID {
		t.Fatalf("15 copies of 3 entries and one of 1: %d characters, %v", len(uneven), err)
	}
	groups, err = ids.EnrollmentCredentials(uneven)
	if err != nil || len(groups) != 16 || len(groups[14]) != 2 || len(groups[15]) != 1 {
		t.Fatalf("uneven copies read back: %v, %v", groups, err)
	}
	if want, _ := ids.Make(0, "owner", copies[15][:1]); groups[15][0] != want {
		t.Fatalf("the one-entry copy's credential ID %s, want %s", groups[15][0], want)
	}
	if want, _ := ids.Make(1, "owner", copies[14]); groups[14][1] != want {
		t.Fatalf("copy 14's binding credential ID %s, want %s", groups[14][1], want)
	}
	if _, err := ids.MakeEnrollment("owner", [][]status.Ref{copies[0], {}}); err == nil {
		t.Fatal("a copy without entries minted")
	}
	if _, err := ids.MakeEnrollment("owner", [][]status.Ref{copies[0], append(append([]status.Ref(nil), copies[1]...), copies[1][0])}); err == nil {
		t.Fatal("a copy of 4 entries minted")
	}
	cid, _ := ids.Make(0, "owner", copies[0])
	if _, err := ids.EnrollmentCredentials(strings.Replace(cid, statuslist.CredentialIDPrefix, statuslist.EnrollmentIDPrefix, 1)); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("a credential ID read as an enrollment ID: %v", err)
	}
	if _, _, err := ids.Read(strings.Replace(id, statuslist.EnrollmentIDPrefix, statuslist.CredentialIDPrefix, 1)); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("an enrollment ID read as a credential ID: %v", err)
	}
}

// TestSharedChosenIDTwoInstances: an ID a request chose, issued on
// instance a, is bound on the chain (docs/credentials.md, "IDs a request
// chose"): instance b finds its entries and owner and revokes it, and
// every instance serves the revocation; an unknown ID is not found on
// either; the same ID issued again on b, or on both at once, is bound
// once (status.ErrBound for the loser); an instance started afterwards
// has every binding in its own index from the chain.
func TestSharedChosenIDTwoInstances(t *testing.T) {
	l := openLedger(t)
	a := startInstance(t, l, t.TempDir(), "a")
	b := startInstance(t, l, t.TempDir(), "b")
	ctx := context.Background()
	alloc := func(in *instance) []status.Ref {
		t.Helper()
		lid, idx, err := in.shared.Allocate(ctx, status.PurposeRevocation)
		if err != nil {
			t.Fatal(err)
		}
		return []status.Ref{{ListID: lid, Index: idx, Purpose: status.PurposeRevocation}}
	}
	chosen := "urn:uuid:8c1f0a52-7f43-4a0e-9a51-0c7b6f8e2d11"
	refs := alloc(a)
	if err := a.shared.BindOwner(ctx, chosen, "client-a", refs); err != nil {
		t.Fatal(err)
	}
	// Committed when BindOwner returned: b finds it at once (its index or
	// the chain).
	if got, err := b.shared.Refs(ctx, chosen); err != nil || len(got) != 1 || got[0] != refs[0] {
		t.Fatalf("b reads a's chosen ID: %v %v", got, err)
	}
	if owned, err := b.shared.OwnedBy(ctx, chosen, "client-a"); err != nil || !owned {
		t.Fatalf("b: owned by client-a %v, %v", owned, err)
	}
	if owned, err := b.shared.OwnedBy(ctx, chosen, "client-b"); err != nil || owned {
		t.Fatalf("b: owned by client-b %v, %v", owned, err)
	}
	for _, in := range []*instance{a, b} {
		if _, err := in.shared.Refs(ctx, "urn:uuid:00000000-0000-4000-8000-000000000000"); !errors.Is(err, status.ErrNotFound) {
			t.Fatalf("%s: an unknown chosen ID: %v", in.name, err)
		}
	}
	// The chain has the HMAC of the ID, never the ID.
	for _, blk := range ledgerBlocks(t, l) {
		if strings.Contains(blk, "8c1f0a52") {
			t.Fatal("the chosen ID is on the chain in clear")
		}
	}

	b.set(t, chosen, status.PurposeRevocation, 1)
	lists := converged(t, l, a, b)
	if value(t, lists, refs[0]) != 1 {
		t.Fatal("b's revocation of a's chosen ID did not reach every instance's lists")
	}

	// The same ID again, on b: refused, and nothing changes.
	if err := b.shared.BindOwner(ctx, chosen, "client-b", alloc(b)); !errors.Is(err, status.ErrBound) {
		t.Fatalf("a second binding on b: %v", err)
	}
	if got, _ := a.shared.Refs(ctx, chosen); len(got) != 1 || got[0] != refs[0] {
		t.Fatalf("the first binding changed: %v", got)
	}
	// One ID on both at once: exactly one wins.
	for i := range 5 {
		id := fmt.Sprintf("race-%d", i)
		ra, rb := alloc(a), alloc(b)
		errs := make(chan error, 2)
		go func() { errs <- a.shared.BindOwner(ctx, id, "client-a", ra) }()
		go func() { errs <- b.shared.BindOwner(ctx, id, "client-b", rb) }()
		e1, e2 := <-errs, <-errs
		if (e1 == nil) == (e2 == nil) || !errors.Is(errors.Join(e1, e2), status.ErrBound) {
			t.Fatalf("%s on two instances: %v, %v", id, e1, e2)
		}
		ga, _ := a.shared.Refs(ctx, id)
		gb, _ := b.shared.Refs(ctx, id)
		if len(ga) != 1 || len(gb) != 1 || ga[0] != gb[0] || (ga[0] != ra[0] && ga[0] != rb[0]) {
			t.Fatalf("%s: a reads %v, b reads %v", id, ga, gb)
		}
	}

	// A new instance builds its index from the chain: 6 bindings.
	c := startInstance(t, l, t.TempDir(), "c")
	deadline := time.Now().Add(10 * time.Second)
	for c.chosen.Index.Len() != 6 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := c.chosen.Index.Len(); n != 6 {
		t.Fatalf("c's index holds %d bindings, want 6", n)
	}
}

// TestSharedChosenIDLedgerDown: while the ledger cannot answer, an ID a
// request chose that the instance's index does not hold is neither found
// nor reported missing (status.ErrUnconfirmed, retryable), and issuing
// one is not acknowledged (status.ErrUnconfirmed).
func TestSharedChosenIDLedgerDown(t *testing.T) {
	l := &downable{Ledger: openLedger(t)}
	a := startInstance(t, l, t.TempDir(), "a")
	ctx := context.Background()
	lid, idx, err := a.shared.Allocate(ctx, status.PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	refs := []status.Ref{{ListID: lid, Index: idx, Purpose: status.PurposeRevocation}}
	if err := a.shared.BindOwner(ctx, "bound-before", "client-a", refs); err != nil {
		t.Fatal(err)
	}
	l.down.Store(true)
	if got, err := a.shared.Refs(ctx, "bound-before"); err != nil || len(got) != 1 {
		t.Fatalf("a binding in the index: %v %v", got, err)
	}
	if _, err := a.shared.Refs(ctx, "never-bound"); !errors.Is(err, status.ErrUnconfirmed) {
		t.Fatalf("an unknown ID with the ledger down: %v", err)
	}
	lid, idx, err = a.shared.Allocate(ctx, status.PurposeRevocation)
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := a.shared.BindOwner(bctx, "new-id", "client-a", []status.Ref{{ListID: lid, Index: idx, Purpose: status.PurposeRevocation}}); !errors.Is(err, status.ErrUnconfirmed) {
		t.Fatalf("binding with the ledger down: %v", err)
	}
	// An entry this instance did not allocate is refused before the chain.
	if err := a.shared.BindOwner(ctx, "foreign", "client-a", []status.Ref{{ListID: lid, Index: idx + 1, Purpose: status.PurposeRevocation}}); !errors.Is(err, status.ErrIndex) {
		t.Fatalf("binding an entry not allocated: %v", err)
	}
}

// downable is a ledger that fails every transaction and query while down
// (a peer the instance cannot reach).
type downable struct {
	ledger.Ledger
	down atomic.Bool
}

func (d *downable) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	if d.down.Load() {
		return nil, 0, ledger.ErrUnavailable
	}
	return d.Ledger.Submit(ctx, fn, args...)
}

func (d *downable) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	if d.down.Load() {
		return nil, ledger.ErrUnavailable
	}
	return d.Ledger.Evaluate(ctx, fn, args...)
}

// ledgerBlocks returns every block of the embedded ledger as JSON.
func ledgerBlocks(t *testing.T, l *embedded.Ledger) []string {
	t.Helper()
	var out []string
	if err := l.Blocks(0, func(b embedded.Block) error {
		raw, err := json.Marshal(b)
		out = append(out, string(raw))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzEnrollmentCredentials reads made-up enrollment IDs: an error or
// groups of 1 to 2 credential IDs, never a panic; a valid ID (the seeds)
// reads back the groups it was made with.
func FuzzEnrollmentCredentials(f *testing.F) {
	ids, err := statuslist.NewCredentialIDs(testIDKey)
	if err != nil {
		f.Fatal(err)
	}
	list, _ := status.NewListID([4]byte{1, 2, 3, 4}, status.PurposeToken, "instance-a")
	rev, _ := status.NewListID([4]byte{1, 2, 3, 4}, status.PurposeRevocation, "instance-a")
	phone := []status.Ref{{ListID: list, Index: 7, Purpose: status.PurposeToken}, {ListID: rev, Index: 9, Purpose: status.PurposeRevocation}}
	card := []status.Ref{{ListID: list, Index: 8, Purpose: status.PurposeToken}}
	for _, copies := range [][][]status.Ref{{phone}, {phone, phone}, {phone, card}, {card, phone, card}} {
		id, err := ids.MakeEnrollment("owner", copies)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(id)
	}
	f.Add(statuslist.EnrollmentIDPrefix + "AwI")
	f.Fuzz(func(t *testing.T, id string) {
		groups, err := ids.EnrollmentCredentials(id)
		if err != nil {
			if !errors.Is(err, status.ErrNotFound) {
				t.Fatalf("error %v is not ErrNotFound", err)
			}
			return
		}
		for _, g := range groups {
			if len(g) == 0 || len(g) > 3 {
				t.Fatalf("a group of %d credentials", len(g))
			}
		}
	})
}

// TestSharedSetRefusals: SetManyIf (and so SetMany) refuses, before
// anything is marked or anchored, an index below 0 or at the lists'
// size (ErrIndex) and a value past the list's largest (ErrValue: 2 in
// a revocation list, past TokenSuspended in a token list); nothing
// changes.
func TestSharedSetRefusals(t *testing.T) {
	l := openLedger(t)
	a := startInstance(t, l, t.TempDir(), "a")
	ctx := context.Background()
	refs, err := a.shared.Refs(ctx, a.issue(t, "client-a"))
	if err != nil {
		t.Fatal(err)
	}
	var rev, tok status.Ref
	for _, r := range refs {
		switch r.Purpose {
		case status.PurposeRevocation:
			rev = r
		case status.PurposeToken:
			tok = r
		}
	}
	for _, c := range []struct {
		e    status.Entry
		want error
	}{
		{status.Entry{ListID: rev.ListID, Index: -1, Value: 1}, status.ErrIndex},
		{status.Entry{ListID: rev.ListID, Index: status.MinEntries, Value: 1}, status.ErrIndex},
		{status.Entry{ListID: rev.ListID, Index: rev.Index, Value: 2}, status.ErrValue},
		{status.Entry{ListID: tok.ListID, Index: tok.Index, Value: status.TokenSuspended + 1}, status.ErrValue},
	} {
		if err := a.shared.SetManyIf(ctx, []status.Entry{c.e}, nil, nil); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.e, err, c.want)
		}
	}
	for _, r := range []status.Ref{rev, tok} {
		if _, v, err := a.shared.Get(ctx, r.ListID, r.Index); err != nil || v != 0 {
			t.Errorf("%v is %d (%v) after refused changes, want 0", r, v, err)
		}
	}
}
