// Package ledgertest is the one behavioural suite every ledger.Ledger
// backend must pass: the embedded ledger in its unit tests and Fabric in
// the integration tests. It is safe to run repeatedly against a long-lived
// chain: every record it writes has a fresh ID.
package ledgertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/ledger"
)

// Regions are the two regions the suite uses.
const (
	RegionA = "310000"
	RegionB = "320000"
)

// Open returns two handles to the same chain, acting as RegionA's and
// RegionB's organizations. The suite closes nothing; Open's caller does.
type Open func(t *testing.T) (a, b ledger.Ledger)

func fresh(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// freshList returns a status list ID no earlier run wrote, of random
// digits (testList).
func freshList() string {
	var b [8]byte
	rand.Read(b[:])
	return testList(b)
}

// testList returns the list ID of b: 16 lower-case hex digits, the form
// of every list ID (the contract takes no other), whose ninth is 0, the
// digit of no purpose (status.ListPurpose). A node materializes its
// region's lists of a purpose from the chain and is not ready until it
// has followed each to its head, so a list the suite anchors for
// RegionA with a purpose would keep a node of that region, on the same
// network, from ever being ready (its head ahead of any batch).
func testList(b [8]byte) string {
	id := []byte(hex.EncodeToString(b[:]))
	id[8] = '0'
	return string(id)
}

func sm2Key(t testing.TB, kid string) gm.JWK {
	t.Helper()
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j, err := gm.NewJWK(k.Public(), kid)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// EnsureConsortium registers RegionA (genesis) and RegionB (admitted by
// RegionA's vote) unless they are active already. On a network just
// started, Fabric's discovery may not know both peers yet: it retries
// unavailable errors for up to a minute.
func EnsureConsortium(ctx context.Context, t testing.TB, a, b ledger.Ledger) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := ensureConsortium(ctx, t, a, b)
		if err == nil {
			return
		}
		if !errors.Is(err, ledger.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func ensureConsortium(ctx context.Context, t testing.TB, a, b ledger.Ledger) error {
	ca, cb := ledger.Client{L: a}, ledger.Client{L: b}
	for _, x := range []struct {
		c    ledger.Client
		code string
	}{{ca, RegionA}, {cb, RegionB}} {
		r, err := x.c.Region(ctx, x.code)
		if err == nil && r.Status != chaincode.RegionPending {
			continue
		}
		if errors.Is(err, chaincode.ErrNotFound) {
			_, err = x.c.RequestRegion(ctx, chaincode.RegionInput{Code: x.code, DID: "did:web:" + x.code + ".trustid.local",
				Name: "region " + x.code, Endpoints: []chaincode.Endpoint{{Type: "api", URL: "https://" + x.code + ".trustid.local"}},
				Keys: []gm.JWK{sm2Key(t, x.code+"-"+fresh("k"))}})
		}
		if err != nil && !errors.Is(err, chaincode.ErrExists) {
			return fmt.Errorf("register %s: %w", x.code, err)
		}
	}
	if r, err := cb.Region(ctx, RegionB); err == nil && r.Status == chaincode.RegionPending {
		if err := ca.Vote(ctx, chaincode.ActionAdmit, RegionB); err != nil {
			return fmt.Errorf("admit %s: %w", RegionB, err)
		}
	}
	for _, code := range []string{RegionA, RegionB} {
		r, err := ca.Region(ctx, code)
		if err == nil && r.Status != chaincode.RegionActive {
			// Fabric: the vote is committed on A's peer; reads go there.
			err = fmt.Errorf("%w: region %s is %s", ledger.ErrUnavailable, code, r.Status)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Run runs the suite.
func Run(t *testing.T, open Open) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, b := open(t)
	if a.MSPID() != chaincode.RegionMSP(RegionA) || b.MSPID() != chaincode.RegionMSP(RegionB) {
		t.Fatalf("handles act as %s and %s", a.MSPID(), b.MSPID())
	}
	// A stream from block 0 opened before the suite writes anything: on a
	// new chain it starts empty and must follow what comes.
	ectx, ecancel := context.WithCancel(ctx)
	defer ecancel()
	early, err := b.Events(ectx, 0)
	if err != nil {
		t.Fatal(err)
	}
	EnsureConsortium(ctx, t, a, b)
	ca, cb := ledger.Client{L: a}, ledger.Client{L: b}

	t.Run("Events", func(t *testing.T) {
		anchor := func() string {
			t.Helper()
			in, err := chaincode.NewBatchInput(fresh("ev"), []chaincode.StatusChange{{List: freshList(), Index: 1, Status: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ca.AnchorBatch(ctx, in); err != nil {
				t.Fatal(err)
			}
			return in.ID
		}
		x := anchor()
		// From 0, followed live since before the first write, and replayed
		// now: the same history, in block order, up to x's event.
		live := readUntil(t, early, batchEvent(x))
		replay := readUntil(t, openEvents(ctx, t, b, 0), batchEvent(x))
		if !sameEvents(live, replay) {
			t.Errorf("events from 0: followed live %v, replayed %v", keys(live), keys(replay))
		}
		inOrder(t, replay)
		h, err := b.Height(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if last := replay[len(replay)-1]; last.Block >= h {
			t.Errorf("event of block %d at height %d", last.Block, h)
		}
		// From exactly the height: the next write is the first event.
		atHead := openEvents(ctx, t, b, h)
		y := anchor()
		if got := readUntil(t, atHead, batchEvent(y)); len(got) != 1 || got[0].Block < h {
			t.Errorf("events from the height %d: %v", h, keys(got))
		}
		// From beyond the height: nothing until that block exists, then
		// exactly what a stream from the height shows from that block on.
		h, err = b.Height(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ref, beyond := openEvents(ctx, t, b, h), openEvents(ctx, t, b, h+2)
		var ids []string
		for range 3 { // one transaction per block: the third is at h+2 or later
			ids = append(ids, anchor())
		}
		all := readUntil(t, ref, batchEvent(ids[2]))
		var want []ledger.Event
		for _, ev := range all {
			if ev.Block >= h+2 {
				want = append(want, ev)
			}
		}
		if len(want) == 0 {
			t.Fatalf("three writes from height %d ended in block %d", h, all[len(all)-1].Block)
		}
		if got := readUntil(t, beyond, batchEvent(ids[2])); !sameEvents(got, want) {
			t.Errorf("events from %d (height %d): %v, want %v", h+2, h, keys(got), keys(want))
		}
	})

	t.Run("NotFoundAndInvalid", func(t *testing.T) {
		if _, err := ca.Batch(ctx, RegionA, fresh("nope")); !errors.Is(err, chaincode.ErrNotFound) {
			t.Errorf("missing batch: %v", err)
		}
		if _, _, err := a.Submit(ctx, "AnchorAudit", `{"node":"n","seq":1,"head":"zz"}`); !errors.Is(err, chaincode.ErrInvalid) {
			t.Errorf("bad audit head: %v", err)
		}
		if _, err := a.Evaluate(ctx, "NoSuchFunction"); !errors.Is(err, chaincode.ErrUnknownFunc) {
			t.Errorf("unknown function: %v", err)
		}
	})

	t.Run("RegistryOwnership", func(t *testing.T) {
		id := "did:web:" + RegionA + ".trustid.local:" + fresh("issuer")
		iss := chaincode.Issuer{ID: id, Types: []string{"ResidenceCredential"}, Keys: []chaincode.RegistryKey{{JWK: sm2Key(t, "i1")}}, Status: chaincode.EntryActive}
		if _, err := ca.PutIssuer(ctx, iss); err != nil {
			t.Fatal(err)
		}
		// Fabric peers commit independently: wait until RegionB's peer has it.
		eventually(t, func() error { _, err := cb.Issuer(ctx, id); return err })
		if _, err := cb.PutIssuer(ctx, iss); !errors.Is(err, chaincode.ErrForbidden) {
			t.Errorf("%s overwrote an issuer of %s: %v", RegionB, RegionA, err)
		}
		all, err := cb.Issuers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, x := range all {
			found = found || (x.ID == id && x.Region == RegionA)
		}
		if !found {
			t.Errorf("issuer %s not listed by %s", id, RegionB)
		}
		rp := chaincode.RelyingParty{ClientID: fresh("rp"), JWKS: gm.JWKS{Keys: []gm.JWK{sm2Key(t, "r1")}},
			Scopes: []string{"openid"}, Claims: []string{"age_over_18"}, Status: chaincode.EntryActive}
		if _, err := cb.PutRelyingParty(ctx, rp); err != nil {
			t.Fatal(err)
		}
		var got chaincode.RelyingParty
		eventually(t, func() (err error) { got, err = ca.RelyingParty(ctx, rp.ClientID); return err })
		if err != nil || got.HomeRegion != RegionB || got.JWKS.Keys[0].X != rp.JWKS.Keys[0].X {
			t.Errorf("relying party read by %s: %+v %v", RegionA, got, err)
		}
	})

	t.Run("BatchIdempotent", func(t *testing.T) {
		from, err := a.Height(ctx)
		if err != nil {
			t.Fatal(err)
		}
		events, err := b.Events(ctx, from)
		if err != nil {
			t.Fatal(err)
		}
		list := freshList()
		changes := []chaincode.StatusChange{{List: list, Index: 7, Status: 1}, {List: list, Index: 9, Status: 1}, {List: list, Index: 12, Status: 2}}
		in, err := chaincode.NewBatchInput(fresh("batch"), changes)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ca.AnchorBatch(ctx, in)
		if err != nil || res.Replayed || res.Batch.Region != RegionA || res.Batch.Root != in.Root || res.Block < from {
			t.Fatalf("anchor: %+v %v", res, err)
		}
		committedIn := res.Block // the block of its event, below
		// A replay (the first answer lost) tells the block that committed
		// the batch, which an instance follows before it anchors heads.
		res, err = ca.AnchorBatch(ctx, in)
		if err != nil || !res.Replayed || res.Block != committedIn {
			t.Fatalf("replay: %+v %v, want block %d", res, err, committedIn)
		}
		if n, err := a.TxBlock(ctx, fresh("tx")); !errors.Is(err, chaincode.ErrNotFound) {
			t.Errorf("block of a transaction never submitted: %d, %v; want chaincode.ErrNotFound", n, err)
		}
		other, _ := chaincode.NewBatchInput(in.ID, changes[:2])
		if _, err := ca.AnchorBatch(ctx, other); !errors.Is(err, chaincode.ErrBatchConflict) {
			t.Errorf("different batch under the same ID: %v", err)
		}
		var got chaincode.Batch
		eventually(t, func() (err error) { got, err = cb.Batch(ctx, RegionA, in.ID); return err })
		decoded, err := chaincode.DecodeBatch(got)
		if err != nil || len(decoded) != 3 || decoded[2] != changes[2] {
			t.Fatalf("read back by %s: %+v %v", RegionB, decoded, err)
		}
		// RegionB sees the batch event exactly once: events come in block
		// order, so any event of the replay or the conflict comes before
		// that of a marker batch anchored after them.
		marker, err := chaincode.NewBatchInput(fresh("batch"), changes[:1])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ca.AnchorBatch(ctx, marker); err != nil {
			t.Fatal(err)
		}
		seen := 0
		timeout := time.After(30 * time.Second)
		for marked := false; !marked; {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatal("event stream closed")
				}
				if ev.Name != chaincode.EventStatusBatch {
					continue
				}
				var bt chaincode.Batch
				if err := json.Unmarshal(ev.Payload, &bt); err != nil {
					t.Fatal(err)
				}
				switch {
				case bt.Region != RegionA:
				case bt.ID == in.ID:
					seen++
					if ev.Block < from || ev.TxID == "" || ev.Block != committedIn {
						t.Errorf("event block %d tx %q, AnchorBatch told block %d", ev.Block, ev.TxID, committedIn)
					}
				case bt.ID == marker.ID:
					marked = true
				}
			case <-timeout:
				t.Fatalf("no event of the marker batch within 30 s (%d of the batch)", seen)
			}
		}
		if seen != 1 {
			t.Errorf("%s saw the batch event %d times, want once", RegionB, seen)
		}
	})

	t.Run("StatusHeads", func(t *testing.T) {
		list := freshList()
		d1, d2 := chaincode.ListDigest([]byte(list+" v1")), chaincode.ListDigest([]byte(list+" v2"))
		if _, err := ca.PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: list, Version: 1, Digest: d1}}); err != nil {
			t.Fatal(err)
		}
		if _, err := ca.PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: list, Version: 1, Digest: d2}}); !errors.Is(err, chaincode.ErrHeadConflict) {
			t.Errorf("conflicting digest: %v", err)
		}
		// A replay (the first answer lost) writes nothing and is no error.
		if ev, err := ca.PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: list, Version: 1, Digest: d1}}); err != nil || len(ev.Heads) != 0 {
			t.Errorf("replayed head: %+v %v", ev, err)
		}
		if _, err := ca.PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: list, Version: 2, Digest: d2}}); err != nil {
			t.Fatal(err)
		}
		var h chaincode.StatusHead
		eventually(t, func() (err error) {
			if h, err = cb.StatusHead(ctx, RegionA, list); err == nil && h.Version != 2 {
				err = chaincode.ErrNotFound
			}
			return err
		})
		if h.Version != 2 || h.Digest != d2 {
			t.Errorf("head read by %s: %+v", RegionB, h)
		}
		if _, err := cb.StatusHead(ctx, RegionB, list); !errors.Is(err, chaincode.ErrNotFound) {
			t.Errorf("%s's head visible under %s: %v", RegionA, RegionB, err)
		}
	})

	// Lists are read a page at a time (chaincode.PageSize records): every
	// record of a list longer than a page is read once.
	t.Run("ListPaged", func(t *testing.T) {
		prefix := freshList()[:12]
		heads := make([]ledger.StatusHeadInput, chaincode.PageSize+1)
		for i := range heads {
			heads[i] = ledger.StatusHeadInput{List: fmt.Sprintf("%s%04x", prefix, i), Version: 1, Digest: chaincode.ListDigest([]byte{byte(i)})}
		}
		if _, err := ca.PutStatusHeads(ctx, heads); err != nil {
			t.Fatal(err)
		}
		var got []string
		eventually(t, func() error {
			all, err := cb.StatusHeads(ctx, RegionA)
			got = got[:0]
			for _, h := range all {
				if strings.HasPrefix(h.List, prefix) {
					got = append(got, h.List)
				}
			}
			if err == nil && len(got) < len(heads) {
				err = chaincode.ErrNotFound // B's peer may lag
			}
			return err
		})
		if len(got) != len(heads) || got[0] != heads[0].List || got[len(got)-1] != heads[len(heads)-1].List {
			t.Errorf("%d of the %d heads listed", len(got), len(heads))
		}
	})

	t.Run("AuditAnchor", func(t *testing.T) {
		node := fresh("node")
		h := strings.Repeat("5a", 32)
		if _, err := cb.AnchorAudit(ctx, node, 3, h); err != nil {
			t.Fatal(err)
		}
		if _, err := cb.AnchorAudit(ctx, node, 2, h); !errors.Is(err, chaincode.ErrStale) {
			t.Errorf("older sequence: %v", err)
		}
		// The same head again is a replay (the anchor first written); another
		// head at the same sequence is a fork.
		first, err := cb.AuditAnchor(ctx, RegionB, node)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := cb.AnchorAudit(ctx, node, 3, h); err != nil || again != first {
			t.Errorf("replayed audit anchor: %+v %v, want %+v", again, err, first)
		}
		if _, err := cb.AnchorAudit(ctx, node, 3, strings.Repeat("a5", 32)); !errors.Is(err, chaincode.ErrHeadConflict) {
			t.Errorf("forked audit head: %v", err)
		}
		var got chaincode.AuditAnchor
		eventually(t, func() (err error) { got, err = ca.AuditAnchor(ctx, RegionB, node); return err })
		if got.Seq != 3 || got.Head != h {
			t.Errorf("anchor read by %s: %+v", RegionA, got)
		}
		all, err := ca.AuditAnchors(ctx, RegionB)
		if err != nil || !slices.Contains(all, got) {
			t.Errorf("%s's anchors listed: %d, %v; want %+v among them", RegionB, len(all), err, got)
		}
	})

	t.Run("AuditPrune", func(t *testing.T) {
		// A pruning is recorded with the anchored head, before the files
		// go (ledger.AuditLog.Prune); later anchors keep it, and it never
		// goes back.
		node := fresh("node")
		h, ph := strings.Repeat("5a", 32), strings.Repeat("6b", 32)
		from := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
		p := chaincode.AuditPrune{Seq: 8, Head: ph, From: from, To: from.Add(time.Hour)}
		for _, bad := range []chaincode.AuditPrune{
			{Seq: 9, Head: ph, From: p.From, To: p.To},   // not before the head
			{Seq: 8, Head: "zz", From: p.From, To: p.To}, // not a hash
			{Seq: 8, Head: ph, To: p.To},                 // no time range
		} {
			if _, err := cb.RecordAuditPrune(ctx, node, 9, h, bad); !errors.Is(err, chaincode.ErrInvalid) {
				t.Errorf("pruning %+v: %v, want %v", bad, err, chaincode.ErrInvalid)
			}
		}
		if _, err := cb.AnchorAudit(ctx, node, 9, h); err != nil {
			t.Fatal(err)
		}
		an, err := cb.RecordAuditPrune(ctx, node, 9, h, p)
		if err != nil || an.Seq != 9 || an.Pruned.Seq != 8 || an.Pruned.Head != ph || !an.Pruned.From.Equal(p.From) || !an.Pruned.To.Equal(p.To) {
			t.Fatalf("pruning recorded: %+v %v", an, err)
		}
		if again, err := cb.RecordAuditPrune(ctx, node, 9, h, p); err != nil || again.Tx != an.Tx {
			t.Errorf("replayed pruning: %+v %v, want the record of %s", again, err, an.Tx)
		}
		later := strings.Repeat("7c", 32)
		if an, err = cb.AnchorAudit(ctx, node, 12, later); err != nil || an.Pruned.Seq != 8 || an.Pruned.Head != ph {
			t.Errorf("a later head dropped the pruning: %+v %v", an, err)
		}
		if _, err := cb.RecordAuditPrune(ctx, node, 12, later, chaincode.AuditPrune{Seq: 5, Head: ph, From: from, To: from}); !errors.Is(err, chaincode.ErrStale) {
			t.Errorf("pruning through an earlier entry: %v, want %v", err, chaincode.ErrStale)
		}
		if _, err := cb.RecordAuditPrune(ctx, node, 12, later, chaincode.AuditPrune{Seq: 8, Head: later, From: from, To: from}); !errors.Is(err, chaincode.ErrHeadConflict) {
			t.Errorf("pruning through entry 8 with another hash: %v, want %v", err, chaincode.ErrHeadConflict)
		}
		var got chaincode.AuditAnchor
		eventually(t, func() (err error) {
			if got, err = ca.AuditAnchor(ctx, RegionB, node); err == nil && got.Seq != 12 {
				err = fmt.Errorf("anchored at %d", got.Seq)
			}
			return err
		})
		if got.Pruned.Seq != 8 || got.Pruned.Head != ph {
			t.Errorf("pruning read by %s: %+v", RegionA, got)
		}
	})

	t.Run("View", func(t *testing.T) {
		vctx, vcancel := context.WithCancel(ctx)
		defer vcancel()
		v := ledger.NewView(b, ledger.ViewOptions{Reconcile: time.Hour})
		done := make(chan error, 1)
		go func() { done <- v.Run(vctx) }()
		defer func() { vcancel(); <-done }()
		waitFor(t, "view ready", v.Ready)
		list := freshList()
		good := []byte("encoded list " + list)
		if _, err := v.CheckList(RegionA, list, good); !errors.Is(err, ledger.ErrListUnknown) {
			t.Errorf("unknown list: %v", err)
		}
		if _, err := ca.PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: list, Version: 1, Digest: chaincode.ListDigest(good)}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "head in the view", func() bool { _, ok := v.StatusHead(RegionA, list); return ok })
		if h, err := v.CheckList(RegionA, list, good); err != nil || h.Version != 1 {
			t.Errorf("genuine list: %+v %v", h, err)
		}
		forged := append([]byte(nil), good...)
		forged[0] ^= 1
		if _, err := v.CheckList(RegionA, list, forged); !errors.Is(err, ledger.ErrListDigest) {
			t.Errorf("forged list accepted: %v", err)
		}
		// A newer head makes the old (stale) list fail.
		newer := append(good, '!')
		if _, err := ca.PutStatusHeads(ctx, []ledger.StatusHeadInput{{List: list, Version: 2, Digest: chaincode.ListDigest(newer)}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "head v2 in the view", func() bool { h, _ := v.StatusHead(RegionA, list); return h.Version == 2 })
		if _, err := v.CheckList(RegionA, list, good); !errors.Is(err, ledger.ErrListDigest) {
			t.Errorf("stale list accepted: %v", err)
		}
		// Registry changes reach the view by events.
		term := chaincode.Terminal{ID: fresh("term"), Kind: "counter", Key: sm2Key(t, "t1"), Status: chaincode.EntryActive}
		if _, err := ca.PutTerminal(ctx, term); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "terminal in the view", func() bool { x, ok := v.Terminal(term.ID); return ok && x.Region == RegionA })
		term.Status = chaincode.EntrySuspended
		if _, err := ca.PutTerminal(ctx, term); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "suspension in the view", func() bool { x, _ := v.Terminal(term.ID); return x.Status == chaincode.EntrySuspended })
		if r, ok := v.Region(RegionA); !ok || r.Status != chaincode.RegionActive {
			t.Errorf("region in the view: %+v", r)
		}
	})

	t.Run("ViewTrackStatuses", func(t *testing.T) {
		// A view that keeps statuses replays the chain from block 0: a
		// change anchored before it started is there.
		list := freshList()
		in, _ := chaincode.NewBatchInput(fresh("tracked"), []chaincode.StatusChange{{List: list, Index: 5, Status: 1}})
		if _, err := ca.AnchorBatch(ctx, in); err != nil {
			t.Fatal(err)
		}
		vctx, vcancel := context.WithCancel(ctx)
		defer vcancel()
		v := ledger.NewView(b, ledger.ViewOptions{Reconcile: time.Hour, TrackStatuses: true})
		done := make(chan error, 1)
		go func() { done <- v.Run(vctx) }()
		defer func() { vcancel(); <-done }()
		waitFor(t, "the earlier change in the view", func() bool { s, ok := v.Status(RegionA, list, 5); return ok && s == 1 })
		in, _ = chaincode.NewBatchInput(fresh("tracked"), []chaincode.StatusChange{{List: list, Index: 5, Status: 2}})
		if _, err := ca.AnchorBatch(ctx, in); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the later change in the view", func() bool { s, _ := v.Status(RegionA, list, 5); return s == 2 })
	})

	t.Run("CredentialBindings", func(t *testing.T) { credentialBindings(ctx, t, a, b) })

	t.Run("LargeBatch", func(t *testing.T) {
		list := freshList()
		changes := make([]chaincode.StatusChange, 5000)
		for i := range changes {
			changes[i] = chaincode.StatusChange{List: list, Index: uint64(i * 3), Status: uint8(i % 2)}
		}
		in, _ := chaincode.NewBatchInput(fresh("big"), changes)
		if _, err := ca.AnchorBatch(ctx, in); err != nil {
			t.Fatal(err)
		}
		var got chaincode.Batch
		eventually(t, func() (err error) { got, err = cb.Batch(ctx, RegionA, in.ID); return err })
		raw, _ := json.Marshal(got)
		if got.Count != 5000 || !bytes.Contains(raw, []byte(in.Root)) {
			t.Errorf("large batch: count %d", got.Count)
		}
	})
}

