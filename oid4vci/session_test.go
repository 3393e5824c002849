package oid4vci

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vci/dpop"
)

// TestAccessTokenSchemes: the credential endpoint takes an access token
// only with the scheme its binding asks for (RFC 9449 §7.1): a Bearer
// token with Bearer, never with DPoP or another scheme; a DPoP-bound
// token only with DPoP and a proof of its key, sent once; each refusal
// with its own error code, and the token still good for the right
// request after.
func TestAccessTokenSchemes(t *testing.T) {
	m := memoryStore(t)
	ctx := context.Background()
	now := time.Now()
	s := newServiceWith(t, Config{Store: m, Now: func() time.Time { return now }, NonceKey: bytes.Repeat([]byte{1}, 32)})

	bearer, body := vciSession(t, s)
	for _, scheme := range []string{"Basic", "DPoP"} {
		_, err := s.Credential(ctx, Access{Scheme: scheme, Token: bearer.Token}, body(1))
		if code(err) != CodeInvalidToken {
			t.Errorf("a Bearer token with scheme %s: %v; want invalid_token", scheme, err)
		}
	}
	if _, err := s.Credential(ctx, bearer, body(1)); err != nil {
		t.Fatalf("the Bearer token with Bearer: %v", err)
	}

	// A DPoP-bound token.
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	other, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	nonce, err := s.dpopNonce()
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := dpop.NewProof(k, "POST", issuerURL+PathToken, "", nonce, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, o), DPoP: []string{tp}})
	if err != nil || tok.TokenType != "DPoP" {
		t.Fatalf("DPoP token: %v %+v", err, tok)
	}
	proofBy := func(signer crypto.Signer) string {
		p, err := dpop.NewProof(signer, "POST", issuerURL+PathCredential, tok.AccessToken, nonce, now, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, err = s.Credential(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, body(1))
	if code(err) != CodeInvalidToken || !errors.Is(err, ErrDPoPBound) {
		t.Errorf("the DPoP-bound token with Bearer: %v; want invalid_token (ErrDPoPBound)", err)
	}
	for name, proofs := range map[string][]string{
		"a proof by another key": {proofBy(other)},
		"two proofs":             {proofBy(k), proofBy(k)},
	} {
		if _, err := s.Credential(ctx, Access{Scheme: "DPoP", Token: tok.AccessToken, DPoP: proofs}, body(1)); code(err) != CodeInvalidDPoPProof {
			t.Errorf("the DPoP-bound token with %s: %v; want invalid_dpop_proof", name, err)
		}
	}
	if _, err := s.Credential(ctx, Access{Scheme: "DPoP", Token: tok.AccessToken, DPoP: []string{proofBy(k)}}, body(1)); err != nil {
		t.Fatalf("the DPoP-bound token with its key's proof: %v", err)
	}
}

// withApprovedCode returns a service over a memory store whose login
// approves every authorization request, and the authorization code of
// an approved request.
func withApprovedCode(t *testing.T) (*Service, string) {
	t.Helper()
	m := memoryStore(t)
	lp := approvingLogin(t, m)
	s := newServiceWith(t, Config{Store: m, Login: lp})
	return s, approvedCode(t, s, lp, authorizationRequest(t, s))
}

// TestReplayedCodeRevokesItsToken: an authorization code redeemed a
// second time revokes the access token the first redemption got (RFC
// 6749 §4.1.2, "SHOULD revoke ... all tokens previously issued based on
// that authorization code"): the credential endpoint then refuses it.
func TestReplayedCodeRevokesItsToken(t *testing.T) {
	ctx := context.Background()
	s, c := withApprovedCode(t)
	tok, err := s.Token(ctx, codeRequest(c))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, codeRequest(c)); code(err) != CodeInvalidGrant {
		t.Fatalf("the code again: %v; want invalid_grant", err)
	}
	_, body := vciSession(t, s)
	if _, err := s.Credential(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, body(1)); code(err) != CodeInvalidToken {
		t.Errorf("the token of a replayed code: %v; want invalid_token", err)
	}
}

// TestAuthorizationCodeRequestIncomplete: a token request for an
// authorization code without redirect_uri or client_id is invalid_request
// and leaves the code to the complete request.
func TestAuthorizationCodeRequestIncomplete(t *testing.T) {
	ctx := context.Background()
	s, c := withApprovedCode(t)
	noRedirect, noClient := codeRequest(c), codeRequest(c)
	noRedirect.RedirectURI, noClient.ClientID = "", ""
	for name, req := range map[string]TokenRequest{"no redirect_uri": noRedirect, "no client_id": noClient} {
		if _, err := s.Token(ctx, req); code(err) != CodeInvalidRequest {
			t.Errorf("%s: %v; want invalid_request", name, err)
		}
	}
	if _, err := s.Token(ctx, codeRequest(c)); err != nil {
		t.Errorf("the complete request after: %v", err)
	}
}
