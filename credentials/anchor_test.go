package credentials_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/ledger"
)

var (
	_ StatusAnchors = (*ledger.View)(nil)
)

// forged list is accepted.
func TestForgedStatusListRejected(t *testing.T) {
	ctx := context.Background()
	served := newServedNode(t)
	n, srv, client, tamper := served.n, served.srv, served.client, &served.tamper
	ch := openChain(t, t.TempDir(), false)
	served.anchor(t, ch)

	vc1 := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	vc2 := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	holder, _ := holderKey(t, gm.AlgES256)
	hj, _ := gm.NewJWK(holder.Public(), "")
	sd := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &hj})
	rev, tok := vc1.Status[0], sd.Status[0]
	revURL := srv.URL + "/status/" + rev.ListID
	ch.flush(t, rev.ListID, vc1.Status[1].ListID, tok.ListID)

	v, _ := remoteVerifier(t, n, client, ch.view)
	if _, err := v.VerifyCredential(ctx, vc1.Token); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	if _, err := v.VerifyToken(ctx, sd.Token); err != nil {
		t.Fatalf("SD-JWT VC before suspension: %v", err)
	}
	_, before, _ := n.issuer.StatusList(ctx, rev.ListID)

	if err := n.issuer.SetStatus(ctx, vc1.ID, issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	ch.flush(t, rev.ListID)
	// The verifier's cached list is dropped once the ledger's head moved:
	// no waiting for the cache ttl (an hour here).
	if _, err := v.VerifyCredential(ctx, vc1.Token); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked, through the ledger-checked list: %v", err)
	}
	if _, err := v.VerifyCredential(ctx, vc2.Token); err != nil {
		t.Fatalf("the other credential: %v", err)
	}

	// The tampered server: status lists are its own, keys the node's.
	head, _ := ch.view.StatusHead(anchorRegion, rev.ListID)
	snap, _ := ch.shared.Snapshot(ctx, rev.ListID)
	cleared := snap.Bitstring
	cleared.Set(rev.Index, false)
	tokSnap, _ := ch.shared.Snapshot(ctx, tok.ListID)
	tokHead, _ := ch.view.StatusHead(anchorRegion, tok.ListID)
	forgedTok := tokSnap.Token
	forgedTok.Set(tok.Index, status.TokenInvalid)
	var serve func(path string) (string, string)
	tampered := tamperFunc(func(path string) (string, string, bool) {
		if !strings.HasPrefix(path, "/status/") {
			return "", "", false
		}
		ct, body := serve(path)
		return ct, body, true
	})
	tamper.Store(&tampered)

	for _, c := range []struct {
		name  string
		cred  string
		serve func(path string) (string, string)
		want  error
	}{
		{"forged: the revoked bit cleared at the anchored version", vc1.Token, func(string) (string, string) {
			return MediaTypeVCJWT, signBitstringList(t, n, revURL, PurposeRevocation, head.Version, cleared)
		}, ErrStatusListForged},
		{"stale: the list from before the revocation", vc1.Token, func(string) (string, string) {
			return MediaTypeVCJWT, before
		}, ErrStatusListStale},
		{"ahead: a version the ledger never anchored", vc1.Token, func(string) (string, string) {
			return MediaTypeVCJWT, signBitstringList(t, n, revURL, PurposeRevocation, head.Version+1, cleared)
		}, ErrStatusListUnanchored},
		{"forged token status list", sd.Token, func(string) (string, string) {
			return MediaTypeStatusListJWT, mustSignTokenList(t, n, srv.URL+"/status/"+tok.ListID, tokHead.Version, forgedTok)
		}, ErrStatusListForged},
	} {
		serve = c.serve
		tv, _ := remoteVerifier(t, n, client, ch.view)
		var err error
		if strings.Contains(c.cred, "~") {
			_, err = tv.VerifyToken(ctx, c.cred)
		} else {
			_, err = tv.VerifyCredential(ctx, c.cred)
		}
		if !errors.Is(err, c.want) || !errors.Is(err, ErrStatusUnavailable) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}

	// A list ID with no head: the verifier fails closed.
	serve = func(path string) (string, string) {
		return MediaTypeVCJWT, signBitstringList(t, n, srv.URL+path, PurposeRevocation, 1, cleared)
	}
	_, src := remoteVerifier(t, n, client, ch.view)
	if _, err := src.Bitstring(ctx, srv.URL+"/status/00000000000000ff", n.issuer.DID()); !errors.Is(err, ErrStatusListUnanchored) {
		t.Errorf("unanchored list ID: %v", err)
	}
	// An issuer that is not a region of the consortium: fail closed.
	other := openChain(t, t.TempDir(), false)
	if _, err := (&HTTPStatusSource{Client: client, Verifier: src.Verifier, Anchors: other.view, AnchorWait: 50 * time.Millisecond}).
		Bitstring(ctx, revURL, n.issuer.DID()); !errors.Is(err, ErrStatusListUnanchored) || !strings.Contains(err.Error(), "not an active region") {
		t.Errorf("issuer outside the consortium: %v", err)
	}

	// The control: without the ledger the forged list passes as valid.
	serve = func(path string) (string, string) {
		if strings.HasSuffix(path, rev.ListID) {
			return MediaTypeVCJWT, signBitstringList(t, n, revURL, PurposeRevocation, head.Version, cleared)
		}
		_, real, _ := n.issuer.StatusList(ctx, strings.TrimPrefix(path, "/status/"))
		return MediaTypeVCJWT, real
	}
	plain, _ := remoteVerifier(t, n, client, nil)
	if _, err := plain.VerifyCredential(ctx, vc1.Token); err != nil {
		t.Errorf("without the ledger the forged list should pass (the control of this test): %v", err)
	}
}

