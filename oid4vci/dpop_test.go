package oid4vci

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vci/dpop"
)

// writeCounter counts the writes to a real store.
type writeCounter struct {
	Store
	writes atomic.Int32
}

func (w *writeCounter) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	w.writes.Add(1)
	return w.Store.Set(ctx, key, v, ttl)
}

func (w *writeCounter) Put(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	w.writes.Add(1)
	return w.Store.Put(ctx, key, v, ttl)
}

// TestDPoPNoncesStateless: a DPoP nonce costs no store write; one
// instance's nonce passes at another with the region's key; a nonce of
// another key, an expired one and a tampered one are use_dpop_nonce with
// a fresh nonce; and an error after an accepted proof carries the next
// nonce (RFC 9449 §8).
func TestDPoPNoncesStateless(t *testing.T) {
	stores(t, func(t *testing.T, st Store) {
		ctx := context.Background()
		key := bytes.Repeat([]byte{1}, 32)
		now := time.Now()
		clock := func() time.Time { return now }
		counted := &writeCounter{Store: st}
		a := newServiceWith(t, Config{Store: counted, Now: clock, NonceKey: key})
		b := newServiceWith(t, Config{Store: st, Now: clock, NonceKey: key})
		other := newServiceWith(t, Config{Store: st, Now: clock, NonceKey: bytes.Repeat([]byte{2}, 32)})
		k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
		tokenProof := func(nonce string) []string {
			p, err := dpop.NewProof(k, "POST", issuerURL+PathToken, "", nonce, now, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return []string{p}
		}
		offer := func() string {
			o, err := a.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
			if err != nil {
				t.Fatal(err)
			}
			return preAuthCode(t, o)
		}
		c := offer()
		// No nonce: use_dpop_nonce with one, and nothing written.
		counted.writes.Store(0)
		_, err := a.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c, DPoP: tokenProof("")})
		fresh := DPoPNonceOf(err)
		if code(err) != CodeUseDPoPNonce || fresh == "" || counted.writes.Load() != 0 {
			t.Fatalf("no nonce: %v, nonce %q, %d writes", err, fresh, counted.writes.Load())
		}
		otherNonce, err := other.dpopNonce()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(fresh)
		raw[len(raw)-1] ^= 1
		tampered := base64.RawURLEncoding.EncodeToString(raw)
		// A nonce given one NonceTTL (5 minutes) ago is expired.
		now = now.Add(-5 * time.Minute)
		expired, _ := a.dpopNonce()
		now = now.Add(5 * time.Minute)
		for name, n := range map[string]string{"another key": otherNonce, "expired": expired, "tampered": tampered} {
			_, err := a.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c, DPoP: tokenProof(n)})
			next := DPoPNonceOf(err)
			if code(err) != CodeUseDPoPNonce || next == "" || next == n || !a.nonces.Valid(next) {
				t.Errorf("%s: %v, nonce %q", name, err, next)
			}
		}
		// A's nonce at B (another instance, the same key): the proof
		// passes; the wrong code then is invalid_grant, with a nonce.
		_, err = b.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: "x", DPoP: tokenProof(fresh)})
		if code(err) != CodeInvalidGrant || !b.nonces.Valid(DPoPNonceOf(err)) {
			t.Fatalf("a wrong code after an accepted proof: %v, nonce %q", err, DPoPNonceOf(err))
		}
		resp, err := b.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c, DPoP: tokenProof(fresh)})
		if err != nil || resp.TokenType != "DPoP" || !a.nonces.Valid(resp.DPoPNonce) {
			t.Fatalf("token with another instance's nonce: %v %+v", err, resp)
		}
	})
}

