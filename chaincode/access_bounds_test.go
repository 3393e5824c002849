package chaincode

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/trustid-cn/trustid/gm"
)

// TestRegionKeyBounds: a region requests with 1 to 16 keys and keeps at
// most 64 in its history; each bound is exact (16 and 64 pass, 17 and 65
// are refused).
func TestRegionKeyBounds(t *testing.T) {
	l := newLedger()
	keys := func(n int, code string) []gm.JWK {
		ks := make([]gm.JWK, n)
		for i := range ks {
			ks[i] = sm2JWK(t, byte(i+1), fmt.Sprintf("%s-k%d", code, i))
		}
		return ks
	}
	in := RegionInput{Code: "310000", DID: "did:web:310000.trustid.example", Name: "node 310000", Keys: keys(17, "310000")}
	if _, err := l.call(msp31, "RequestRegion", js(t, in)); !errors.Is(err, ErrInvalid) {
		t.Errorf("17 keys: %v", err)
	}
	in.Keys = keys(16, "310000")
	l.must(t, msp31, "RequestRegion", js(t, in))
	for i := 16; i < 64; i++ {
		l.must(t, msp31, "AddRegionKey", js(t, sm2JWK(t, byte(i+1), fmt.Sprintf("310000-k%d", i))))
	}
	if _, err := l.call(msp31, "AddRegionKey", js(t, sm2JWK(t, 65, "310000-k64"))); !errors.Is(err, ErrInvalid) {
		t.Errorf("65th key: %v", err)
	}
	if r := region(t, l, "310000"); len(r.Keys) != 64 {
		t.Errorf("%d keys", len(r.Keys))
	}
}

// TestUpdateRegionRefusesKeys: keys change through AddRegionKey and
// SetRegionKeyState only; an UpdateRegion naming keys is refused rather
// than taken with its keys silently dropped.
func TestUpdateRegionRefusesKeys(t *testing.T) {
	l := consortium(t)
	in := RegionInput{Code: "310000", DID: "did:web:310000.trustid.example", Name: "node 310000",
		Keys: []gm.JWK{sm2JWK(t, 40, "310000-new")}}
	if _, err := l.call(msp31, "UpdateRegion", js(t, in)); !errors.Is(err, ErrInvalid) {
		t.Errorf("UpdateRegion with keys: %v", err)
	}
	if r := region(t, l, "310000"); len(r.Keys) != 1 || r.Keys[0].Kid != "310000-k1" {
		t.Errorf("keys: %+v", r.Keys)
	}
}

// negated returns j's point negated (same X, the other Y): another key.
func negated(t *testing.T, j gm.JWK) gm.JWK {
	t.Helper()
	y, err := base64.RawURLEncoding.DecodeString(j.Y)
	if err != nil {
		t.Fatal(err)
	}
	ny := new(big.Int).Sub(sm2.P256().Params().P, new(big.Int).SetBytes(y))
	j.Y = base64.RawURLEncoding.EncodeToString(ny.FillBytes(make([]byte, 32)))
	return j
}

// TestKidKeepsItsKey: a stored kid of an issuer, a relying party or a
// terminal may not name another key, even one that differs from it only
// in Y (the negated point, a valid key of its own).
func TestKidKeepsItsKey(t *testing.T) {
	l := consortium(t)
	k := sm2JWK(t, 5, "k-1")
	other := negated(t, k)
	if _, err := checkJWK(other); err != nil {
		t.Fatalf("negated point: %v", err)
	}
	iss := Issuer{ID: "did:web:310000.trustid.example:issuers:a", Types: []string{"ResidenceCredential"},
		Keys: []RegistryKey{{JWK: k}}, Status: EntryActive}
	l.must(t, msp31, "PutIssuer", js(t, iss))
	iss.Keys = []RegistryKey{{JWK: other}}
	if _, err := l.call(msp31, "PutIssuer", js(t, iss)); !errors.Is(err, ErrInvalid) {
		t.Errorf("issuer kid with the negated key: %v", err)
	}
	rp := RelyingParty{ClientID: "svc-31", JWKS: gm.JWKS{Keys: []gm.JWK{k}}, Scopes: []string{"qr:redeem"}, Status: EntryActive}
	l.must(t, msp31, "PutRelyingParty", js(t, rp))
	rp.JWKS.Keys = []gm.JWK{other}
	if _, err := l.call(msp31, "PutRelyingParty", js(t, rp)); !errors.Is(err, ErrInvalid) {
		t.Errorf("relying party kid with the negated key: %v", err)
	}
	term := Terminal{ID: "T-31", Kind: "counter", Key: k, Status: EntryActive}
	l.must(t, msp31, "PutTerminal", js(t, term))
	term.Key = other
	if _, err := l.call(msp31, "PutTerminal", js(t, term)); !errors.Is(err, ErrInvalid) {
		t.Errorf("terminal with the negated key: %v", err)
	}
}

