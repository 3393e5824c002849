package oid4vci

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
	"github.com/trustid-cn/trustid/oid4vci/dpop"
	"github.com/trustid-cn/trustid/store"
)

// TestNonceChallengeCrossPurpose: a DPoP nonce is no attestation challenge and
// an attestation challenge is no DPoP nonce.
func TestNonceChallengeCrossPurpose(t *testing.T) {
	ctx := context.Background()
	m, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { m.Close() })
	provider, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	instance, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	pj, _ := gm.NewJWK(provider.Public(), "k1")
	now := time.Now()
	att, _ := attestation.Sign(provider, "k1", attestation.Attestation{Issuer: "https://wp.example", ClientID: "wallet", InstanceKey: instance.Public(), IssuedAt: now, Expires: now.Add(time.Hour)})
	s := newServiceWith(t, Config{Store: m, Login: newLogin(t, m), NonceKey: bytes.Repeat([]byte{7}, 32),
		WalletProviders: []attestation.Provider{{Issuer: "https://wp.example", Keys: []gm.JWK{pj}, ClientIDs: []string{"wallet"}}}})
	ch, err := s.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	pop, _ := attestation.NewPoP(instance, issuerURL+PathAS, ch.DPoPNonce, now, rand.Reader)
	_, err = s.PushAuthorizationRequest(ctx, authorizationRequest(t, s), nil, ClientAttestation{Attestation: []string{att}, PoP: []string{pop}})
	if code(err) != CodeUseAttestationChallenge {
		t.Errorf("DPoP nonce as challenge: %v", err)
	}
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	p, _ := dpop.NewProof(k, "POST", issuerURL+PathPAR, "", ch.AttestationChallenge, now, rand.Reader)
	pop2, _ := attestation.NewPoP(instance, issuerURL+PathAS, ch.AttestationChallenge, now, rand.Reader)
	_, err = s.PushAuthorizationRequest(ctx, authorizationRequest(t, s), []string{p}, ClientAttestation{Attestation: []string{att}, PoP: []string{pop2}})
	if code(err) != CodeUseDPoPNonce {
		t.Errorf("challenge as DPoP nonce: %v", err)
	}
}
