package oid4vci

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
	"github.com/trustid-cn/trustid/oid4vci/dpop"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// alice authenticates every holder request as Alice at L2.
type alice struct{}

func (alice) CheckHolder(context.Context, *qrcode.HolderRequest, string) (redeem.Holder, error) {
	return redeem.Holder{Subject: []byte("alice"), Assurance: int(identity.L2)}, nil
}

func (alice) SpendHolder(context.Context, *qrcode.HolderRequest, string, redeem.Holder) error {
	return nil
}

// alicesSub gives Alice the pairwise sub authorizationRequest's offer is for.
type alicesSub struct{}

func (alicesSub) Pairwise([]byte, identity.Sector) (string, error) {
	return "pairwise-sub-of-alice", nil
}

// approvingLogin is newLogin whose holder approvals are Alice's, with the
// offering client "bureau" registered too.
func approvingLogin(t *testing.T, st login.Store) *login.Provider {
	t.Helper()
	return approvingLoginWith(t, st, alice{}, nil)
}

// approvingLoginWith is approvingLogin with holders' approvals and the
// clock now (nil: the time).
func approvingLoginWith(t *testing.T, st login.Store, holders login.Holders, now func() time.Time) *login.Provider {
	t.Helper()
	clients := auth.NewMemoryStore(nil)
	for _, r := range []auth.Registration{
		{ID: "wallet", Name: "Wallet", Region: "310000", Scopes: []string{auth.ScopeQRRedeem}, GrantTypes: []string{auth.GrantAuthorizationCode},
			RedirectURIs: []string{walletRedirect, walletLoopback}, AuthMethod: auth.AuthClientSecretBasic},
		{ID: "bureau", Name: "Bureau", Region: "310000", Scopes: []string{auth.ScopeQRRedeem}, GrantTypes: []string{auth.GrantAuthorizationCode},
			RedirectURIs: []string{"https://bureau.example/cb"}, AuthMethod: auth.AuthClientSecretBasic},
	} {
		c, _, err := auth.NewClient(r, time.Now(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := clients.Create(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := keystore.Open(filepath.Join(t.TempDir(), "keys.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := login.New(login.Config{Issuer: issuerURL, Clients: clients, Holders: holders, Pairwise: alicesSub{}, Keys: ks, Store: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// approvedCode runs authorization request q on s through Alice's approval
// on lp and returns the code the wallet is sent back with.
func approvedCode(t *testing.T, s *Service, lp *login.Provider, q url.Values) string {
	t.Helper()
	ctx := context.Background()
	st, err := s.Authorize(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	req, err := lp.Describe(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := base64.RawURLEncoding.DecodeString(req.Challenge)
	if err := lp.Approve(ctx, st.ID, &login.Approval{Request: qrcode.HolderRequest{Nonce: nonce}}); err != nil {
		t.Fatal(err)
	}
	out, err := lp.Wait(ctx, st.ID, st.Browser, 0)
	if err != nil || out == nil {
		t.Fatalf("wait: %v %v", out, err)
	}
	u, err := url.Parse(out.Redirect)
	if err != nil || u.Query().Get("code") == "" {
		t.Fatalf("redirect %q", out.Redirect)
	}
	return u.Query().Get("code")
}

// codeRequest is the wallet's token request for code, without DPoP.
func codeRequest(code string) TokenRequest {
	return TokenRequest{GrantType: GrantAuthorizationCode, Code: code, ClientID: "wallet", RedirectURI: walletRedirect,
		CodeVerifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}
}

// TestAttestedKeyParameterIgnored: trustid_attested_jkt is the node's
// own parameter, set inside a pushed request from the wallet attestation
// checked at the push; one the wallet sends itself, in a plain or a
// pushed request without an attestation, is dropped, so the code is
// bound to no instance key and redeemed without an attestation.
func TestAttestedKeyParameterIgnored(t *testing.T) {
	m := memoryStore(t)
	ctx := context.Background()
	lp := approvingLogin(t, m)
	s := newServiceWith(t, Config{Store: m, Login: lp, NonceKey: bytes.Repeat([]byte{1}, 32)})
	const made = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	plain := authorizationRequest(t, s)
	plain.Set(attestedKeyParam, made)
	pushedQ := authorizationRequest(t, s)
	pushedQ.Set(attestedKeyParam, made)
	par, err := s.PushAuthorizationRequest(ctx, pushedQ, nil, ClientAttestation{})
	if err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]url.Values{
		"plain":  plain,
		"pushed": {"client_id": {"wallet"}, "request_uri": {par.RequestURI}},
	} {
		if _, err := s.Token(ctx, codeRequest(approvedCode(t, s, lp, q))); err != nil {
			t.Errorf("%s request with its own %s: %v; want a token", name, attestedKeyParam, err)
		}
	}
}

// TestCodeBoundToDPoPKey: a code whose request named dpop_jkt is
// redeemed only with a DPoP proof of that key (RFC 9449 §10: "the
// authorization server MUST ... bind the issued authorization code to
// the DPoP key"); a request without one, or with another key's, is
// invalid_grant.
func TestCodeBoundToDPoPKey(t *testing.T) {
	m := memoryStore(t)
	ctx := context.Background()
	now := time.Now()
	lp := approvingLogin(t, m)
	s := newServiceWith(t, Config{Store: m, Login: lp, Now: func() time.Time { return now }, NonceKey: bytes.Repeat([]byte{1}, 32)})
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	other, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	j, _ := gm.NewJWK(k.Public(), "")
	jkt, err := j.Thumbprint()
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := s.dpopNonce()
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]crypto.Signer{"no": nil, "another key's": other} {
		q := authorizationRequest(t, s)
		q.Set("dpop_jkt", jkt)
		req := codeRequest(approvedCode(t, s, lp, q))
		if key != nil {
			p, err := dpop.NewProof(key, "POST", issuerURL+PathToken, "", nonce, now, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			req.DPoP = []string{p}
		}
		if _, err := s.Token(ctx, req); code(err) != CodeInvalidGrant {
			t.Errorf("code bound to dpop_jkt, %s proof: %v; want invalid_grant", name, err)
		}
	}
}

// TestCodeBoundToAttestedInstance: a code whose push carried a wallet
// attestation is redeemed only with an attestation of that instance's
// key; a token request without one is invalid_grant.
func TestCodeBoundToAttestedInstance(t *testing.T) {
	m := memoryStore(t)
	ctx := context.Background()
	now := time.Now()
	provider, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	instance, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	pj, _ := gm.NewJWK(provider.Public(), "k1")
	att, err := attestation.Sign(provider, "k1", attestation.Attestation{Issuer: "https://wp.example", ClientID: "wallet", InstanceKey: instance.Public(), IssuedAt: now, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	lp := approvingLogin(t, m)
	s := newServiceWith(t, Config{Store: m, Login: lp, NonceKey: bytes.Repeat([]byte{7}, 32),
		WalletProviders: []attestation.Provider{{Issuer: "https://wp.example", Keys: []gm.JWK{pj}, ClientIDs: []string{"wallet"}}}})
	ch, err := s.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	pop, err := attestation.NewPoP(instance, issuerURL+PathAS, ch.AttestationChallenge, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	par, err := s.PushAuthorizationRequest(ctx, authorizationRequest(t, s), nil, ClientAttestation{Attestation: []string{att}, PoP: []string{pop}})
	if err != nil {
		t.Fatal(err)
	}
	c := approvedCode(t, s, lp, url.Values{"client_id": {"wallet"}, "request_uri": {par.RequestURI}})
	if _, err := s.Token(ctx, codeRequest(c)); code(err) != CodeInvalidGrant {
		t.Errorf("code of an attested push, redeemed without an attestation: %v; want invalid_grant", err)
	}
}
