package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
)

// TestAccessTokenAlg: a client registered with `--token-alg ES256` gets
// ES256 at+jwt access tokens that a stock JOSE library (golang-jwt with
// the P-256 key from the node's JWKS, no gm code) verifies, and the
// node's protected routes and introspection accept them; an SM2 client
// still gets SM2; a token re-signed with another algorithm or key under
// the node's kids is refused.
func TestAccessTokenAlg(t *testing.T) {
	n := startAuthNode(t)
	esKey := n.addClientArgs("rp-es", auth.ScopeRegistryAdmin, "--token-alg", "ES256")
	smKey := n.addClientArgs("rp-sm", auth.ScopeRegistryAdmin)
	esTok, smTok := n.tokenFor("rp-es", esKey), n.tokenFor("rp-sm", smKey)

	// The node's P-256 keys from its JWKS, read with the standard library.
	resp, err := http.Get(n.base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct{ Kty, Crv, Kid, X, Y string }
	}
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	p256 := map[string]*ecdsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty == "EC" && k.Crv == "P-256" {
			x, _ := base64.RawURLEncoding.DecodeString(k.X)
			y, _ := base64.RawURLEncoding.DecodeString(k.Y)
			p256[k.Kid] = &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		}
	}
	if len(p256) == 0 {
		t.Fatalf("no P-256 key in the JWKS: %+v", set.Keys)
	}
	stock := func(tok string) (*jwt.Token, error) {
		return jwt.Parse(tok, func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			if k, ok := p256[kid]; ok {
				return k, nil
			}
			return nil, jwt.ErrTokenUnverifiable
		}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(n.base), jwt.WithAudience(n.base), jwt.WithExpirationRequired())
	}
	parsed, err := stock(esTok)
	if err != nil {
		t.Fatalf("a stock library does not verify the ES256 client's access token: %v", err)
	}
	if parsed.Header["typ"] != "at+jwt" || parsed.Claims.(jwt.MapClaims)["client_id"] != "rp-es" {
		t.Errorf("ES256 access token: header %v claims %v", parsed.Header, parsed.Claims)
	}
	if hdr := jwtHeader(t, smTok); hdr["alg"] != gm.AlgSM2 {
		t.Errorf("SM2 client's access token alg %v, want SM2", hdr["alg"])
	}

	// The node accepts both on its protected routes and at introspection.
	for name, tok := range map[string]string{"ES256": esTok, "SM2": smTok} {
		if code, m, _ := n.do("GET", "/v1/admin/clients", tok, "", ""); code != 200 {
			t.Errorf("%s token on a protected route: %d %v", name, code, m)
		}
		form := url.Values{"token": {tok}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {n.assertion("rp-es", esKey)}}
		if code, m, _ := n.do("POST", auth.IntrospectionPath, "", "application/x-www-form-urlencoded", form.Encode()); code != 200 || m["active"] != true {
			t.Errorf("%s token at introspection: %d %v", name, code, m)
		}
	}

	// Re-signed tokens under the node's kids: only the node's own key of
	// the kid's algorithm passes.
	ks, err := keystore.Open(filepath.Join(n.dir, keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	esNode, err1 := ks.Active(gm.AlgES256)
	smNode, err2 := ks.Active(gm.AlgSM2)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	asES := func(_ map[string]any, c jwt.MapClaims) {
		c["sub"], c["client_id"], c["scope"] = "rp-es", "rp-es", auth.ScopeRegistryAdmin
	}
	if code, m, _ := n.do("GET", "/v1/admin/clients", n.forge(esNode.Signer, esNode.Kid, asES), "", ""); code != 200 {
		t.Fatalf("control: a token signed by the node's ES256 key is refused: %d %v", code, m)
	}
	otherES, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": n.base, "sub": "rp-es", "client_id": "rp-es", "aud": n.base})
	none.Header["typ"], none.Header["kid"] = "at+jwt", esNode.Kid
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	// HS256 keyed with the ES256 key's public JWK: the algorithm confusion attack.
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": n.base, "sub": "rp-es", "client_id": "rp-es", "aud": n.base})
	hs.Header["typ"], hs.Header["kid"] = "at+jwt", esNode.Kid
	jwk, _ := esNode.JWK()
	jwkBytes, _ := json.Marshal(jwk)
	hsTok, _ := hs.SignedString(jwkBytes)
	for name, tok := range map[string]string{
		"SM2 key under the ES256 kid":     n.forge(smNode.Signer, esNode.Kid, asES),
		"ES256 key under the SM2 kid":     n.forge(esNode.Signer, smNode.Kid, asES),
		"another ES256 key, the node kid": n.forge(otherES, esNode.Kid, asES),
		"alg none":                        noneTok,
		"HS256 with the public key":       hsTok,
		"ES256 with EdDSA alg header": n.forge(esNode.Signer, esNode.Kid, func(h map[string]any, c jwt.MapClaims) {
			asES(h, c)
			h["alg"] = "EdDSA"
		}),
	} {
		if code, m, _ := n.do("GET", "/v1/admin/clients", tok, "", ""); code != 401 || m["error"] != "invalid_token" {
			t.Errorf("%s: %d %v, want 401 invalid_token", name, code, m)
		}
	}

	// The flag refuses what the chain and the node cannot sign.
	if _, errOut, err := run(t, t.Context(), "clients", "add", "--id", "rp-bad", "--name", "x", "--region", "310000",
		"--scopes", auth.ScopeQRRedeem, "--secret", "--token-alg", "none", "--data", n.dir); err == nil || !strings.Contains(err.Error()+errOut, "access_token_signed_response_alg") {
		t.Errorf("--token-alg none: %v %s", err, errOut)
	}
}
