package oid4vci

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

// TestProofClaimRefusals: a key proof for another audience is
// invalid_proof (OID4VCI 1.0 Appendix F.1: aud is the issuer), and one
// without a nonce is invalid_proof, not invalid_nonce (§8.3.1.2: the
// proof lacks the nonce the issuer's nonce endpoint makes it carry);
// the same key's proof with both is then served.
func TestProofClaimRefusals(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	ctx := context.Background()
	acc, _ := vciSession(t, s)
	n, err := s.Nonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	j, _ := gm.NewJWK(&k.PublicKey, "")
	j.Use, j.Alg = "", ""
	body := func(claims jwt.MapClaims) []byte {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		tok.Header["typ"], tok.Header["jwk"] = ProofTyp, j
		p, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{p}}})
		return b
	}
	for name, claims := range map[string]jwt.MapClaims{
		"another audience": {"aud": "https://other.example", "iat": time.Now().Unix(), "nonce": n.CNonce},
		"no nonce":         {"aud": issuerURL, "iat": time.Now().Unix()},
	} {
		if _, err := s.Credential(ctx, acc, body(claims)); code(err) != CodeInvalidProof {
			t.Errorf("%s: %v; want invalid_proof", name, err)
		}
	}
	if _, err := s.Credential(ctx, acc, body(jwt.MapClaims{"aud": issuerURL, "iat": time.Now().Unix(), "nonce": n.CNonce})); err != nil {
		t.Fatalf("the proof with the issuer's aud and the nonce: %v", err)
	}
}

// TestProofKeyInKid: for a DID-bound format (jwt_vc_json) a key proof
// may name its key by a did:jwk URL in kid, without a jwk header
// (Appendix F.1); the credential is then the DID's. A kid of another
// DID method is refused before any resolution (did:web would be fetched
// from a host the wallet names), and a kid whose key is not of the
// proof's alg is refused for that, each as invalid_proof with its
// reason.
func TestProofKeyInKid(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	ctx := context.Background()
	acc := preAuthAccess(t, s, jwtVC)
	didJWKOf := func(pub crypto.PublicKey) string {
		j, err := gm.NewJWK(pub, "")
		if err != nil {
			t.Fatal(err)
		}
		j.Use, j.Alg = "", ""
		b, _ := json.Marshal(j)
		return "did:jwk:" + base64.RawURLEncoding.EncodeToString(b)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	body := func(method jwt.SigningMethod, signer crypto.Signer, kid string) []byte {
		n, err := s.Nonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t := jwt.NewWithClaims(method, jwt.MapClaims{"aud": issuerURL, "iat": time.Now().Unix(), "nonce": n.CNonce})
		t.Header["typ"], t.Header["kid"] = ProofTyp, kid
		p, _ := t.SignedString(signer)
		b, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_jwt_vc_json", "proofs": map[string]any{"jwt": []string{p}}})
		return b
	}
	for _, c := range []struct {
		name, reason string
		body         []byte
	}{
		{"did:web", "kid must be a did:key or did:jwk URL", body(jwt.SigningMethodES256, p256, "did:web:wallet.example#key-1")},
		{"an Ed25519 did:jwk under ES256", "the alg does not match the kid's key type", body(jwt.SigningMethodES256, p256, didJWKOf(ed.Public())+"#0")},
	} {
		_, err := s.Credential(ctx, acc, c.body)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalidProof || !strings.HasSuffix(e.Description, c.reason) {
			t.Errorf("%s: %v; want invalid_proof: ...%s", c.name, err, c.reason)
		}
	}
	if _, err := s.Credential(ctx, acc, body(jwt.SigningMethodES256, p256, didJWKOf(&p256.PublicKey)+"#0")); err != nil {
		t.Fatalf("a proof whose kid is its key's did:jwk: %v", err)
	}
}

// TestCredentialRequestRefusalReasons: a key proof larger than the
// issuer reads (4 KiB) is refused as too large however it is signed; a
// jwk header with private key material is refused for that; and a
// request for an encrypted response, which this issuer does not make,
// is invalid_encryption_parameters (OID4VCI 1.0 §8.3.1.2), never served
// in the clear. The token is still good after.
func TestCredentialRequestRefusalReasons(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	ctx := context.Background()
	acc, good := vciSession(t, s)
	n, err := s.Nonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signed := func(jwk any, extra string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"aud": issuerURL, "iat": time.Now().Unix(), "nonce": n.CNonce, "x": extra})
		tok.Header["typ"], tok.Header["jwk"] = ProofTyp, jwk
		p, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub, _ := gm.NewJWK(&k.PublicKey, "")
	pub.Use, pub.Alg = "", ""
	var private map[string]any
	b, _ := json.Marshal(pub)
	_ = json.Unmarshal(b, &private)
	private["d"] = base64.RawURLEncoding.EncodeToString(k.D.FillBytes(make([]byte, 32)))
	request := func(proof string, member string, value any) []byte {
		req := map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{proof}}}
		if member != "" {
			req[member] = value
		}
		b, _ := json.Marshal(req)
		return b
	}
	for _, c := range []struct {
		name, code, reason string
		body               []byte
	}{
		{"a proof over 4 KiB", CodeInvalidProof, "a key proof is too large", request(signed(pub, strings.Repeat("a", 4<<10)), "", nil)},
		{"a private jwk", CodeInvalidProof, "the jwk holds private key material", request(signed(private, ""), "", nil)},
		{"credential_response_encryption", CodeInvalidEncryption, "this issuer does not encrypt credential responses",
			request(signed(pub, ""), "credential_response_encryption", map[string]any{"jwk": pub, "enc": "A128GCM"})},
	} {
		_, err := s.Credential(ctx, acc, c.body)
		var e *Error
		if !errors.As(err, &e) || e.Code != c.code || !strings.HasSuffix(e.Description, c.reason) {
			t.Errorf("%s: %v; want %s: ...%s", c.name, err, c.code, c.reason)
		}
	}
	if _, err := s.Credential(ctx, acc, good(1)); err != nil {
		t.Fatalf("a good request after the refusals: %v", err)
	}
}