// TestNewEntryNamingAnotherRegion: a new issuer, relying party or
// terminal naming another registered region is refused, not stamped
// with the caller's region.
func TestNewEntryNamingAnotherRegion(t *testing.T) {
	l := consortium(t)
	iss := Issuer{ID: "did:web:320000.trustid.example:issuers:a", Region: "310000", Types: []string{"ResidenceCredential"},
		Keys: []RegistryKey{{JWK: sm2JWK(t, 5, "iss-1")}}, Status: EntryActive}
	rp := RelyingParty{ClientID: "svc-32", HomeRegion: "310000", JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, "rp-1")}}, Scopes: []string{"qr:redeem"}, Status: EntryActive}
	term := Terminal{ID: "T-32", Region: "310000", Kind: "counter", Key: sm2JWK(t, 7, "T-32"), Status: EntryActive}
	for _, w := range []struct{ fn, arg, get, id string }{
		{"PutIssuer", js(t, iss), "GetIssuer", iss.ID},
		{"AddRelyingParty", js(t, rp), "GetRelyingParty", rp.ClientID},
		{"AddTerminal", js(t, term), "GetTerminal", term.ID},
	} {
		if _, err := l.call(msp32, w.fn, w.arg); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s naming 310000 by 320000: %v", w.fn, err)
		}
		if _, err := l.call("", w.get, w.id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s %s stored: %v", w.get, w.id, err)
		}
	}
}

// TestRedirectURISchemes: a relying party's redirect URIs are https, or
// http on a loopback host only (RFC 8252 section 7.3); any other scheme
// or plain http elsewhere is refused.
func TestRedirectURISchemes(t *testing.T) {
	l := consortium(t)
	rp := RelyingParty{ClientID: "svc-31", JWKS: gm.JWKS{Keys: []gm.JWK{sm2JWK(t, 6, "rp-1")}}, Scopes: []string{"openid"}, Status: EntryActive}
	for _, u := range []string{"https://rp.example/cb", "http://localhost:8080/cb", "http://127.0.0.1/cb", "http://[::1]/cb"} {
		x := rp
		x.RedirectURIs = []string{u}
		l.must(t, msp31, "PutRelyingParty", js(t, x))
	}
	for _, u := range []string{"http://rp.example/cb", "ftp://rp.example/cb", "http://localhost.rp.example/cb", "wss://rp.example/cb", "ftp://localhost/cb"} {
		for _, post := range []bool{false, true} {
			x := rp
			if post {
				x.PostLogoutRedirectURIs = []string{u}
			} else {
				x.RedirectURIs = []string{u}
			}
			if _, err := l.call(msp31, "PutRelyingParty", js(t, x)); !errors.Is(err, ErrInvalid) {
				t.Errorf("redirect %s (post-logout %v): %v", u, post, err)
			}
		}
	}
}

