package oid4vci

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
)

// TestPARWalletAttestation: a pushed authorization request with a wallet
// attestation for its client_id is taken, with a fresh challenge in the
// answer; one for another client_id, or without the challenge, is
// refused with a fresh challenge and leaves the issuer_state unspent.
// Required, a push without one is invalid_client and an authorization
// request not pushed is refused.
func TestPARWalletAttestation(t *testing.T) {
	ctx := context.Background()
	m := memoryStore(t)
	provider, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	instance, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	pj, _ := gm.NewJWK(provider.Public(), "k1")
	providers := []attestation.Provider{{Issuer: "https://wp.example", Keys: []gm.JWK{pj}, ClientIDs: []string{"wallet"}}}
	now := time.Now()
	att, err := attestation.Sign(provider, "k1", attestation.Attestation{Issuer: "https://wp.example", ClientID: "wallet", InstanceKey: instance.Public(), IssuedAt: now, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	pop := func(challenge string) []string {
		p, err := attestation.NewPoP(instance, issuerURL+PathAS, challenge, now, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return []string{p}
	}
	for _, required := range []bool{false, true} {
		s := newServiceWith(t, Config{Store: m, Login: newLogin(t, m), WalletProviders: providers, RequireWalletAttestation: required})
		q := authorizationRequest(t, s)
		ch, err := s.Challenge()
		if err != nil || ch.AttestationChallenge == "" || ch.DPoPNonce == "" {
			t.Fatalf("challenge: %+v %v", ch, err)
		}
		_, err = s.PushAuthorizationRequest(ctx, q, nil, ClientAttestation{Attestation: []string{att}, PoP: pop("")})
		if code(err) != CodeUseAttestationChallenge || AttestationChallengeOf(err) == "" {
			t.Errorf("required %v, no challenge: %v", required, err)
		}
		other := authorizationRequest(t, s)
		other.Set("client_id", "other-wallet")
		_, err = s.PushAuthorizationRequest(ctx, other, nil, ClientAttestation{Attestation: []string{att}, PoP: pop(ch.AttestationChallenge)})
		if code(err) != CodeInvalidClientAttestation || AttestationChallengeOf(err) == "" {
			t.Errorf("required %v, another client_id: %v", required, err)
		}
		_, err = s.PushAuthorizationRequest(ctx, authorizationRequest(t, s), nil, ClientAttestation{})
		if required != (code(err) == CodeInvalidClient && errors.Is(err, ErrNoAttestation)) {
			t.Errorf("required %v, no attestation: %v", required, err)
		}
		resp, err := s.PushAuthorizationRequest(ctx, q, nil, ClientAttestation{Attestation: []string{att}, PoP: pop(ch.AttestationChallenge)})
		if err != nil || resp.AttestationChallenge == "" {
			t.Fatalf("required %v, attested push: %+v %v", required, resp, err)
		}
		_, err = s.Authorize(ctx, authorizationRequest(t, s))
		var ae *login.AuthorizeError
		if required != (errors.As(err, &ae) && ae.Err.Code == CodeInvalidRequest && ae.RedirectURI == "") {
			t.Errorf("required %v, an authorization request not pushed: %v", required, err)
		}
	}
}

// TestAttestationWithoutChallenge: with AttestationWithoutChallenge a PoP
// without a challenge is taken (once: its jti), one with a challenge the
// node did not give is still refused.
func TestAttestationWithoutChallenge(t *testing.T) {
	ctx := context.Background()
	m := memoryStore(t)
	provider, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	instance, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	pj, _ := gm.NewJWK(provider.Public(), "")
	now := time.Now()
	att, _ := attestation.Sign(provider, "", attestation.Attestation{Issuer: "https://wp.example", ClientID: "wallet", InstanceKey: instance.Public(), IssuedAt: now, Expires: now.Add(time.Hour)})
	s := newServiceWith(t, Config{Store: m, Login: newLogin(t, m), AttestationWithoutChallenge: true,
		WalletProviders: []attestation.Provider{{Issuer: "https://wp.example", Keys: []gm.JWK{pj}, ClientIDs: []string{"wallet"}}}})
	none, _ := attestation.NewPoP(instance, issuerURL+PathAS, "", now, rand.Reader)
	if _, err := s.PushAuthorizationRequest(ctx, authorizationRequest(t, s), nil, ClientAttestation{Attestation: []string{att}, PoP: []string{none}}); err != nil {
		t.Fatalf("a PoP without a challenge: %v", err)
	}
	if _, err := s.PushAuthorizationRequest(ctx, authorizationRequest(t, s), nil, ClientAttestation{Attestation: []string{att}, PoP: []string{none}}); code(err) != CodeInvalidClientAttestation {
		t.Errorf("the same PoP again: %v", err)
	}
	forged, _ := attestation.NewPoP(instance, issuerURL+PathAS, "made-up-challenge", now, rand.Reader)
	if _, err := s.PushAuthorizationRequest(ctx, authorizationRequest(t, s), nil, ClientAttestation{Attestation: []string{att}, PoP: []string{forged}}); code(err) != CodeUseAttestationChallenge {
		t.Errorf("a made-up challenge: %v", err)
	}
}
