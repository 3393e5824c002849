package sdjwt

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/gm"
)

// TestKeyBindingRefusals: a KB-JWT counts only with typ kb+jwt, an iat no
// more than the leeway ahead, and a cnf.jwk that is a public key.
func TestKeyBindingRefusals(t *testing.T) {
	issuerKey, _ := gm.GenerateKey(rand.Reader)
	holder, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	hj, _ := gm.NewJWK(holder.Public(), "")
	cnf := func(private bool) map[string]any {
		m := map[string]any{}
		b, _ := json.Marshal(hj)
		json.Unmarshal(b, &m)
		if private {
			m["d"] = base64.RawURLEncoding.EncodeToString(holder.(ed25519.PrivateKey).Seed())
		}
		return m
	}
	issue := func(private bool) *SDJWT {
		claims := map[string]any{"iss": "https://issuer.example", "vct": "urn:example:id", "cnf": map[string]any{"jwk": cnf(private)}}
		sd, err := Split(signed(t, issuerKey, claims, nil))
		if err != nil {
			t.Fatal(err)
		}
		return sd
	}
	now := time.Unix(1_800_000_000, 0)
	const leeway = 30 * time.Second
	o := VerifyOptions{
		Algorithms: allAlgs, Typs: []string{"dc+sd-jwt"}, RequireKeyBinding: true,
		Key:    func(map[string]any, map[string]any) (crypto.PublicKey, error) { return issuerKey.Public(), nil },
		Now:    func() time.Time { return now },
		Leeway: leeway, Audience: "https://rp.example", Nonce: "n-1",
	}
	kb := func(sd *SDJWT, typ string, iat time.Time) string {
		pres := Serialize(sd.JWT, nil)
		tok, err := jose.Sign(map[string]any{"iat": iat.Unix(), "aud": o.Audience, "nonce": o.Nonce, "sd_hash": Digest(pres)},
			map[string]any{"typ": typ}, holder)
		if err != nil {
			t.Fatal(err)
		}
		return pres + tok
	}
	sd := issue(false)
	if _, err := Verify(kb(sd, TypKB, now.Add(leeway)), o); err != nil {
		t.Fatalf("iat at the leeway: %v", err)
	}
	for _, c := range []struct {
		name string
		pres string
		want error
	}{
		{"typ JWT", kb(sd, "JWT", now), ErrType},
		{"iat a second past the leeway", kb(sd, TypKB, now.Add(leeway+time.Second)), ErrStale},
		{"cnf.jwk with the private key", kb(issue(true), TypKB, now), ErrKeyBinding},
	} {
		if _, err := Verify(c.pres, o); !errors.Is(err, ErrKeyBinding) || !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestKeyBindingNotBefore: a KB-JWT is "a valid JWT in all other
// respects, per [RFC7519]" (RFC 9901 §7.3), so one whose nbf is past the
// leeway ahead is refused (RFC 7519 §4.1.5), as a malformed nbf is; an nbf
// within the leeway or behind is taken.
func TestKeyBindingNotBefore(t *testing.T) {
	issuerKey, _ := gm.GenerateKey(rand.Reader)
	holder, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	hj, _ := gm.NewJWK(holder.Public(), "")
	claims := map[string]any{"iss": "https://issuer.example", "vct": "urn:example:id", "cnf": map[string]any{"jwk": hj}}
	sd, err := Split(signed(t, issuerKey, claims, nil))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	const leeway = 30 * time.Second
	o := VerifyOptions{
		Algorithms: allAlgs, Typs: []string{"dc+sd-jwt"}, RequireKeyBinding: true,
		Key:    func(map[string]any, map[string]any) (crypto.PublicKey, error) { return issuerKey.Public(), nil },
		Now:    func() time.Time { return now },
		Leeway: leeway, Audience: "https://rp.example", Nonce: "n-1",
	}
	kb := func(nbf any) string {
		pres := Serialize(sd.JWT, nil)
		tok, err := jose.Sign(map[string]any{"iat": now.Unix(), "nbf": nbf, "aud": o.Audience, "nonce": o.Nonce, "sd_hash": Digest(pres)},
			map[string]any{"typ": TypKB}, holder)
		if err != nil {
			t.Fatal(err)
		}
		return pres + tok
	}
	for _, nbf := range []any{now.Unix(), now.Add(-time.Hour).Unix(), now.Add(leeway).Unix()} {
		if _, err := Verify(kb(nbf), o); err != nil {
			t.Errorf("nbf %v: %v", nbf, err)
		}
	}
	for _, nbf := range []any{now.Add(leeway + time.Second).Unix(), now.Add(time.Hour).Unix(), "soon"} {
		if _, err := Verify(kb(nbf), o); !errors.Is(err, ErrKeyBinding) || !errors.Is(err, ErrNotYetValid) {
			t.Errorf("nbf %v: %v, want a key binding not yet valid", nbf, err)
		}
	}
}

// TestKeyBindingJWKExtraMembers: a cnf.jwk may carry members the verifier
// does not use (a WebCrypto export's key_ops and ext, an x5c): RFC 7517
// §4 says they "MUST be ignored", so the KB-JWT it verifies is taken.
func TestKeyBindingJWKExtraMembers(t *testing.T) {
	issuerKey, _ := gm.GenerateKey(rand.Reader)
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	hj, _ := gm.NewJWK(holder.Public(), "h-1")
	jwk := map[string]any{"kty": hj.Kty, "crv": hj.Crv, "x": hj.X, "y": hj.Y, "kid": hj.Kid,
		"key_ops": []any{"verify"}, "ext": true, "x5c": []any{"MIIB"}}
	claims := map[string]any{"iss": "https://issuer.example", "vct": "urn:example:id", "cnf": map[string]any{"jwk": jwk}}
	sd, err := Split(signed(t, issuerKey, claims, nil))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	pres, err := sd.Present(func(*Disclosure) bool { return true }, &KeyBinding{Signer: holder, Audience: "https://rp.example", Nonce: "n-1", IssuedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(pres, VerifyOptions{
		Algorithms: allAlgs, Typs: []string{"dc+sd-jwt"}, RequireKeyBinding: true,
		Key:      func(map[string]any, map[string]any) (crypto.PublicKey, error) { return issuerKey.Public(), nil },
		Now:      func() time.Time { return now },
		Audience: "https://rp.example", Nonce: "n-1",
	})
	if err != nil || !v.KeyBound {
		t.Fatalf("cnf.jwk with key_ops, ext and x5c: %v", err)
	}
}

// TestKeyBindingExpiry: a KB-JWT "MUST NOT be accepted for processing" on
// or after its exp (RFC 7519 §4.1.4, which RFC 9901 §7.3 applies), with
// the leeway as golang-jwt allows it for the issuer-signed JWT: taken a
// second before exp + leeway, refused at exp + leeway and with no leeway
// at exp itself.
func TestKeyBindingExpiry(t *testing.T) {
	issuerKey, _ := gm.GenerateKey(rand.Reader)
	holder, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	hj, _ := gm.NewJWK(holder.Public(), "")
	claims := map[string]any{"iss": "https://issuer.example", "vct": "urn:example:id", "cnf": map[string]any{"jwk": hj}}
	sd, err := Split(signed(t, issuerKey, claims, nil))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	kb := func(exp int64) string {
		pres := Serialize(sd.JWT, nil)
		tok, err := jose.Sign(map[string]any{"iat": now.Unix() - 60, "exp": exp, "aud": "https://rp.example", "nonce": "n-1", "sd_hash": Digest(pres)},
			map[string]any{"typ": TypKB}, holder)
		if err != nil {
			t.Fatal(err)
		}
		return pres + tok
	}
	for _, leeway := range []time.Duration{0, 30 * time.Second} {
		o := VerifyOptions{
			Algorithms: allAlgs, Typs: []string{"dc+sd-jwt"}, RequireKeyBinding: true,
			Key:    func(map[string]any, map[string]any) (crypto.PublicKey, error) { return issuerKey.Public(), nil },
			Now:    func() time.Time { return now },
			Leeway: leeway, Audience: "https://rp.example", Nonce: "n-1",
		}
		at := now.Add(-leeway).Unix() // exp + leeway = now
		if _, err := Verify(kb(at+1), o); err != nil {
			t.Errorf("leeway %v, a second before exp + leeway: %v", leeway, err)
		}
		if _, err := Verify(kb(at), o); !errors.Is(err, ErrKeyBinding) || !errors.Is(err, ErrExpired) {
			t.Errorf("leeway %v, at exp + leeway: %v, want a key binding expired", leeway, err)
		}
	}
}

// TestIssuerKeyOfAnotherAlg: the issuer's key must be one of the header's
// alg (RFC 8725 §3.1): an SM2-signed JWT whose Key returns an Ed25519 key
// is refused as ErrAlgorithm, before any signature is tried.
func TestIssuerKeyOfAnotherAlg(t *testing.T) {
	issuerKey, _ := gm.GenerateKey(rand.Reader)
	other, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	o := VerifyOptions{Algorithms: allAlgs,
		Key: func(map[string]any, map[string]any) (crypto.PublicKey, error) { return other.Public(), nil }}
	s := signed(t, issuerKey, map[string]any{"iss": "https://issuer.example"}, nil)
	if _, err := Verify(s, o); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("Ed25519 key for an SM2 JWT: %v, want ErrAlgorithm", err)
	}
}

// TestKeyBindingClaimRefusals: a KB-JWT needs an iat no older than MaxAge
// plus the leeway, a non-empty nonce and aud equal to the verifier's (an
// empty one is refused even where the verifier gave none), and a signature
// by a key of its alg.
func TestKeyBindingClaimRefusals(t *testing.T) {
	issuerKey, _ := gm.GenerateKey(rand.Reader)
	holder, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	hj, _ := gm.NewJWK(holder.Public(), "")
	sd, err := Split(signed(t, issuerKey, map[string]any{"iss": "https://issuer.example", "cnf": map[string]any{"jwk": hj}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	const leeway, maxAge = 30 * time.Second, 5 * time.Minute
	opts := func(aud, nonce string) VerifyOptions {
		return VerifyOptions{Algorithms: allAlgs, RequireKeyBinding: true,
			Key:    func(map[string]any, map[string]any) (crypto.PublicKey, error) { return issuerKey.Public(), nil },
			Now:    func() time.Time { return now },
			Leeway: leeway, MaxAge: maxAge, Audience: aud, Nonce: nonce}
	}
	kb := func(signer crypto.Signer, edit func(map[string]any)) string {
		pres := Serialize(sd.JWT, nil)
		c := map[string]any{"iat": now.Unix(), "aud": "https://rp.example", "nonce": "n-1", "sd_hash": Digest(pres)}
		edit(c)
		tok, err := jose.Sign(c, map[string]any{"typ": TypKB}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return pres + tok
	}
	o := opts("https://rp.example", "n-1")
	oldest := now.Add(-maxAge - leeway).Unix()
	if _, err := Verify(kb(holder, func(c map[string]any) { c["iat"] = oldest }), o); err != nil {
		t.Fatalf("iat MaxAge + leeway ago: %v", err)
	}
	for _, c := range []struct {
		name string
		pres string
		o    VerifyOptions
		want error
	}{
		{"iat a second older", kb(holder, func(c map[string]any) { c["iat"] = oldest - 1 }), o, ErrStale},
		{"no iat", kb(holder, func(c map[string]any) { delete(c, "iat") }), o, ErrKeyBinding},
		{"empty nonce, none expected", kb(holder, func(c map[string]any) { c["nonce"] = "" }), opts("https://rp.example", ""), ErrNonce},
		{"empty aud, none expected", kb(holder, func(c map[string]any) { c["aud"] = "" }), opts("", "n-1"), ErrAudience},
		{"signed with an SM2 key", kb(issuerKey, func(map[string]any) {}), o, ErrAlgorithm},
	} {
		if _, err := Verify(c.pres, c.o); !errors.Is(err, ErrKeyBinding) || !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestKeyBindingEncryptionKeyRefused: a cnf.jwk meant for encryption
// binds no KB-JWT: RFC 7517 §4.2, "The "use" (public key use) parameter
// identifies the intended use of the public key" ("enc": encryption);
// §4.3, "key_ops" names the operations ("verify": verify digital
// signature). (A holder key so labelled was taken.)
func TestKeyBindingEncryptionKeyRefused(t *testing.T) {
	issuerKey, _ := gm.GenerateKey(rand.Reader)
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	hj, _ := gm.NewJWK(holder.Public(), "h-1")
	now := time.Unix(1_800_000_000, 0)
	for name, extra := range map[string][2]any{"use enc": {"use", "enc"}, "key_ops encrypt": {"key_ops", []any{"encrypt"}}} {
		jwk := map[string]any{"kty": hj.Kty, "crv": hj.Crv, "x": hj.X, "y": hj.Y, extra[0].(string): extra[1]}
		claims := map[string]any{"iss": "https://issuer.example", "vct": "urn:example:id", "cnf": map[string]any{"jwk": jwk}}
		sd, err := Split(signed(t, issuerKey, claims, nil))
		if err != nil {
			t.Fatal(err)
		}
		pres, err := sd.Present(func(*Disclosure) bool { return true }, &KeyBinding{Signer: holder, Audience: "https://rp.example", Nonce: "n-1", IssuedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(pres, VerifyOptions{
			Algorithms: allAlgs, Typs: []string{"dc+sd-jwt"}, RequireKeyBinding: true,
			Key:      func(map[string]any, map[string]any) (crypto.PublicKey, error) { return issuerKey.Public(), nil },
			Now:      func() time.Time { return now },
			Audience: "https://rp.example", Nonce: "n-1",
		})
		if !errors.Is(err, ErrKeyBinding) {
			t.Errorf("cnf.jwk %s: %v, want ErrKeyBinding", name, err)
		}
	}
}
