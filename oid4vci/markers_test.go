package oid4vci

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
	"github.com/trustid-cn/trustid/oid4vci/dpop"
)

// markerTTLs records the ttl of every replay marker written to a real
// store, by the key's prefix up to its second colon.
type markerTTLs struct {
	Store
	mu   sync.Mutex
	ttls map[string]time.Duration
}

func (m *markerTTLs) MarkUsed(ctx context.Context, key string, ttl time.Duration) error {
	m.mu.Lock()
	m.ttls[strings.Join(strings.SplitN(key, ":", 3)[:2], ":")] = ttl
	m.mu.Unlock()
	return m.Store.MarkUsed(ctx, key, ttl)
}

// TestMarkerLifetimes pins the lifetimes docs/operations.md ("What the
// node keeps, and for how long") and docs/oid4vci.md give OID4VCI's
// single-use markers: a spent c_nonce 6 minutes (NonceTTL and a minute),
// a DPoP proof's and a wallet attestation PoP's jti 7 minutes
// (ProofMaxAge and a minute of leeway on either side).
func TestMarkerLifetimes(t *testing.T) {
	ctx := context.Background()
	m := memoryStore(t)
	rec := &markerTTLs{Store: m, ttls: map[string]time.Duration{}}
	now := time.Now()
	provider, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	instance, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	pj, _ := gm.NewJWK(provider.Public(), "k1")
	providers := []attestation.Provider{{Issuer: "https://wp.example", Keys: []gm.JWK{pj}, ClientIDs: []string{"wallet"}}}
	s := newServiceWith(t, Config{Store: rec, Now: func() time.Time { return now }, NonceKey: bytes.Repeat([]byte{1}, 32), Login: newLogin(t, m), WalletProviders: providers})

	// A DPoP-bound pre-authorized token, then a credential: the DPoP jti
	// and the c_nonce.
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	nonce, err := s.dpopNonce()
	if err != nil {
		t.Fatal(err)
	}
	p, err := dpop.NewProof(k, "POST", issuerURL+PathToken, "", nonce, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, o), DPoP: []string{p}}); err != nil {
		t.Fatal(err)
	}
	o, err = s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, o)})
	if err != nil {
		t.Fatal(err)
	}
	cn, err := s.Nonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{proof(t, cn.CNonce, now)}}})
	if _, err := s.Credential(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, body); err != nil {
		t.Fatal(err)
	}

	// An attested push: the attestation PoP's jti.
	att, err := attestation.Sign(provider, "k1", attestation.Attestation{Issuer: "https://wp.example", ClientID: "wallet", InstanceKey: instance.Public(), IssuedAt: now, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	pop, err := attestation.NewPoP(instance, issuerURL+PathAS, ch.AttestationChallenge, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PushAuthorizationRequest(ctx, authorizationRequest(t, s), nil, ClientAttestation{Attestation: []string{att}, PoP: []string{pop}}); err != nil {
		t.Fatal(err)
	}

	for key, want := range map[string]time.Duration{
		"oid4vci:nonce":      6 * time.Minute,
		"oid4vci:dpop-jti":   7 * time.Minute,
		"oid4vci:attest-jti": 7 * time.Minute,
	} {
		if got, ok := rec.ttls[key]; !ok || got != want {
			t.Errorf("%s marker kept %v (written %v), want %v", key, got, ok, want)
		}
	}
}
