package redeem

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/qrtest"
	"github.com/trustid-cn/trustid/qrcode"
)

// foreignPairwise cannot open the handles it is given: a node whose
// pairwise key is not the code region's.
type foreignPairwise struct{}

func (foreignPairwise) Pairwise([]byte, identity.Sector) (string, error) {
	return "", errors.New("handle does not open")
}

// TestVerifyOfflineForParties: an offline code verified at a node answers
// the party's pairwise ID and the binding's claims it may receive, once;
// a replay, an unknown party, a code for another named verifier, a
// revoked binding, a handle this node
// cannot open and a node without an offline verifier are refused, each
// with its own error, and nothing is spent for a refused code.
func TestVerifyOfflineForParties(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	mem := newMemStore(t, nil)
	cfg := ServiceConfig{Region: "440000", Store: mem, Pairwise: hmacPairwise{key: []byte("national")}, RelyingParties: testRPs,
		Status: &memStatus{}, Offline: f.verifier(t, nil), Nonces: mem}
	s, err := NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	counter := uint64(0)
	code := func() string {
		counter++
		c, err := qrcode.NewOffline(nil, f.device, f.binding, nil, qrcode.Presentation{Time: f.now, Counter: counter, Claims: []string{"age_over_18", "age_over_60"}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := code()
	if _, err := s.VerifyOffline(ctx, "stranger", c, ""); !errors.Is(err, qrcode.ErrUnknownVerifier) {
		t.Errorf("unknown party: %v", err)
	}
	r, err := s.VerifyOffline(ctx, "hotel", c, "") // not spent by the refusal above
	want, _ := hmacPairwise{key: []byte("national")}.Pairwise(f.subject, testRPs["hotel"].PairwiseSector())
	if err != nil || r.PairwiseID != want || r.Region != "310000" || r.Assurance != qrcode.AssurancePIN || len(r.Claims) != 1 || r.Claims["age_over_18"] != "true" {
		t.Fatalf("offline code for hotel: %+v %v", r, err)
	}
	if _, err := s.VerifyOffline(ctx, "station", c, ""); !errors.Is(err, qrcode.ErrReplayed) {
		t.Errorf("the same code again: %v", err)
	}
	if r, err := s.VerifyOffline(ctx, "station", code(), ""); err != nil || r.PairwiseID == want || len(r.Claims) != 0 {
		t.Errorf("another party: %+v %v", r, err)
	}
	for aud, want := range map[string]error{"hotel": nil, "station": qrcode.ErrAudience} {
		counter++
		c, _ := qrcode.NewOffline(nil, f.device, f.binding, nil, qrcode.Presentation{Time: f.now, Counter: counter, Audience: aud})
		if _, err := s.VerifyOffline(ctx, "hotel", c, ""); !errors.Is(err, want) {
			t.Errorf("audience hint %q at hotel: %v, want %v", aud, err, want)
		}
	}
	f.status.set(qrcode.StatusRef{Region: 310000, List: 3, Index: 70001}, qrcode.StatusRevoked)
	if _, err := s.VerifyOffline(ctx, "hotel", code(), ""); !errors.Is(err, qrcode.ErrRevoked) {
		t.Errorf("revoked binding: %v", err)
	}
	f.status.set(qrcode.StatusRef{Region: 310000, List: 3, Index: 70001}, qrcode.StatusValid)

	foreign := cfg
	foreign.Pairwise = foreignPairwise{}
	sf, _ := NewService(foreign)
	if _, err := sf.VerifyOffline(ctx, "hotel", code(), ""); !errors.Is(err, ErrForeignSubject) || !errors.Is(err, qrcode.ErrNoRoute) {
		t.Errorf("a handle this node cannot open: %v", err)
	}
	none := cfg
	none.Offline = nil
	sn, _ := NewService(none)
	if _, err := sn.VerifyOffline(ctx, "hotel", code(), ""); !errors.Is(err, qrcode.ErrKind) {
		t.Errorf("no offline verifier: %v", err)
	}
}

// reorderOuter is qrtest.ReorderOuter, failing t on error.
func reorderOuter(t *testing.T, code string) string {
	t.Helper()
	out, err := qrtest.ReorderOuter(code)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifyOfflineOncePerSignedContent: an offline code is spent by what
// its device signed, not by its text: the same signed content signed again
// (another signature, another text) is a replay, and the same code with
// its outer map re-encoded is refused as malformed, before and after the
// code is spent.
func TestVerifyOfflineOncePerSignedContent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	mem := newMemStore(t, nil)
	s, err := NewService(ServiceConfig{Region: "440000", Store: mem, Pairwise: hmacPairwise{key: []byte("national")}, RelyingParties: testRPs,
		Status: &memStatus{}, Offline: f.verifier(t, nil), Nonces: mem})
	if err != nil {
		t.Fatal(err)
	}
	p := qrcode.Presentation{Time: f.now, Counter: 1, Claims: []string{"age_over_18"}}
	c1, err1 := qrcode.NewOffline(nil, f.device, f.binding, nil, p)
	c2, err2 := qrcode.NewOffline(nil, f.device, f.binding, nil, p)
	if err1 != nil || err2 != nil || c1 == c2 {
		t.Fatalf("two signatures of one presentation: %v %v", err1, err2)
	}
	if _, err := s.VerifyOffline(ctx, "hotel", reorderOuter(t, c1), ""); !errors.Is(err, qrcode.ErrNonCanonical) || qrcode.ErrorCode(err) != "qr_malformed" {
		t.Errorf("re-encoded code before use: %v", err)
	}
	if _, err := s.VerifyOffline(ctx, "hotel", c1, ""); err != nil {
		t.Fatalf("first presentation: %v", err)
	}
	if _, err := s.VerifyOffline(ctx, "hotel", reorderOuter(t, c1), ""); !errors.Is(err, qrcode.ErrNonCanonical) {
		t.Errorf("re-encoded code after use: %v", err)
	}
	if _, err := s.VerifyOffline(ctx, "station", c2, ""); !errors.Is(err, qrcode.ErrReplayed) {
		t.Errorf("the same signed content signed again: %v", err)
	}
}

// TestVerifyOfflineRefusalKeepsCode: a code refused at a node that cannot
// derive its pairwise ID (qr_no_route) is not spent: the node of its
// region, sharing the nonce store, still accepts it once.
func TestVerifyOfflineRefusalKeepsCode(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	mem := newMemStore(t, nil)
	cfg := ServiceConfig{Region: "310000", Store: mem, Pairwise: foreignPairwise{}, RelyingParties: testRPs,
		Status: &memStatus{}, Offline: f.verifier(t, nil), Nonces: mem}
	foreign, err := NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pairwise = hmacPairwise{key: []byte("national")}
	home, err := NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := qrcode.NewOffline(nil, f.device, f.binding, nil, qrcode.Presentation{Time: f.now, Counter: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := foreign.VerifyOffline(ctx, "hotel", c, ""); !errors.Is(err, ErrForeignSubject) {
		t.Fatalf("foreign handle: %v", err)
	}
	if _, err := home.VerifyOffline(ctx, "hotel", c, ""); err != nil {
		t.Errorf("the code after a refusal: %v", err)
	}
	if _, err := home.VerifyOffline(ctx, "hotel", c, ""); !errors.Is(err, qrcode.ErrReplayed) {
		t.Errorf("the code twice: %v", err)
	}
}

// TestVerifyOfflineDelegated: a guardian's offline code carrying a
// delegation answers the party's pairwise ID for the principal, with act
// the party's pairwise ID for the guardian (the one the guardian's own
// code gives it), the action and the relationship, and no claim (the
// binding's claims are the guardian's); an action outside the scope, a
// revoked delegation, an expired one and a malformed action are refused,
// each with its own error, and a refused code is not spent.
func TestVerifyOfflineDelegated(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	mem := newMemStore(t, nil)
	pw := hmacPairwise{key: []byte("national")}
	s, err := NewService(ServiceConfig{Region: "320000", Store: mem, Pairwise: pw, RelyingParties: testRPs,
		Status: &memStatus{}, Offline: f.verifier(t, nil), Nonces: mem})
	if err != nil {
		t.Fatal(err)
	}
	issuer := &qrcode.Issuer{Signer: f.issuerKey, Kid: f.kid, Region: 310000}
	principal := bytes.Repeat([]byte{0xb2}, 33)
	ref := qrcode.StatusRef{Region: 310000, List: 4, Index: 12}
	delegation := func(notBefore, expiry time.Time) []byte {
		t.Helper()
		d, err := issuer.IssueDelegation(qrcode.Delegation{Actor: f.subject, Principal: principal, Relationship: qrcode.RelGuardian,
			Scope: []string{qrcode.ActionPresent, qrcode.ActionPickup}, NotBefore: notBefore, Expiry: expiry, Status: ref})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	valid := delegation(f.now.Add(-time.Hour), f.now.Add(time.Hour))
	counter := uint64(0)
	code := func(d []byte) string {
		t.Helper()
		counter++
		c, err := qrcode.NewOffline(nil, f.device, f.binding, d, qrcode.Presentation{Time: f.now, Counter: counter, Claims: []string{"age_over_18"}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sector := testRPs["hotel"].PairwiseSector()
	wantPrincipal, _ := pw.Pairwise(principal, sector)
	wantGuardian, _ := pw.Pairwise(f.subject, sector)

	c := code(valid)
	for action, want := range map[string]error{
		qrcode.ActionMedical: qrcode.ErrDelegationScope, qrcode.ActionLogin: qrcode.ErrDelegationScope, "Pick Up": qrcode.ErrInvalidArgument,
	} {
		if _, err := s.VerifyOffline(ctx, "hotel", c, action); !errors.Is(err, want) {
			t.Errorf("action %q: %v, want %v", action, err, want)
		}
	}
	r, err := s.VerifyOffline(ctx, "hotel", c, qrcode.ActionPickup) // not spent by the refusals above
	if err != nil || r.PairwiseID != wantPrincipal || r.Act == nil || r.Act.PairwiseID != wantGuardian || r.Act.Relationship != "guardian" ||
		r.Action != qrcode.ActionPickup || r.Region != "310000" || len(r.Claims) != 0 {
		t.Fatalf("delegated code for pickup: %+v %v", r, err)
	}
	if _, err := s.VerifyOffline(ctx, "hotel", c, qrcode.ActionPickup); !errors.Is(err, qrcode.ErrReplayed) {
		t.Errorf("the delegated code again: %v", err)
	}
	// No action named: refused (a party that names none reads PairwiseID
	// as the presenter's), and the code not spent by the refusal.
	noAction := code(valid)
	if _, err := s.VerifyOffline(ctx, "hotel", noAction, ""); !errors.Is(err, qrcode.ErrDelegationScope) {
		t.Errorf("a delegated code with no action: %v", err)
	}
	if r, err := s.VerifyOffline(ctx, "hotel", noAction, qrcode.ActionPresent); err != nil || r.Action != qrcode.ActionPresent || r.PairwiseID != wantPrincipal {
		t.Errorf("present: %+v %v", r, err)
	}
	if r, err := s.VerifyOffline(ctx, "hotel", code(nil), ""); err != nil || r.PairwiseID != wantGuardian || r.Act != nil || r.Action != "" {
		t.Errorf("the guardian's own code: %+v %v", r, err)
	}

	f.status.set(ref, qrcode.StatusRevoked)
	revoked := code(valid)
	if _, err := s.VerifyOffline(ctx, "hotel", revoked, ""); !errors.Is(err, qrcode.ErrRevoked) {
		t.Errorf("revoked delegation: %v", err)
	}
	f.status.set(ref, qrcode.StatusValid)
	if _, err := s.VerifyOffline(ctx, "hotel", revoked, qrcode.ActionPresent); err != nil {
		t.Errorf("the code refused while revoked, once reinstated: %v", err)
	}
	for name, d := range map[string][]byte{
		"expired":       delegation(f.now.Add(-2*time.Hour), f.now.Add(-time.Hour)),
		"not yet valid": delegation(f.now.Add(time.Hour), f.now.Add(2*time.Hour)),
	} {
		if _, err := s.VerifyOffline(ctx, "hotel", code(d), ""); !errors.Is(err, qrcode.ErrDelegationExpired) || !errors.Is(err, qrcode.ErrDelegation) {
			t.Errorf("%s delegation: %v", name, err)
		}
	}
}