// mustSignTokenList signs a statuslist+jwt for uri as the issuer does,
// with any content and version, valid for an hour.
func mustSignTokenList(t testing.TB, n *node, uri string, version uint64, tl *status.TokenList) string {
	t.Helper()
	return signTokenList(t, n, uri, version, tl, map[string]any{"exp": n.clock.Now().Add(time.Hour).Unix()})
}

// signTokenList is mustSignTokenList with the claims of extra (exp, ttl)
// instead of its hour.
func signTokenList(t testing.TB, n *node, uri string, version uint64, tl *status.TokenList, extra map[string]any) string {
	t.Helper()
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{
		"iss": n.issuer.BaseURL(), "sub": uri, "iat": n.clock.Now().Unix(),
		"status_list":       map[string]any{"bits": tl.Bits(), "lst": tl.Encode()},
		ClaimJWTListVersion: version,
	}
	maps.Copy(claims, extra)
	tok, err := jose.Sign(claims, map[string]any{"typ": TypStatusListJWT, "kid": k.Kid}, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAnchorWaitsForLedger: a list newer than the ledger's head (a change
// the outbox has not committed yet) waits for the head, then passes.
func TestAnchorWaitsForLedger(t *testing.T) {
	ctx := context.Background()
	served := newServedNode(t)
	n, client := served.n, served.client
	ch := openChainPaused(t, t.TempDir(), false)
	served.anchor(t, ch)
	vc := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})

	// Nothing reaches the chain until the outbox starts, 150 ms from now.
	const delay = 150 * time.Millisecond
	start := time.Now()
	time.AfterFunc(delay, ch.start)
	v, _ := remoteVerifier(t, n, client, ch.view)
	if _, err := v.VerifyCredential(ctx, vc.Token); err != nil {
		t.Fatalf("a new list, anchored while the verifier waits: %v", err)
	}
	if d := time.Since(start); d < delay {
		t.Fatalf("verified after %v, before the head could be on the chain", d)
	}
	ch.flush(t, vc.Status[0].ListID, vc.Status[1].ListID)

	// Revoke, and verify as soon as the node serves the change (it
	// serves what the chain holds): the list's new head is anchored after
	// the change reaches the chain, so the served list may be a version
	// ahead of the ledger's head, and the verifier waits for it.
	if err := n.issuer.SetStatus(ctx, vc.ID, issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ch.shared.Pending() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the revocation never reached the chain")
		}
	}
	v, src := remoteVerifier(t, n, client, ch.view)
	src.AnchorWait = 10 * time.Second // the head follows the change: wait for it however loaded the machine is
	if _, err := v.VerifyCredential(ctx, vc.Token); !errors.Is(err, ErrRevoked) {
		t.Fatalf("right after the revocation: %v", err)
	}
	if h, _ := ch.view.StatusHead(anchorRegion, vc.Status[0].ListID); h.Version != 2 {
		t.Fatalf("head %+v", h)
	}
}

