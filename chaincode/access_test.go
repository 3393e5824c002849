package chaincode

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/gm"
)

// TestSecondRegionIsRefused: every write function, called by a second
// region (320000) on what the first (310000) wrote, is refused with
// ErrForbidden (ErrExists where an Add names a taken ID, ErrForeignParty
// for a sector), whatever else is wrong with the write, or, for the
// functions keyed by the caller, writes under 320000 only: 310000's
// entries are unchanged either way.
func TestSecondRegionIsRefused(t *testing.T) {
	l := consortium(t)
	iss := Issuer{ID: "did:web:310000.trustid.example:issuers:a", Types: []string{"ResidenceCredential"},
		Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive}
	l.must(t, msp31, "PutIssuer", js(t, iss))
	rp := RelyingParty{ClientID: "svc-31", JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, "rp-1")}}, Scopes: []string{"qr:redeem"}, Status: EntryActive}
	l.must(t, msp31, "AddRelyingParty", js(t, rp))
	term := Terminal{ID: "T-31", Kind: "counter", Location: "310104", Key: sm2JWK(t, 7, "T-31"), Status: EntryActive}
	l.must(t, msp31, "AddTerminal", js(t, term))
	revoked := Terminal{ID: "T-31-old", Kind: "counter", Location: "310104", Key: sm2JWK(t, 8, "T-31-old"), Status: TerminalRevoked}
	l.must(t, msp31, "AddTerminal", js(t, revoked))
	batch, err := NewBatchInput("b1", changes(2, "00000001aaaaaaaa", 1))
	if err != nil {
		t.Fatal(err)
	}
	l.must(t, msp31, "AnchorBatch", js(t, batch))
	head := []HeadInput{{List: "00000001aaaaaaaa", Version: 2, Digest: ListDigest([]byte("v2"))}}
	l.must(t, msp31, "PutStatusHeads", js(t, head))
	audit := AuditInput{Node: "node-a", Seq: 5, Head: strings.Repeat("11", 32)}
	l.must(t, msp31, "AnchorAudit", js(t, audit))
	l.must(t, msp31, "BindCredentialIDs", js(t, bindings("310000", CredentialBinding{Key: bindingKey(1), Value: bindingValue(1)})))

	// Another region's write of 310000's own entries.
	otherRP := rp
	otherRP.HomeRegion = ""
	otherTerm := term
	otherTerm.Key = sm2JWK(t, 9, "T-31")
	otherRevoked := revoked
	otherRevoked.Status = EntryActive
	otherBatch, _ := NewBatchInput("b1", changes(3, "00000001aaaaaaaa", 0))
	cases := []struct {
		name, fn string
		args     []string
		want     *Error // nil: 320000 writes its own entry
	}{
		{"RequestRegion", "RequestRegion", []string{regionInput(t, "310000", 1)}, ErrForbidden},
		{"UpdateRegion", "UpdateRegion", []string{js(t, RegionInput{Code: "310000", DID: "did:web:310000.trustid.example",
			Endpoints: []Endpoint{{Type: "api", URL: "https://evil.example"}}})}, ErrForbidden},
		{"AddRegionKey", "AddRegionKey", []string{js(t, sm2JWK(t, 11, "310000-k2"))}, nil},
		{"SetRegionKeyState", "SetRegionKeyState", []string{"310000-k1", KeyRevoked}, ErrNotFound},
		{"Vote on its own membership", "Vote", []string{ActionSuspend, "320000"}, ErrForbidden},
		{"PutIssuer", "PutIssuer", []string{js(t, iss)}, ErrForbidden},
		{"AddRelyingParty", "AddRelyingParty", []string{js(t, otherRP)}, ErrExists},
		{"PutRelyingParty", "PutRelyingParty", []string{js(t, otherRP)}, ErrForbidden},
		{"PutRelyingParty naming a version", "PutRelyingParty", []string{func() string { x := otherRP; x.Version = 7; return js(t, x) }()}, ErrForbidden},
		{"PutRelyingParty with another key of its kid", "PutRelyingParty", []string{func() string {
			x := otherRP
			x.JWKS.Keys = []gm.JWK{sm2JWK(t, 12, "rp-1")}
			return js(t, x)
		}()}, ErrForbidden},
		{"AddRelyingParty with another key of its kid", "AddRelyingParty", []string{func() string {
			x := otherRP
			x.JWKS.Keys = []gm.JWK{sm2JWK(t, 12, "rp-1")}
			return js(t, x)
		}()}, ErrExists},
		{"ClaimSector", "ClaimSector", []string{js(t, SectorClaim{Kind: SectorKindClientID, Name: "svc-31", ClientID: "svc-31"})}, ErrForeignParty},
		{"AddTerminal", "AddTerminal", []string{js(t, func() Terminal { x := term; x.Location = ""; return x }())}, ErrExists},
		{"PutTerminal", "PutTerminal", []string{js(t, func() Terminal { x := term; x.Location = ""; return x }())}, ErrForbidden},
		{"PutTerminal with another key", "PutTerminal", []string{js(t, func() Terminal { x := otherTerm; x.Location = ""; return x }())}, ErrForbidden},
		{"PutTerminal of a revoked one", "PutTerminal", []string{js(t, func() Terminal { x := otherRevoked; x.Location = ""; return x }())}, ErrForbidden},
		{"AnchorBatch", "AnchorBatch", []string{js(t, otherBatch)}, nil},
		{"PutStatusHeads", "PutStatusHeads", []string{js(t, []HeadInput{{List: "00000001aaaaaaaa", Version: 9, Digest: ListDigest([]byte("forged"))}})}, nil},
		{"AnchorAudit", "AnchorAudit", []string{js(t, AuditInput{Node: "node-a", Seq: 1, Head: strings.Repeat("22", 32)})}, nil},
		{"BindCredentialIDs", "BindCredentialIDs", []string{js(t, bindings("310000", CredentialBinding{Key: bindingKey(1), Value: bindingValue(2)}))}, ErrForbidden},
	}
	covered := map[string]bool{"Vote": true} // a vote on another region is the consortium's (TestConsortiumPolicy)
	for _, tc := range cases {
		covered[tc.fn] = true
		t.Run(tc.name, func(t *testing.T) {
			before := maps.Clone(l.st.KV)
			_, err := l.call(msp32, tc.fn, tc.args...)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want == nil && err != nil {
				t.Fatalf("320000's own write: %v", err)
			}
			// Nothing of 310000's changed.
			for k, v := range before {
				if _, attrs, _ := SplitCompositeKey(k); !bytes.Equal(l.st.KV[k], v) && !slices.Contains(attrs, "320000") {
					t.Errorf("%q changed", k)
				}
			}
			if tc.want != nil && !maps.EqualFunc(before, l.st.KV, bytes.Equal) {
				t.Error("a refused write changed the state")
			}
		})
	}
	for _, fn := range Functions() {
		if !ReadOnly(fn) && !covered[fn] {
			t.Errorf("write function %s is not tried by another region", fn)
		}
	}
}

