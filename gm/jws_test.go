package gm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func signToken(t *testing.T, key any, method jwt.SigningMethod) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(time.Minute).Unix()})
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTSM2(t *testing.T) {
	k, _ := GenerateKey(rand.Reader)
	s := signToken(t, k, SigningMethodSM2)
	parser, err := NewJWTParser([]string{AlgSM2})
	if err != nil {
		t.Fatal(err)
	}
	keyfunc := func(*jwt.Token) (any, error) { return k.PublicKey(), nil }
	tok, err := parser.ParseWithClaims(s, jwt.MapClaims{}, keyfunc)
	if err != nil || !tok.Valid {
		t.Fatalf("parse: %v", err)
	}
	if h := tok.Header["alg"]; h != "SM2" {
		t.Errorf("alg header %v", h)
	}
	parts := strings.Split(s, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if len(sig) != 64 {
		t.Fatalf("signature is %d bytes, want 64", len(sig))
	}

	// An SM2 *ecdsa.PublicKey also verifies.
	if _, err := parser.ParseWithClaims(s, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return k.PublicKey().ECDSA(), nil }); err != nil {
		t.Errorf("ecdsa key: %v", err)
	}

	// DER in place of r||s is refused.
	der, _ := k.Sign(rand.Reader, []byte(parts[0]+"."+parts[1]), nil)
	withDER := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(der)
	if _, err := parser.ParseWithClaims(withDER, jwt.MapClaims{}, keyfunc); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("DER signature: %v", err)
	}

	// A line break inside the signature, which encoding/base64 would skip,
	// is refused before golang-jwt sees the token.
	for _, lb := range []string{"\n", "\r\n", "\r"} {
		broken := s[:len(s)-8] + lb + s[len(s)-8:]
		if _, err := jwt.NewParser().ParseWithClaims(broken, jwt.MapClaims{}, keyfunc); err != nil {
			t.Fatalf("golang-jwt no longer skips %q (%v): JWTParser's check may be unneeded", lb, err)
		}
		if _, err := parser.ParseWithClaims(broken, jwt.MapClaims{}, keyfunc); !errors.Is(err, jwt.ErrTokenMalformed) {
			t.Errorf("line break %q in the signature: %v, want ErrTokenMalformed", lb, err)
		}
	}

	// Another key does not verify.
	other, _ := GenerateKey(rand.Reader)
	if _, err := parser.ParseWithClaims(s, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return other.PublicKey(), nil }); err == nil {
		t.Error("verified with the wrong key")
	}
	// A P-256 key given for an SM2 token is a key type error.
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := parser.ParseWithClaims(s, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return &p256.PublicKey, nil }); err == nil {
		t.Error("verified with a P-256 key")
	}
}

func TestJWTAllowList(t *testing.T) {
	if _, err := NewJWTParser(nil); !errors.Is(err, ErrAlgorithms) {
		t.Errorf("empty allow-list: %v", err)
	}
	for _, bad := range []string{"none", "HS256", "RS256", "sm2"} {
		if _, err := NewJWTParser([]string{AlgSM2, bad}); !errors.Is(err, ErrAlgorithms) {
			t.Errorf("%s allowed: %v", bad, err)
		}
	}
	sm2Key, _ := GenerateKey(rand.Reader)
	es, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	onlySM2, _ := NewJWTParser([]string{AlgSM2})
	esTok := signToken(t, es, jwt.SigningMethodES256)
	if _, err := onlySM2.ParseWithClaims(esTok, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return &es.PublicKey, nil }); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("ES256 token under SM2-only parser: %v", err)
	}
	none := signToken(t, jwt.UnsafeAllowNoneSignatureType, jwt.SigningMethodNone)
	if _, err := onlySM2.ParseWithClaims(none, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return sm2Key.PublicKey(), nil }); err == nil {
		t.Error("alg none accepted")
	}
	// The SM2 token header claims alg SM2; swapping it to ES256 fails.
	s := signToken(t, sm2Key, SigningMethodSM2)
	both, _ := NewJWTParser([]string{AlgSM2, AlgES256})
	swapped := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","typ":"JWT"}`)) + s[strings.Index(s, "."):]
	if _, err := both.ParseWithClaims(swapped, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return sm2Key.PublicKey(), nil }); err == nil {
		t.Error("alg swap accepted")
	}
}

func TestJWTEdDSAAndES256(t *testing.T) {
	for _, alg := range []string{AlgES256, AlgEdDSA} {
		k, _ := GenerateSigner(alg, rand.Reader)
		m, err := SigningMethod(k)
		if err != nil {
			t.Fatal(err)
		}
		s := signToken(t, k, m)
		p, _ := NewJWTParser(JWTAlgorithms)
		if _, err := p.ParseWithClaims(s, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return k.Public(), nil }); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
}

