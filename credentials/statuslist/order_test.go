package statuslist_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// sharedStores returns the stores a region's instances may share for
// their markers: the in-memory store and a real Redis.
func sharedStores() map[string]func(t testing.TB) statuslist.Markers {
	return map[string]func(t testing.TB) statuslist.Markers{
		"memory": func(t testing.TB) statuslist.Markers {
			m, err := store.NewMemory(store.MemoryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			return m
		},
		"redis": func(t testing.TB) statuslist.Markers {
			r, err := redisstore.New(testredis.StartClient(t), redisstore.Options{Prefix: "order:"})
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
	}
}

// markerTTL is the markers' ttl in the tests that hold a commit past it:
// long enough that a holder's refreshes (every ttl/3) keep their marker
// on a loaded machine (at 300 ms one lapsed under a full test run, at 1 s
// one under a full run beside other builds), and the hold (3 ttl) still
// outlasts it.
const markerTTL = 2 * time.Second

// TestSharedChangesOrderedAcrossInstances: a client reinstates a credential
// through instance a, whose batch is slow to commit, then suspends it
// through instance b. b must not commit its change before a's, or every
// instance would serve the credential as reinstated though the issuer was
// told the suspension came last (SECURITY.md, Known gaps, 21): b waits for
// a's marker.
func TestSharedChangesOrderedAcrossInstances(t *testing.T) {
	for name, newStore := range sharedStores() {
		t.Run(name, func(t *testing.T) {
			markers := newStore(t)
			// a's commit is held past the markers' ttl: a refreshes its
			// marker meanwhile.
			opt := func(o *statuslist.SharedOptions) { o.Markers, o.MarkerTTL = markers, markerTTL }
			l := openLedger(t)
			sl := &slowBatch{Ledger: l, held: make(chan struct{}), release: make(chan struct{})}
			a := startInstanceAnchor(t, sl, t.TempDir(), "a", nil, opt)
			b := startInstanceAnchor(t, l, t.TempDir(), "b", nil, opt)
			id := a.issue(t, "client-a")
			a.set(t, id, status.PurposeSuspension, 1)
			refs, err := a.shared.Refs(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if got := value(t, converged(t, l, a, b), refs[1]); got != 1 {
				t.Fatalf("suspension bit %d after the first suspension", got)
			}

			sl.armed.Store(true)
			a.set(t, id, status.PurposeSuspension, 0) // reinstate: its commit is held
			<-sl.held
			suspended := make(chan error, 1)
			go func() {
				suspended <- b.shared.Set(context.Background(), refs[1].ListID, refs[1].Index, 1)
			}()
			select {
			case err = <-suspended:
				t.Errorf("b answered the suspension (%v) while a's reinstatement was not committed", err)
				time.Sleep(300 * time.Millisecond) // let b's batch commit first
				close(sl.release)
			case <-time.After(3 * markerTTL):
				close(sl.release)
				err = <-suspended
			}
			if err != nil {
				t.Fatal(err)
			}

			lists := converged(t, l, a, b)
			if got := value(t, lists, refs[1]); got != 1 {
				t.Fatalf("every instance serves the credential as not suspended (suspension bit %d) after the issuer's last change, through another instance, suspended it", got)
			}
			// Every marker was cleared: a change through b now takes no wait.
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if err := b.shared.Set(ctx, refs[1].ListID, refs[1].Index, 0); err != nil {
				t.Fatalf("a change after every commit: %v", err)
			}
			converged(t, l, a, b)
		})
	}
}

// TestSharedChangeAfterRevocationAcrossInstances: a client revokes a
// credential through instance a, whose batch is slow to commit, then
// reinstates or suspends it through instance b. b must wait for a's
// revocation and then refuse the change as the issuer refuses a change of
// a revoked credential (409 status_conflict), changing nothing: before,
// b read the entries before the wait (or, for a credential whose
// revocation and suspension are separate entries, did not wait at all)
// and answered that the change was made (SECURITY.md, Known gaps, 21(d)).
func TestSharedChangeAfterRevocationAcrossInstances(t *testing.T) {
	ks, err := keystore.Open(filepath.Join(t.TempDir(), "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, newStore := range sharedStores() {
		for _, format := range []string{issuer.FormatVCJWT, issuer.FormatSDJWT} {
			for _, action := range []string{issuer.ActionReinstate, issuer.ActionSuspend} {
				t.Run(name+"/"+format+"/"+action, func(t *testing.T) {
					markers := newStore(t)
					opt := func(o *statuslist.SharedOptions) { o.Markers, o.MarkerTTL = markers, markerTTL }
					l := openLedger(t)
					sl := &slowBatch{Ledger: l, held: make(chan struct{}), release: make(chan struct{})}
					a := startInstanceAnchor(t, sl, t.TempDir(), "a", nil, opt)
					b := startInstanceAnchor(t, l, t.TempDir(), "b", nil, opt)
					newIssuer := func(in *instance) *issuer.Issuer {
						is, err := issuer.New(issuer.Config{BaseURL: "https://node.example", Keys: ks, Status: in.shared})
						if err != nil {
							t.Fatal(err)
						}
						return is
					}
					isA, isB := newIssuer(a), newIssuer(b)
					ctx := context.Background()
					actor := issuer.Actor{ClientID: "rp-1"}
					cred, err := isA.Issue(ctx, map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential"},
						"credentialSubject": map[string]any{"id": "did:example:holder"}}, issuer.IssueOptions{Client: "rp-1", Format: format})
					if err != nil {
						t.Fatal(err)
					}
					before := converged(t, l, a, b)

					sl.armed.Store(true)
					if err := isA.SetStatusAs(ctx, cred.ID, issuer.ActionRevoke, actor); err != nil { // its commit is held
						t.Fatal(err)
					}
					<-sl.held
					changed := make(chan error, 1)
					go func() { changed <- isB.SetStatusAs(ctx, cred.ID, action, actor) }()
					select {
					case err = <-changed:
						t.Errorf("b answered the %s (%v) while a's revocation was not committed", action, err)
						close(sl.release)
					case <-time.After(3 * markerTTL):
						close(sl.release)
						err = <-changed
					}
					if !errors.Is(err, issuer.ErrStatusConflict) {
						t.Fatalf("b's %s after a's revocation: %v, want ErrStatusConflict", action, err)
					}

					after := converged(t, l, a, b)
					for _, r := range cred.Status {
						want, version := value(t, before, r), before[r.ListID].Version
						if r.Purpose != status.PurposeSuspension {
							want, version = 1, version+1 // revoked
							if r.Purpose == status.PurposeToken {
								want = status.TokenInvalid
							}
						}
						if got := value(t, after, r); got != want {
							t.Errorf("%s entry %d, want %d", r.Purpose, got, want)
						}
						if got := after[r.ListID].Version; got != version {
							t.Errorf("%s list at version %d, want %d: the refused change was anchored", r.Purpose, got, version)
						}
					}
				})
			}
		}
	}
}

// TestSharedMarkerCalls: the markers of one batch are cleared in one
// store call; a change of an entry whose marker the instance holds makes
// no store call, until the marker is seen taken by another instance
// (RunMarkers' refresh): then the change waits for it again.
func TestSharedMarkerCalls(t *testing.T) {
	markers := &countingMarkers{Markers: sharedStores()["memory"](t)}
	// The first batch must commit before a refresh (ttl/3) claims its
	// markers again: at 300 ms it did not once, under -race on a loaded
	// machine.
	const ttl = 1500 * time.Millisecond
	l := openLedger(t)
	sl := &slowBatch{Ledger: l, held: make(chan struct{}), release: make(chan struct{})}
	a := startInstanceAnchor(t, sl, t.TempDir(), "a", nil, func(o *statuslist.SharedOptions) { o.Markers, o.MarkerTTL = markers, ttl })
	id := a.issue(t, "client-a")
	refs, err := a.shared.Refs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	entries := make([]status.Entry, len(refs))
	keys := make([]string, len(refs))
	for i, r := range refs {
		entries[i] = status.Entry{ListID: r.ListID, Index: r.Index, Value: 1}
		keys[i] = "status-change-pending:" + r.ListID + ":" + strconv.Itoa(r.Index)
	}
	if err := a.shared.SetMany(ctx, entries); err != nil {
		t.Fatal(err)
	}
	converged(t, l, a)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d claims, %d clears", what, markers.claims.Load(), markers.clears.Load())
			}
		}
	}
	waitFor("the batch's markers cleared", func() bool { return markers.clears.Load() > 0 })
	time.Sleep(100 * time.Millisecond)
	if c, d := markers.claims.Load(), markers.clears.Load(); c != int64(len(refs)) || d != 1 {
		t.Fatalf("%d claims and %d clears for a batch of %d entries, want %d and 1", c, d, len(refs), len(refs))
	}
	for _, k := range keys {
		if ok, err := markers.Claim(ctx, []byte("x"), []byte("="), time.Millisecond, k); err != nil || !ok[0].Held {
			t.Fatalf("marker %s not cleared: %v %v", k, ok, err)
		}
	}

	// While a's first change of the entry waits in its outbox, a holds the
	// marker: a second change claims nothing.
	r := refs[1]
	sl.armed.Store(true)
	if err := a.shared.Set(ctx, r.ListID, r.Index, 0); err != nil {
		t.Fatal(err)
	}
	<-sl.held
	claims := markers.claims.Load()
	if err := a.shared.Set(ctx, r.ListID, r.Index, 1); err != nil {
		t.Fatal(err)
	}
	if got := markers.claims.Load(); got != claims {
		t.Fatalf("a change of an entry whose marker the instance holds made %d claims", got-claims)
	}
	// The marker lost (a store that lost its keys) and taken by instance
	// x: once a's refresh sees it, a's changes of the entry wait for x.
	key := keys[1]
	if n, err := markers.CompareAndDelete(ctx, []byte("a"), key); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if ok, err := markers.Claim(ctx, []byte("x"), []byte("="), time.Minute, key); err != nil || !ok[0].Held {
		t.Fatal(ok, err)
	}
	time.Sleep(ttl) // RunMarkers refreshes every ttl/3
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := a.shared.Set(wctx, r.ListID, r.Index, 0); !errors.Is(err, status.ErrChangePending) {
		t.Fatalf("a change of an entry whose marker x holds: %v, want ErrChangePending", err)
	}
	close(sl.release)
	if n, err := markers.CompareAndDelete(ctx, []byte("x"), key); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	converged(t, l, a)
}