// TestReadsOfMalformedKeys: a query naming a key attribute no composite
// key may hold (NUL, U+10FFFF, invalid UTF-8, over the key size) is
// refused as invalid, by the lists as by the gets, never an internal error.
func TestReadsOfMalformedKeys(t *testing.T) {
	l := consortium(t)
	for _, bad := range []string{"310000\x00", "\U0010FFFF", "\xff", strings.Repeat("3", 1100), strings.Repeat("3", 100000) + "\x00"} {
		for _, q := range [][]string{{"ListStatusHeads", bad}, {"ListAuditAnchors", bad}, {"GetStatusHead", bad, "00000001aaaaaaaa"},
			{"GetAuditAnchor", "310000", bad}, {"GetRegion", bad}, {"GetBatch", bad, "b1"},
			{"ListStatusHeadsPage", bad, ""}, {"ListStatusHeadsPage", "310000", bad}, {"ListIssuersPage", bad},
			{"ListAuditAnchorsPage", bad, ""}, {"ListAuditAnchorsPage", "310000", bad}} {
			_, err := l.call("", q[0], q[1:]...)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s(%.80q): %.200v, want ErrInvalid", q[0], q[1:], err)
			}
			if got := FromWire("peer: " + WireMessage(err)); !errors.Is(got, ErrInvalid) {
				t.Errorf("%s on the wire: %.200q", q[0], WireMessage(err))
			}
			if len(err.Error()) > 300 {
				t.Errorf("%s: the error repeats the argument: %d bytes", q[0], len(err.Error()))
			}
		}
	}
}