// FuzzCheckAnchored feeds arbitrary served-list fields (version claim,
// encodedList, list ID from the URL, purpose) to the ledger check of a
// verifier whose view holds one anchored list: only that list's exact
// content at its anchored version passes; everything else is refused with
// one of the anchoring errors (or a parse error), never a panic.
func FuzzCheckAnchored(f *testing.F) {
	ctx := context.Background()
	n := newNode(f, testBase)
	ch := openChain(f, f.TempDir(), false)
	registerRegion(f, ch.l, anchorRegion, n.issuer.DID(), testBase, n.keys)
	anchorShared(f, n, ch, testBase)
	vc := mustIssue(f, n, sampleCredential(), issuer.IssueOptions{})
	if err := n.issuer.SetStatus(ctx, vc.ID, issuer.ActionRevoke); err != nil {
		f.Fatal(err)
	}
	ref := vc.Status[0]
	ch.flush(f, ref.ListID)
	snap, _ := ch.shared.Snapshot(ctx, ref.ListID)
	want, _ := snap.Bitstring.AppendBinary(nil)
	src := &HTTPStatusSource{Anchors: ch.view, AnchorWait: time.Nanosecond}

	f.Add("2", snap.Bitstring.Encode(), ref.ListID, PurposeRevocation)
	f.Add("1", snap.Bitstring.Encode(), ref.ListID, PurposeRevocation)
	f.Add("3", snap.Bitstring.Encode(), ref.ListID, PurposeRevocation)
	f.Add("2", snap.Bitstring.Encode(), ref.ListID, PurposeSuspension)
	f.Add("02", "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA", "00000000000000ff", PurposeRevocation)
	f.Add("18446744073709551616", "u", "../x", "")
	f.Fuzz(func(t *testing.T, version, encoded, listID, purpose string) {
		v, err := ParseListVersion(json.Number(version))
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrStatusListUnanchored) {
				t.Fatalf("version %q: %v", version, err)
			}
			return
		}
		bits, err := status.DecodeBitstring(encoded, 0)
		if err != nil {
			return
		}
		content, err := ListContent(listID, purpose, v, 1, bits)
		if err != nil {
			return
		}
		err = src.CheckAnchored(ctx, testBase+"/status/"+listID, n.issuer.DID(), v, content)
		got, _ := bits.AppendBinary(nil)
		exact := listID == ref.ListID && purpose == PurposeRevocation && v == snap.Version && string(got) == string(want)
		switch {
		case err == nil && !exact:
			t.Fatalf("accepted a list that is not the anchored one: %s v%d %s", listID, v, purpose)
		case err != nil && exact:
			t.Fatalf("refused the anchored list: %v", err)
		case err != nil && !errors.Is(err, ErrStatusListForged) && !errors.Is(err, ErrStatusListStale) && !errors.Is(err, ErrStatusListUnanchored):
			t.Fatalf("unexpected error: %v", err)
		}
	})
}