// TestVerifyOnlyAlgorithms: ES384 (P-384) and ES512 (P-521) keys make
// JWKs that read back as the same keys, a parser that names the algorithm
// verifies their tokens, one that does not refuses them, and algorithms
// outside JWTVerifyAlgorithms cannot be named at all.
func TestVerifyOnlyAlgorithms(t *testing.T) {
	for _, c := range []struct {
		alg    string
		curve  elliptic.Curve
		method jwt.SigningMethod
	}{{AlgES384, elliptic.P384(), jwt.SigningMethodES384}, {AlgES512, elliptic.P521(), jwt.SigningMethodES512}} {
		k, err := GenerateSigner(c.alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if k.Public().(*ecdsa.PublicKey).Curve != c.curve {
			t.Fatalf("%s: wrong curve", c.alg)
		}
		j, err := NewJWK(k.Public(), "k1")
		if err != nil || j.Alg != c.alg || j.Crv != c.curve.Params().Name {
			t.Fatalf("%s: JWK %+v %v", c.alg, j, err)
		}
		pub, err := j.PublicKey()
		if err != nil || !pub.(*ecdsa.PublicKey).Equal(k.Public()) {
			t.Fatalf("%s: JWK round trip: %v", c.alg, err)
		}
		short := j
		short.X = short.X[:len(short.X)-4]
		if _, err := short.PublicKey(); !errors.Is(err, ErrJWK) {
			t.Errorf("%s: short coordinate: %v", c.alg, err)
		}
		tok := signToken(t, k, c.method)
		p, err := NewJWTParser([]string{c.alg})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.ParseWithClaims(tok, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return pub, nil }); err != nil {
			t.Errorf("%s: %v", c.alg, err)
		}
		p, _ = NewJWTParser(JWTAlgorithms)
		if _, err := p.ParseWithClaims(tok, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return pub, nil }); err == nil {
			t.Errorf("%s verified by a parser that does not name it", c.alg)
		}
	}
	for _, bad := range []string{"RS256", "none", "HS256"} {
		if _, err := NewJWTParser([]string{bad}); !errors.Is(err, ErrAlgorithms) {
			t.Errorf("%s allowed: %v", bad, err)
		}
	}
	if _, err := MarshalPrivateKey(mustGen(t, AlgES384)); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("an ES384 key is not a keystore key: %v", err)
	}
}

func mustGen(t *testing.T, alg string) crypto.Signer {
	t.Helper()
	k, err := GenerateSigner(alg, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestJWTParserRefusesCrit: RFC 7515 §4.1.11, "If any of the listed
// extension Header Parameters are not understood and supported by the
// recipient, then the JWS is invalid." golang-jwt ignores crit; the
// parser every TrustID verifier uses refuses it, after the keyfunc, so
// that a verifier's own refusal keeps its words. The RFC 7797 case: a
// signer that meant crit ["b64"] with "b64": false signed the payload
// segment as raw text, which golang-jwt would read as base64url claims.
func TestJWTParserRefusesCrit(t *testing.T) {
	k, _ := GenerateKey(rand.Reader)
	parser, err := NewJWTParser([]string{AlgSM2})
	if err != nil {
		t.Fatal(err)
	}
	keyfunc := func(*jwt.Token) (any, error) { return k.PublicKey(), nil }
	sign := func(h map[string]any) string {
		tok := jwt.NewWithClaims(SigningMethodSM2, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(time.Minute).Unix()})
		for n, v := range h {
			tok.Header[n] = v
		}
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for name, h := range map[string]map[string]any{
		"an extension":     {"crit": []string{"urn:example:must-check"}, "urn:example:must-check": true},
		"b64 false":        {"crit": []string{"b64"}, "b64": false},
		"empty":            {"crit": []string{}},
		"null":             {"crit": nil},
		"a registered one": {"crit": []string{"exp"}},
	} {
		s := sign(h)
		if _, err := jwt.NewParser().ParseWithClaims(s, jwt.MapClaims{}, keyfunc); err != nil {
			t.Fatalf("%s: golang-jwt now refuses crit itself (%v): JWTParser's check may be unneeded", name, err)
		}
		_, err := parser.ParseWithClaims(s, jwt.MapClaims{}, keyfunc)
		if !errors.Is(err, ErrCritical) || !errors.Is(err, jwt.ErrTokenUnverifiable) {
			t.Errorf("crit %s: %v, want ErrCritical", name, err)
		}
	}
	// The keyfunc's own refusal comes first.
	own := errors.New("unknown kid")
	if _, err := parser.ParseWithClaims(sign(map[string]any{"crit": []string{"x"}, "x": 1}), jwt.MapClaims{}, func(*jwt.Token) (any, error) { return nil, own }); !errors.Is(err, own) || errors.Is(err, ErrCritical) {
		t.Errorf("keyfunc refusal: %v, want it alone", err)
	}
	if _, err := parser.ParseWithClaims(sign(nil), jwt.MapClaims{}, keyfunc); err != nil {
		t.Errorf("without crit: %v", err)
	}
}