// TestErrorsDoNotRepeatLongArguments: a refusal quotes at most the first
// 64 characters of a value it names, so an argument of megabytes does not
// come back (and into the peers' and nodes' logs) in the error.
func TestErrorsDoNotRepeatLongArguments(t *testing.T) {
	l := consortium(t)
	big := strings.Repeat("x", 1<<20)
	rp := func(f func(*RelyingParty)) string {
		x := RelyingParty{ClientID: "svc-31", JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, "rp-1")}}, Scopes: []string{"qr:redeem"}, Status: EntryActive}
		f(&x)
		return js(t, x)
	}
	term := func(f func(*Terminal)) string {
		x := Terminal{ID: "T-1", Kind: "counter", Location: "310104", Key: sm2JWK(t, 7, "T-1"), Status: EntryActive}
		f(&x)
		return js(t, x)
	}
	for _, tc := range []struct {
		name, msp, fn string
		args          []string
	}{
		{"function", msp31, big, nil},
		{"caller", "Region" + big + "MSP", "AnchorAudit", []string{"{}"}},
		{"vote", msp31, "Vote", []string{ActionSuspend, big}},
		{"kid", msp31, "SetRegionKeyState", []string{big, KeyRevoked}},
		{"key state", msp31, "SetRegionKeyState", []string{"310000-k1", big}},
		{"region code", msp31, "RequestRegion", []string{js(t, RegionInput{Code: big})}},
		{"endpoint type", msp31, "UpdateRegion", []string{js(t, RegionInput{Code: "310000", DID: "did:web:310000.trustid.example", Endpoints: []Endpoint{{Type: big}}})}},
		{"home region", msp31, "AddRelyingParty", []string{rp(func(x *RelyingParty) { x.HomeRegion = big })}},
		{"scope", msp31, "AddRelyingParty", []string{rp(func(x *RelyingParty) { x.Scopes = []string{big} })}},
		{"ID token alg", msp31, "AddRelyingParty", []string{rp(func(x *RelyingParty) { x.IDTokenAlg = big })}},
		{"access token alg", msp31, "AddRelyingParty", []string{rp(func(x *RelyingParty) { x.AccessTokenAlg = big })}},
		{"terminal kind", msp31, "AddTerminal", []string{term(func(x *Terminal) { x.Kind = big })}},
		{"terminal location", msp31, "AddTerminal", []string{term(func(x *Terminal) { x.Location = big })}},
		{"audit node", msp31, "AnchorAudit", []string{js(t, AuditInput{Node: big, Seq: 1, Head: strings.Repeat("11", 32)})}},
		{"bindings region", msp31, "BindCredentialIDs", []string{js(t, BindingsInput{Region: big})}},
	} {
		_, err := l.call(tc.msp, tc.fn, tc.args...)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
		} else if len(err.Error()) > 1024 {
			t.Errorf("%s: the error repeats the argument: %d bytes: %.100s", tc.name, len(err.Error()), err)
		}
	}
}