// TestDPoPProofSpentOnce: a DPoP proof is good for one request; the same
// proof (its jti) again is invalid_dpop_proof, even with a valid code.
func TestDPoPProofSpentOnce(t *testing.T) {
	stores(t, func(t *testing.T, st Store) {
		ctx := context.Background()
		now := time.Now()
		s := newServiceWith(t, Config{Store: st, Now: func() time.Time { return now }, NonceKey: bytes.Repeat([]byte{1}, 32)})
		k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
		nonce, err := s.dpopNonce()
		if err != nil {
			t.Fatal(err)
		}
		p, err := dpop.NewProof(k, "POST", issuerURL+PathToken, "", nonce, now, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []string{"", CodeInvalidDPoPProof} {
			o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, o), DPoP: []string{p}}); code(err) != want {
				t.Errorf("use %d of one proof: %v, want %q", i+1, err, want)
			}
		}
	})
}

// TestCNoncesStateless: the public nonce endpoint writes nothing to the
// store (before, each c_nonce was an entry kept 5 minutes, so a flood
// of nonce requests from many addresses filled the memory store, whose
// cap then refused every new key: rate limits and logins too). A
// c_nonce of one instance is spent at another with the region's key,
// once; one of another key, an expired one and a made-up one are
// invalid_nonce.
func TestCNoncesStateless(t *testing.T) {
	stores(t, func(t *testing.T, st Store) {
		ctx := context.Background()
		key := bytes.Repeat([]byte{1}, 32)
		now := time.Now()
		clock := func() time.Time { return now }
		counted := &writeCounter{Store: st}
		a := newServiceWith(t, Config{Store: counted, Now: clock, NonceKey: key})
		b := newServiceWith(t, Config{Store: st, Now: clock, NonceKey: key})
		other := newServiceWith(t, Config{Store: st, Now: clock, NonceKey: bytes.Repeat([]byte{2}, 32)})
		const n = 200
		var first string
		for i := range n {
			r, err := a.Nonce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = r.CNonce
			}
		}
		if w := counted.writes.Load(); w != 0 {
			t.Fatalf("%d nonce requests wrote %d store entries, want none", n, w)
		}
		credential := func(nonce string) error {
			o, err := b.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := b.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, o)})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{proof(t, nonce, now)}}})
			_, err = b.Credential(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, body)
			return err
		}
		if err := credential(first); err != nil {
			t.Fatalf("a c_nonce of another instance with the same key: %v", err)
		}
		if err := credential(first); code(err) != CodeInvalidNonce {
			t.Errorf("the spent c_nonce again: %v, want invalid_nonce", err)
		}
		foreign, _ := other.Nonce(ctx)
		now = now.Add(-5 * time.Minute)
		expired, _ := a.Nonce(ctx)
		now = now.Add(5 * time.Minute)
		for name, nonce := range map[string]string{"another key": foreign.CNonce, "expired": expired.CNonce, "made up": strings.Repeat("A", 43)} {
			if err := credential(nonce); code(err) != CodeInvalidNonce {
				t.Errorf("%s: %v, want invalid_nonce", name, err)
			}
		}
	})
}