// TestSharedChangePendingTimeout: a change of an entry whose marker another
// instance holds past the wait is refused with status.ErrChangePending and
// changes nothing; once the holder is done, or its marker expired (the
// holder crashed), it goes through.
func TestSharedChangePendingTimeout(t *testing.T) {
	markers := sharedStores()["memory"](t)
	l := openLedger(t)
	b := startInstanceAnchor(t, l, t.TempDir(), "b", nil, func(o *statuslist.SharedOptions) { o.Markers = markers })
	id := b.issue(t, "client-b")
	refs, err := b.shared.Refs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	r := refs[1]
	// Instance a (its process gone) holds the entry's marker.
	ctx := context.Background()
	key := "status-change-pending:" + r.ListID + ":" + strconv.Itoa(r.Index)
	if ok, err := markers.Claim(ctx, []byte("a"), []byte("="), time.Minute, key); err != nil || !ok[0].Held {
		t.Fatal(ok, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = b.shared.Set(wctx, r.ListID, r.Index, 1)
	if !errors.Is(err, status.ErrChangePending) {
		t.Fatalf("Set while another instance holds the marker: %v, want ErrChangePending", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("refused after %v, before its context's deadline", d)
	}
	if _, v, _ := b.shared.Get(ctx, r.ListID, r.Index); v != 0 || b.shared.Pending() != 0 {
		t.Fatalf("a refused change was kept: value %d, %d pending", v, b.shared.Pending())
	}
	if n, err := markers.CompareAndDelete(ctx, []byte("a"), key); n != 1 || err != nil {
		t.Fatalf("b's refused change touched a's marker: %d %v", n, err)
	}
	if err := b.shared.Set(ctx, r.ListID, r.Index, 1); err != nil {
		t.Fatal(err)
	}
	if got := value(t, converged(t, l, b), r); got != 1 {
		t.Fatalf("suspension bit %d", got)
	}

	// A holder that died leaves its marker until its ttl: then the change
	// goes through.
	const ttl = 300 * time.Millisecond
	if ok, err := markers.Claim(ctx, []byte("a"), []byte("="), ttl, key); err != nil || !ok[0].Held {
		t.Fatal(ok, err)
	}
	start = time.Now()
	if err := b.shared.Set(ctx, r.ListID, r.Index, 0); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < ttl-50*time.Millisecond {
		t.Errorf("accepted after %v, before the dead holder's marker expired", d)
	}
	if got := value(t, converged(t, l, b), r); got != 0 {
		t.Fatalf("suspension bit %d after the reinstatement", got)
	}
}

// TestSharedMarkersNoDeadlock: two instances changing the same two entries,
// listed in opposite orders, while one of them still has an earlier
// change of one entry to commit, both go through: neither holds a marker
// while waiting for one the other holds.
func TestSharedMarkersNoDeadlock(t *testing.T) {
	markers := sharedStores()["memory"](t)
	opt := func(o *statuslist.SharedOptions) { o.Markers, o.MarkerWait = markers, 3*time.Second }
	l := openLedger(t)
	sl := &slowBatch{Ledger: l, held: make(chan struct{}), release: make(chan struct{})}
	a := startInstanceAnchor(t, l, t.TempDir(), "a", nil, opt)
	b := startInstanceAnchor(t, sl, t.TempDir(), "b", nil, opt)
	id := a.issue(t, "client-a")
	refs, err := a.shared.Refs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	e1 := status.Entry{ListID: refs[1].ListID, Index: refs[1].Index, Value: 1}
	e2 := status.Entry{ListID: refs[2].ListID, Index: refs[2].Index, Value: status.TokenSuspended}
	ctx := context.Background()

	sl.armed.Store(true)
	if err := b.shared.SetMany(ctx, []status.Entry{e2}); err != nil { // its commit is held
		t.Fatal(err)
	}
	<-sl.held
	errs := make(chan error, 2)
	go func() { errs <- a.shared.SetMany(ctx, []status.Entry{e1, e2}) }()
	time.Sleep(100 * time.Millisecond)
	go func() { errs <- b.shared.SetMany(ctx, []status.Entry{e2, e1}) }()
	time.Sleep(100 * time.Millisecond)
	close(sl.release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a change waiting for markers: %v", err)
		}
	}
	converged(t, l, a, b)
}