// openEvents opens a stream that ends with the test.
func openEvents(ctx context.Context, t *testing.T, l ledger.Ledger, from uint64) <-chan ledger.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	ch, err := l.Events(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// readUntil reads events until one satisfies last, which it includes; it
// fails the test after 30 s.
func readUntil(t *testing.T, ch <-chan ledger.Event, last func(ledger.Event) bool) []ledger.Event {
	t.Helper()
	var got []ledger.Event
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event stream closed after %d events", len(got))
			}
			got = append(got, ev)
			if last(ev) {
				return got
			}
		case <-timeout:
			t.Fatalf("the awaited event did not come within 30 s (%d others did: %v)", len(got), keys(got))
		}
	}
}

// batchEvent matches the event of batch id.
func batchEvent(id string) func(ledger.Event) bool {
	return func(ev ledger.Event) bool {
		var b chaincode.Batch
		return ev.Name == chaincode.EventStatusBatch && json.Unmarshal(ev.Payload, &b) == nil && b.ID == id
	}
}

type eventKey struct {
	Block uint64
	TxID  string
	Name  string
}

func key(ev ledger.Event) eventKey { return eventKey{ev.Block, ev.TxID, ev.Name} }

func keys(evs []ledger.Event) []eventKey {
	k := make([]eventKey, len(evs))
	for i, ev := range evs {
		k[i] = key(ev)
	}
	return k
}

