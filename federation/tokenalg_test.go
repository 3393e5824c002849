package federation_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/federation"
	"github.com/trustid-cn/trustid/gm"
)

// TestForeignTokenAlgOfTheRegistryKey: another region's token is
// verified only with the algorithm its registry key is registered for.
// Region A registers an SM2 key and a P-256 key beside its node key; A's
// real token for B, re-signed
//   - as ES256 (ECDSA over the SM2 curve, with the SM2 key's own private
//     scalar: a signature crypto/ecdsa makes and verifies) under the SM2
//     key's kid, and
//   - as SM2 under the P-256 key's kid,
//
// is refused by B for its alg. Were auth's alg check gone, both would
// still be refused, as signing methods bind the key type (ES256 verifies
// only an *ecdsa.PublicKey, and the registry's SM2 key is a *gm.PublicKey;
// SM2 verifies only an SM2 key): the check's effect is the specific
// reason, which this test also holds.
func TestForeignTokenAlgOfTheRegistryKey(t *testing.T) {
	ctx := context.Background()
	s := newTokenSetup(t, 0)
	sm2Key, err := ecdsa.GenerateKey(sm2.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256Key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for kid, pub := range map[string]*ecdsa.PublicKey{"a-sm2": &sm2Key.PublicKey, "a-p256": &p256Key.PublicKey} {
		j, err := gm.NewJWK(pub, kid)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(j)
		if _, _, err := s.c.a.L.Submit(ctx, "AddRegionKey", string(b)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "A's new keys at B", func() bool { r, _ := s.viewB.Region(regionA); return len(r.Keys) == 4 })
	r, err := s.a.Token(ctx, s.clientA, s.resource)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.b.Authorize(ctx, r.AccessToken, auth.ScopeQRRedeem); err != nil {
		t.Fatalf("A's token as A signed it: %v", err)
	}
	claims := strings.Split(r.AccessToken, ".")[1]
	resign := func(method jwt.SigningMethod, kid string, key any) (input string, sig []byte) {
		t.Helper()
		h, _ := json.Marshal(map[string]string{"alg": method.Alg(), "typ": "at+jwt", "kid": kid})
		input = base64.RawURLEncoding.EncodeToString(h) + "." + claims
		sig, err := method.Sign(input, key)
		if err != nil {
			t.Fatal(err)
		}
		return input, sig
	}
	smKey, _ := gm.GenerateKey(rand.Reader)
	keys := &federation.Keys{Registry: s.viewB}
	for _, c := range []struct {
		name   string
		method jwt.SigningMethod
		kid    string
		key    any
	}{
		{"ES256 under the SM2 key, signed with its private scalar", jwt.SigningMethodES256, "a-sm2", sm2Key},
		{"SM2 under the P-256 key", gm.SigningMethodSM2, "a-p256", smKey},
	} {
		input, sig := resign(c.method, c.kid, c.key)
		// The parser path: the signing method refuses the registry key's
		// type before any arithmetic.
		pub, _, err := keys.RegionKey(ctx, regionA, c.kid)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.method.Verify(input, sig, pub); !errors.Is(err, jwt.ErrInvalidKeyType) {
			t.Errorf("%s: %s's Verify with the registry key: %v, want jwt.ErrInvalidKeyType", c.name, c.method.Alg(), err)
		}
		_, err = s.b.Authorize(ctx, input+"."+base64.RawURLEncoding.EncodeToString(sig), auth.ScopeQRRedeem)
		var ae *auth.Error
		if !errors.Is(err, auth.ErrInvalidToken) || !errors.As(err, &ae) || ae.Description != "access token alg does not match the registry key" {
			t.Errorf("%s: %v, want invalid_token for its alg", c.name, err)
		}
	}
	// The ES256 signature itself is sound: crypto/ecdsa verifies it with
	// the SM2 curve's point, which only the key type keeps from B.
	input, sig := resign(jwt.SigningMethodES256, "a-sm2", sm2Key)
	if err := jwt.SigningMethodES256.Verify(input, sig, &sm2Key.PublicKey); err != nil {
		t.Errorf("ECDSA over the SM2 curve: %v", err)
	}
}