// TestDPoPProofsOfRefusedRequestsWriteNothing: a DPoP proof's jti is
// marked only for a request naming a live code or a push the node keeps.
// Before, every token or PAR request with a valid proof (anyone's key,
// a nonce anyone gets) marked its jti for 7 minutes before its code or
// client was looked at, so made-up codes filled the store as fast as the
// rate limit let them. A proof with a live code is still marked: used
// again it is refused.
func TestDPoPProofsOfRefusedRequestsWriteNothing(t *testing.T) {
	m := memoryStore(t)
	ctx := context.Background()
	now := time.Now()
	s := newServiceWith(t, Config{Store: m, Login: newLogin(t, m), Now: func() time.Time { return now }, NonceKey: bytes.Repeat([]byte{1}, 32)})
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	nonce, err := s.dpopNonce()
	if err != nil {
		t.Fatal(err)
	}
	proofFor := func(path string) []string {
		p, err := dpop.NewProof(k, "POST", issuerURL+path, "", nonce, now, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return []string{p}
	}
	entries := func() int {
		keys, err := m.StoredKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	before := entries()
	const n = 50
	for range n {
		made := strings.Repeat("A", 43)
		if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: made, DPoP: proofFor(PathToken)}); code(err) != CodeInvalidGrant {
			t.Fatalf("a made-up pre-authorized code: %v, want invalid_grant", err)
		}
		if _, err := s.Token(ctx, TokenRequest{GrantType: GrantAuthorizationCode, Code: made, ClientID: "wallet", RedirectURI: walletRedirect,
			CodeVerifier: strings.Repeat("v", 43), DPoP: proofFor(PathToken)}); code(err) != CodeInvalidGrant {
			t.Fatalf("a made-up authorization code: %v, want invalid_grant", err)
		}
		q := url.Values{"client_id": {"nobody"}, "redirect_uri": {walletRedirect}, "response_type": {"code"}}
		if _, err := s.PushAuthorizationRequest(ctx, q, proofFor(PathPAR), ClientAttestation{}); err == nil {
			t.Fatal("a push of an unknown client was kept")
		}
	}
	if grown := entries() - before; grown != 0 {
		t.Fatalf("%d refused requests with valid DPoP proofs left %d store entries, want none", 3*n, grown)
	}
	// A live code: the proof is marked, and refused the second time.
	p := proofFor(PathToken)
	for i, want := range []string{"", CodeInvalidDPoPProof} {
		o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, o), DPoP: p}); code(err) != want {
			t.Errorf("use %d of one proof with a live code: %v, want %q", i+1, err, want)
		}
	}
	// A kept push marks its proof too.
	pp := proofFor(PathPAR)
	if _, err := s.PushAuthorizationRequest(ctx, authorizationRequest(t, s), pp, ClientAttestation{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PushAuthorizationRequest(ctx, authorizationRequest(t, s), pp, ClientAttestation{}); code(err) != CodeInvalidDPoPProof {
		t.Errorf("a push's proof again: %v, want invalid_dpop_proof", err)
	}
}

// TestPushedDPoPJKTOfAnotherKey: a push with a DPoP proof and a dpop_jkt
// that is not the proof's key's thumbprint (or two dpop_jkt) is
// invalid_dpop_proof and keeps nothing (RFC 9449 §10.1: "the
// authorization server ... MUST check that the dpop_jkt parameter value
// matches the JWK SHA-256 Thumbprint ... of the DPoP proof's key"); with
// the proof's own thumbprint it is kept.
func TestPushedDPoPJKTOfAnotherKey(t *testing.T) {
	m := memoryStore(t)
	ctx := context.Background()
	now := time.Now()
	s := newServiceWith(t, Config{Store: m, Login: newLogin(t, m), Now: func() time.Time { return now }, NonceKey: bytes.Repeat([]byte{1}, 32)})
	nonce, err := s.dpopNonce()
	if err != nil {
		t.Fatal(err)
	}
	thumb := func(k crypto.Signer) string {
		j, err := gm.NewJWK(k.Public(), "")
		if err != nil {
			t.Fatal(err)
		}
		tp, err := j.Thumbprint()
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	other, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	for name, jkts := range map[string][]string{"another key's": {thumb(other)}, "two": {thumb(k), thumb(k)}, "its own": {thumb(k)}} {
		p, err := dpop.NewProof(k, "POST", issuerURL+PathPAR, "", nonce, now, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		q := authorizationRequest(t, s)
		q["dpop_jkt"] = jkts
		_, err = s.PushAuthorizationRequest(ctx, q, []string{p}, ClientAttestation{})
		if want := CodeInvalidDPoPProof; name == "its own" {
			if err != nil {
				t.Errorf("dpop_jkt, its own key's: %v", err)
			}
		} else if code(err) != want {
			t.Errorf("dpop_jkt, %s: %v; want %s", name, err, want)
		}
	}
}