// TestKeepAnchoredStopsAtValidUntil: KeepAnchored keeps a list while its
// node is down only within the list's own validity (Bitstring Status
// List v1.0 §2.2: ttl "does not override or replace the validity
// period"): past its validUntil the check fails closed, though the head
// has not moved and MaxKeep has not run out.
func TestKeepAnchoredStopsAtValidUntil(t *testing.T) {
	ctx := context.Background()
	served := newServedNode(t)
	n, srv, client, tamper := served.n, served.srv, served.client, &served.tamper
	ch := openChain(t, t.TempDir(), false)
	served.anchor(t, ch)
	rev := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{}).Status[0]
	ch.flush(t, rev.ListID)
	uri := srv.URL + "/status/" + rev.ListID
	snap, err := ch.shared.Snapshot(ctx, rev.ListID)
	if err != nil {
		t.Fatal(err)
	}
	// The anchored list, as its node serves it but valid for 20 minutes.
	list := signListDoc(t, n, uri, func(doc, s map[string]any) {
		doc["validUntil"] = FormatTime(n.clock.Now().Add(20 * time.Minute))
		s["statusPurpose"], s["encodedList"], s[ClaimListVersion] = snap.Purpose, snap.Bitstring.Encode(), snap.Version
	})
	serve := tamperFunc(func(path string) (string, string, bool) {
		return MediaTypeVCJWT, list, strings.HasPrefix(path, "/status/")
	})
	tamper.Store(&serve)
	_, src := remoteVerifier(t, n, client, ch.view)
	keep := NewStatusCheckerWith(src, StatusCheckerOptions{TTL: time.Minute, Now: n.clock.Now, KeepAnchored: true})
	entry := []StatusEntry{{Purpose: snap.Purpose, Index: rev.Index, ListCredential: uri}}
	if err := keep.Check(ctx, n.issuer.DID(), entry); err != nil {
		t.Fatalf("first check: %v", err)
	}
	down := tamperFunc(func(string) (string, string, bool) { return "text/plain", "down", true })
	tamper.Store(&down)
	n.clock.Set(n.clock.Now().Add(10 * time.Minute))
	if err := keep.Check(ctx, n.issuer.DID(), entry); err != nil {
		t.Errorf("node down, head unchanged, list valid: %v", err)
	}
	n.clock.Set(n.clock.Now().Add(15 * time.Minute))
	if err := keep.Check(ctx, n.issuer.DID(), entry); !errors.Is(err, ErrStatusUnavailable) || errors.Is(err, ErrStatusListChanged) {
		t.Errorf("node down, head unchanged, list past its validUntil: %v, want ErrStatusUnavailable", err)
	}
}

// TestKeepAnchoredStopsAtTokenExp: a Status List Token past its exp
// "MUST NOT be relied upon any longer" (Token Status List, Status List
// Caching): KeepAnchored keeps one while its node is down only until its
// exp, as it keeps a Bitstring list only until its validUntil, though the
// head has not moved and MaxKeep has not run out.
func TestKeepAnchoredStopsAtTokenExp(t *testing.T) {
	ctx := context.Background()
	a := anchoredTokenList(t)
	// The anchored list, as its node serves it but valid for 20 minutes.
	list := a.sign(t, map[string]any{"exp": a.n.clock.Now().Add(20 * time.Minute).Unix()})
	serve := tamperFunc(func(path string) (string, string, bool) {
		return MediaTypeStatusListJWT, list, strings.HasPrefix(path, "/status/")
	})
	a.tamper.Store(&serve)
	keep := NewStatusCheckerWith(a.src, StatusCheckerOptions{TTL: time.Minute, Now: a.n.clock.Now, KeepAnchored: true})
	if err := keep.CheckToken(ctx, a.issuer, a.uri, a.index); err != nil {
		t.Fatalf("first check: %v", err)
	}
	down := tamperFunc(func(string) (string, string, bool) { return "text/plain", "down", true })
	a.tamper.Store(&down)
	a.n.clock.Set(a.n.clock.Now().Add(10 * time.Minute))
	if err := keep.CheckToken(ctx, a.issuer, a.uri, a.index); err != nil {
		t.Errorf("node down, head unchanged, list before its exp: %v", err)
	}
	a.n.clock.Set(a.n.clock.Now().Add(15 * time.Minute))
	if err := keep.CheckToken(ctx, a.issuer, a.uri, a.index); !errors.Is(err, ErrStatusUnavailable) || errors.Is(err, ErrStatusListChanged) {
		t.Errorf("node down, head unchanged, list past its exp: %v, want ErrStatusUnavailable", err)
	}
}