func sameEvents(a, b []ledger.Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if key(a[i]) != key(b[i]) || !bytes.Equal(a[i].Payload, b[i].Payload) {
			return false
		}
	}
	return true
}

// inOrder checks that events come in block order, each once.
func inOrder(t *testing.T, evs []ledger.Event) {
	t.Helper()
	seen := map[eventKey]bool{}
	for i, ev := range evs {
		k := key(ev)
		if seen[k] || (i > 0 && ev.Block < evs[i-1].Block) {
			t.Errorf("event %d %+v out of order or repeated", i, k)
		}
		seen[k] = true
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventually retries f while it reports ErrNotFound: a write committed on
// one Fabric peer reaches the other peers a moment later.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if !errors.Is(err, chaincode.ErrNotFound) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Anchored reads the chain from block from (default 0) and counts how often
// each status change was anchored in a batch, so tests can check that every
// accepted change reached the chain exactly once.
func Anchored(t testing.TB, l ledger.Ledger, from ...uint64) map[chaincode.StatusChange]int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := l.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := uint64(0)
	if len(from) > 0 {
		start = from[0]
	}
	counts := map[chaincode.StatusChange]int{}
	if h == 0 {
		return counts
	}
	events, err := l.Events(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	idle := 5 * time.Second
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return counts
			}
			if ev.Name == chaincode.EventStatusBatch {
				var b chaincode.Batch
				if err := json.Unmarshal(ev.Payload, &b); err != nil {
					t.Fatal(err)
				}
				cs, err := chaincode.DecodeBatch(b)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cs {
					counts[c]++
				}
			}
			if ev.Block+1 >= h {
				idle = 300 * time.Millisecond // the rest of the last block
			}
		case <-time.After(idle):
			return counts
		}
	}
}