// TestRevokedTerminalStaysRevoked: a revoked terminal cannot be put back
// to active or suspended by its own region, with the same key.
func TestRevokedTerminalStaysRevoked(t *testing.T) {
	l := consortium(t)
	term := Terminal{ID: "T-31", Kind: "counter", Key: sm2JWK(t, 7, "T-31"), Status: TerminalRevoked}
	l.must(t, msp31, "AddTerminal", js(t, term))
	for _, s := range []string{EntryActive, EntrySuspended} {
		term.Status = s
		if _, err := l.call(msp31, "PutTerminal", js(t, term)); !errors.Is(err, ErrKeyTransition) {
			t.Errorf("revoked → %s: %v", s, err)
		}
	}
	var got Terminal
	json.Unmarshal(l.must(t, "", "GetTerminal", term.ID), &got)
	if got.Status != TerminalRevoked {
		t.Errorf("status %s", got.Status)
	}
}

// TestWritesNeedAnActiveRegion: a pending (not admitted) or a suspended
// region may not anchor a status batch, status heads or an audit anchor,
// nor claim a sector for a relying party of its own, though each input is
// well formed.
func TestWritesNeedAnActiveRegion(t *testing.T) {
	l := consortium(t)
	l.must(t, msp44, "RequestRegion", regionInput(t, "440000", 3))
	batch, err := NewBatchInput("b1", changes(2, "00000001aaaaaaaa", 1))
	if err != nil {
		t.Fatal(err)
	}
	writes := [][2]string{
		{"AnchorBatch", js(t, batch)},
		{"PutStatusHeads", js(t, []HeadInput{{List: "00000001aaaaaaaa", Version: 1, Digest: ListDigest([]byte("v1"))}})},
		{"AnchorAudit", js(t, AuditInput{Node: "n", Seq: 1, Head: fmt.Sprintf("%064d", 1)})},
		{"ClaimSector", js(t, SectorClaim{Kind: SectorKindClientID, Name: "svc-new", ClientID: "svc-new"})},
	}
	try := func(msp, why string) {
		t.Helper()
		for _, w := range writes {
			if _, err := l.call(msp, w[0], w[1]); !errors.Is(err, ErrForbidden) {
				t.Errorf("%s by a %s region: %v", w[0], why, err)
			}
		}
	}
	try(msp44, "pending")
	l.must(t, msp31, "Vote", ActionSuspend, "320000")
	try(msp32, "suspended")
	if _, err := l.call("", "GetBatch", "320000", "b1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("batch of the suspended region stored: %v", err)
	}
	if _, err := l.call("", "GetSector", SectorKindClientID, "svc-new"); !errors.Is(err, ErrNotFound) {
		t.Errorf("sector claimed: %v", err)
	}
}

// TestStatusHeadsInputBounds: PutStatusHeads takes 1 to MaxHeads heads,
// each list once.
func TestStatusHeadsInputBounds(t *testing.T) {
	l := consortium(t)
	d := ListDigest([]byte("v1"))
	heads := make([]HeadInput, MaxHeads+1)
	for i := range heads {
		heads[i] = HeadInput{List: fmt.Sprintf("%016x", i), Version: 1, Digest: d}
	}
	if _, err := l.call(msp31, "PutStatusHeads", js(t, heads)); !errors.Is(err, ErrInvalid) {
		t.Errorf("%d heads: %v", len(heads), err)
	}
	l.must(t, msp31, "PutStatusHeads", js(t, heads[:MaxHeads]))
	if _, err := l.call(msp31, "PutStatusHeads", js(t, []HeadInput{{List: "0000000baaaaaaaa", Version: 1, Digest: d}, {List: "0000000baaaaaaaa", Version: 2, Digest: d}})); !errors.Is(err, ErrInvalid) {
		t.Errorf("list repeated: %v", err)
	}
	if _, err := l.call(msp31, "PutStatusHeads", js(t, []HeadInput{{List: "0000000baaaaaaaa", Version: 0, Digest: d}})); !errors.Is(err, ErrInvalid) {
		t.Errorf("version 0: %v", err)
	}
	if _, err := l.call("", "GetStatusHead", "310000", "0000000baaaaaaaa"); !errors.Is(err, ErrNotFound) {
		t.Errorf("head of the refused call stored: %v", err)
	}
}