// TestKeepAnchoredHonoursTTL: a list kept past its ttl by KeepAnchored is
// fetched again each time its own ttl (here 10 s, shorter than the 30 s
// between tries of a kept list) has passed (Token Status List's
// validation rules: a fresh copy once the time it was resolved plus ttl
// has passed).
func TestKeepAnchoredHonoursTTL(t *testing.T) {
	ctx := context.Background()
	a := anchoredTokenList(t)
	list := a.sign(t, map[string]any{"exp": a.n.clock.Now().Add(time.Hour).Unix(), "ttl": 10})
	var fetches atomic.Int32
	serving := func(ct, body string) *tamperFunc {
		f := tamperFunc(func(path string) (string, string, bool) {
			if !strings.HasPrefix(path, "/status/") {
				return "", "", false
			}
			fetches.Add(1)
			return ct, body, true
		})
		return &f
	}
	a.tamper.Store(serving(MediaTypeStatusListJWT, list))
	keep := NewStatusCheckerWith(a.src, StatusCheckerOptions{TTL: time.Minute, Now: a.n.clock.Now, KeepAnchored: true})
	check := func(after time.Duration, want int32) {
		t.Helper()
		a.n.clock.Set(a.n.clock.Now().Add(after))
		if err := keep.CheckToken(ctx, a.issuer, a.uri, a.index); err != nil {
			t.Fatalf("check: %v", err)
		}
		if got := fetches.Load(); got != want {
			t.Errorf("%d fetches, want %d", got, want)
		}
	}
	check(0, 1)
	check(5*time.Second, 1) // cached, within its ttl
	a.tamper.Store(serving("text/plain", "down"))
	check(6*time.Second, 2)  // past its ttl: the refetch fails, the list is kept
	check(5*time.Second, 2)  // kept, within its ttl
	check(6*time.Second, 3)  // past its ttl again: tried again
	check(11*time.Second, 4) // and again
}

// anchoredToken is the set-up of the KeepAnchored tests of one token
// list: a node whose lists are anchored on a ledger, an SD-JWT VC's entry
// (its list's URI and index), the server's tamper hook, and a source that
// checks the ledger's heads.
type anchoredToken struct {
	n               *node
	ch              *chain
	issuer, uri, id string
	index           int
	tamper          *atomic.Pointer[tamperFunc]
	src             *HTTPStatusSource
}

func anchoredTokenList(t *testing.T) *anchoredToken {
	t.Helper()
	served := newServedNode(t)
	srv, client := served.srv, served.client
	a := &anchoredToken{n: served.n, tamper: &served.tamper, ch: openChain(t, t.TempDir(), false)}
	served.anchor(t, a.ch)
	holder, _ := holderKey(t, gm.AlgES256)
	hj, _ := gm.NewJWK(holder.Public(), "")
	tok := mustIssue(t, a.n, identityRequest(t, a.n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &hj}).Status[0]
	a.ch.flush(t, tok.ListID)
	a.issuer, a.id, a.index = srv.URL, tok.ListID, tok.Index
	a.uri = srv.URL + "/status/" + tok.ListID
	_, a.src = remoteVerifier(t, a.n, client, a.ch.view)
	return a
}

// sign signs the anchored content of the list with the claims of extra.
func (a *anchoredToken) sign(t *testing.T, extra map[string]any) string {
	t.Helper()
	snap, err := a.ch.shared.Snapshot(context.Background(), a.id)
	if err != nil {
		t.Fatal(err)
	}
	return signTokenList(t, a.n, a.uri, snap.Version, snap.Token, extra)
}