// ListID returns the status list ID tests name name by, the same for
// one name: a valid list ID (status.ValidListID, the only form the
// contract takes and the outbox accepts) of no purpose, which no node
// materializes (testList).
func ListID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return testList([8]byte(sum[:8]))
}

// SeqChanges returns n changes to list at indexes from, from+1, ... with
// status 1.
func SeqChanges(list string, from, n int) []ledger.StatusChange {
	cs := make([]ledger.StatusChange, n)
	for i := range cs {
		cs[i] = ledger.StatusChange{List: list, Index: uint64(from + i), Status: 1}
	}
	return cs
}

// bindingValue returns a well-formed binding value (a version-1 credential
// ID encoding; the contract does not check its MAC) unique to this run.
func bindingValue() string {
	raw := []byte{1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 0x1b, 0xfa, 0x19, 0xda, 0x86, 0x26, 0xbd, 0x41, 1, 0, 0, 7}
	var mac [16]byte
	rand.Read(mac[:])
	return base64.RawURLEncoding.EncodeToString(append(raw, mac[:]...))
}

func bindingKey() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// credentialBindings: a region binds keys of its own; the event reaches
// followers; a replay is a no-op; another value for a bound key is refused
// with ErrBindingExists naming it (over the backend's wire), writing
// nothing; the other region cannot bind in the first's name; two Binders
// racing one key: exactly one wins, the other gets ErrBindingExists.
func credentialBindings(ctx context.Context, t *testing.T, a, b ledger.Ledger) {
	ca, cb := ledger.Client{L: a}, ledger.Client{L: b}
	h, err := b.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events := openEvents(ctx, t, b, h)
	b1 := chaincode.CredentialBinding{Key: bindingKey(), Value: bindingValue()}
	b2 := chaincode.CredentialBinding{Key: bindingKey(), Value: bindingValue()}
	res, err := ca.BindCredentialIDs(ctx, chaincode.BindingsInput{Region: RegionA, Bindings: []chaincode.CredentialBinding{b1, b2}})
	if err != nil || res.Bound != 2 {
		t.Fatalf("bind: %+v %v", res, err)
	}
	evs := readUntil(t, events, func(ev ledger.Event) bool { return ev.Name == chaincode.EventCredentialBindings })
	var be chaincode.BindingsEvent
	if err := json.Unmarshal(evs[len(evs)-1].Payload, &be); err != nil || be.Region != RegionA || len(be.Bindings) != 2 || be.Bindings[0] != b1 {
		t.Fatalf("event %s %v", evs[len(evs)-1].Payload, err)
	}
	if res, err := ca.BindCredentialIDs(ctx, chaincode.BindingsInput{Region: RegionA, Bindings: []chaincode.CredentialBinding{b1}}); err != nil || res.Replayed != 1 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	b3 := chaincode.CredentialBinding{Key: bindingKey(), Value: bindingValue()}
	_, err = ca.BindCredentialIDs(ctx, chaincode.BindingsInput{Region: RegionA, Bindings: []chaincode.CredentialBinding{b3, {Key: b2.Key, Value: bindingValue()}}})
	if !errors.Is(err, chaincode.ErrBindingExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if k := chaincode.TakenKeys(err); len(k) != 1 || k[0] != b2.Key {
		t.Fatalf("taken keys %v from %v", k, err)
	}
	if _, err := cb.CredentialBinding(ctx, RegionA, b3.Key); !errors.Is(err, chaincode.ErrNotFound) {
		t.Fatalf("a refused transaction wrote: %v", err)
	}
	if got, err := cb.CredentialBinding(ctx, RegionA, b2.Key); err != nil || got.Value != b2.Value {
		t.Fatalf("the first binding does not stand: %+v %v", got, err)
	}
	if _, err := cb.BindCredentialIDs(ctx, chaincode.BindingsInput{Region: RegionA, Bindings: []chaincode.CredentialBinding{b3}}); !errors.Is(err, chaincode.ErrForbidden) {
		t.Fatalf("B bound in A's name: %v", err)
	}

	// Two binders (two instances of region A) race for one key.
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	d1, d2 := ledger.NewBinder(ca, RegionA, ledger.BinderOptions{}), ledger.NewBinder(ca, RegionA, ledger.BinderOptions{})
	go d1.Run(bctx)
	go d2.Run(bctx)
	race := bindingKey()
	errs := make(chan error, 2)
	go func() { errs <- d1.Bind(ctx, chaincode.CredentialBinding{Key: race, Value: bindingValue()}) }()
	go func() { errs <- d2.Bind(ctx, chaincode.CredentialBinding{Key: race, Value: bindingValue()}) }()
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) || !errors.Is(errors.Join(e1, e2), chaincode.ErrBindingExists) {
		t.Fatalf("racing binders: %v, %v", e1, e2)
	}
}

// ChosenIDs returns region's chosen-ID bindings over l (a binder running
// until the test ends, an index in path); feed the index the ledger's
// events with Index.ApplyEvent.
func ChosenIDs(t testing.TB, l ledger.Ledger, path, region string) ledger.ChosenIDs {
	t.Helper()
	c := ledger.Client{L: l}
	idx, err := ledger.OpenBindingIndex(path, region, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := ledger.NewBinder(c, region, ledger.BinderOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; idx.Close() })
	return ledger.ChosenIDs{Binder: d, Index: idx}
}