// TestKeepAnchoredStatusList: with KeepAnchored, a cached Token Status
// List past its ttl keeps answering while its node cannot serve it, as
// long as the head anchored on the ledger has not moved; once the node
// anchored a change the checker cannot fetch, it fails closed with
// ErrStatusListChanged; a forged list at the new head is still refused,
// and the real one, fetched again, shows the revocation. Without
// KeepAnchored the list past its ttl fails at once (the control).
func TestKeepAnchoredStatusList(t *testing.T) {
	ctx := context.Background()
	served := newServedNode(t)
	n, srv, client, tamper := served.n, served.srv, served.client, &served.tamper
	ch := openChain(t, t.TempDir(), false)
	served.anchor(t, ch)
	holder, _ := holderKey(t, gm.AlgES256)
	hj, _ := gm.NewJWK(holder.Public(), "")
	sd := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &hj})
	tok := sd.Status[0]
	uri := srv.URL + "/status/" + tok.ListID
	ch.flush(t, tok.ListID)

	_, src := remoteVerifier(t, n, client, ch.view)
	keep := NewStatusCheckerWith(src, StatusCheckerOptions{TTL: time.Minute, Now: n.clock.Now, KeepAnchored: true})
	plain := NewStatusCheckerWith(src, StatusCheckerOptions{TTL: time.Minute, Now: n.clock.Now})
	for _, c := range []*StatusChecker{keep, plain} {
		if err := c.CheckToken(ctx, srv.URL, uri, tok.Index); err != nil {
			t.Fatalf("first check: %v", err)
		}
	}
	// The node down (it answers nothing usable), the lists past their ttl.
	down := tamperFunc(func(string) (string, string, bool) { return "text/plain", "down", true })
	tamper.Store(&down)
	n.clock.Set(n.clock.Now().Add(10 * time.Minute))
	if err := keep.CheckToken(ctx, srv.URL, uri, tok.Index); err != nil {
		t.Errorf("node down, head unchanged: %v", err)
	}
	if err := plain.CheckToken(ctx, srv.URL, uri, tok.Index); !errors.Is(err, ErrStatusUnavailable) {
		t.Errorf("control, without KeepAnchored: %v", err)
	}
	// Kept at most MaxKeep (1 hour) past the last fetch: the view saying
	// the head has not moved may itself be stale.
	bounded := NewStatusCheckerWith(src, StatusCheckerOptions{TTL: time.Minute, Now: n.clock.Now, KeepAnchored: true})
	tamper.Store(nil)
	if err := bounded.CheckToken(ctx, srv.URL, uri, tok.Index); err != nil {
		t.Fatalf("bounded, first check: %v", err)
	}
	tamper.Store(&down)
	n.clock.Set(n.clock.Now().Add(50 * time.Minute))
	if err := bounded.CheckToken(ctx, srv.URL, uri, tok.Index); err != nil {
		t.Errorf("kept 50 minutes: %v", err)
	}
	n.clock.Set(n.clock.Now().Add(11 * time.Minute))
	if err := bounded.CheckToken(ctx, srv.URL, uri, tok.Index); !errors.Is(err, ErrStatusUnavailable) || errors.Is(err, ErrStatusListChanged) {
		t.Errorf("kept 61 minutes: %v", err)
	}

	// The node revokes and anchors the change while it cannot be reached.
	if err := n.issuer.SetStatus(ctx, sd.ID, issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	ch.flush(t, tok.ListID)
	if err := keep.CheckToken(ctx, srv.URL, uri, tok.Index); !errors.Is(err, ErrStatusListChanged) || !errors.Is(err, ErrStatusUnavailable) {
		t.Errorf("head moved, node down: %v", err)
	}
	head, _ := ch.view.StatusHead(anchorRegion, tok.ListID)
	snap, _ := ch.shared.Snapshot(ctx, tok.ListID)
	forgedList := snap.Token
	forgedList.Set(tok.Index, status.TokenValid)
	forged := tamperFunc(func(path string) (string, string, bool) {
		if !strings.HasPrefix(path, "/status/") {
			return "", "", false
		}
		return MediaTypeStatusListJWT, mustSignTokenList(t, n, uri, head.Version, forgedList), true
	})
	tamper.Store(&forged)
	if err := keep.CheckToken(ctx, srv.URL, uri, tok.Index); !errors.Is(err, ErrStatusListForged) {
		t.Errorf("forged list at the new head: %v", err)
	}
	tamper.Store(nil)
	if err := keep.CheckToken(ctx, srv.URL, uri, tok.Index); !errors.Is(err, ErrRevoked) {
		t.Errorf("node back: %v", err)
	}
}
