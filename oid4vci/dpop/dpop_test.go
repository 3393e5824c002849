package dpop

import (
	"crypto"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

const target = "https://node.example/oid4vci/token"

func opts(now time.Time) Options {
	return Options{Method: "POST", URL: target, Now: func() time.Time { return now }}
}

// verifier takes every algorithm of gm.JWTAlgorithms.
var verifier = func() *Verifier {
	v, err := NewVerifier(gm.JWTAlgorithms)
	if err != nil {
		panic(err)
	}
	return v
}()

// TestVerify: proofs of each algorithm verify and give the key's
// thumbprint; every failed check is ErrInvalid.
func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, alg := range []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA} {
		k, err := gm.GenerateSigner(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewProof(k, "POST", target+"?x=1#f", "", "n1", now, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		got, err := verifier.Verify(p, opts(now))
		j, _ := gm.NewJWK(k.Public(), "")
		jkt, _ := j.Thumbprint()
		if err != nil || got.JKT != jkt || got.Nonce != "n1" || len(got.JTI) != 22 {
			t.Fatalf("%s: %+v %v", alg, got, err)
		}
		// Normalized htu: scheme and host case, default port.
		o := opts(now)
		o.URL = "HTTPS://Node.Example:443/oid4vci/token"
		if _, err := verifier.Verify(p, o); err != nil {
			t.Fatalf("%s normalized: %v", alg, err)
		}
	}
}

func sign(t *testing.T, k crypto.Signer, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	m, _ := gm.SigningMethod(k)
	tok := jwt.NewWithClaims(m, claims)
	j, _ := gm.NewJWK(k.Public(), "")
	j.Use, j.Alg = "", ""
	tok.Header["typ"], tok.Header["jwk"] = Typ, j
	for h, v := range header {
		if v == nil {
			delete(tok.Header, h)
		} else {
			tok.Header[h] = v
		}
	}
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	other, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	otherJWK, _ := gm.NewJWK(other.Public(), "")
	sm2, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	sm2JWK, _ := gm.NewJWK(sm2.Public(), "")
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"jti": "j1", "htm": "POST", "htu": target, "iat": now.Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tokenProof := sign(t, k, nil, with("ath", ATH("tok-1")))
	for name, c := range map[string]struct {
		proof  string
		token  string
		reason string
	}{
		"empty":          {"", "", "no DPoP proof"},
		"not a JWS":      {"a.b", "", "compact"},
		"huge":           {strings.Repeat("a", MaxProof+1), "", "bytes"},
		"typ":            {sign(t, k, map[string]any{"typ": "JWT"}, good()), "", "typ"},
		"no jwk":         {sign(t, k, map[string]any{"jwk": nil}, good()), "", "no jwk"},
		"private jwk":    {sign(t, k, map[string]any{"jwk": map[string]any{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}}, good()), "", "private"},
		"wrong key":      {sign(t, k, map[string]any{"jwk": otherJWK}, good()), "", "signature"},
		"alg vs key":     {sign(t, k, map[string]any{"jwk": sm2JWK}, good()), "", "alg does not match"},
		"no jti":         {sign(t, k, nil, with("jti", nil)), "", "jti"},
		"no iat":         {sign(t, k, nil, with("iat", nil)), "", "iat is required"},
		"iat a string":   {sign(t, k, nil, with("iat", "now")), "", "wrong type"},
		"stale iat":      {sign(t, k, nil, with("iat", now.Add(-6*time.Minute).Unix())), "", "window"},
		"future iat":     {sign(t, k, nil, with("iat", now.Add(2*time.Minute).Unix())), "", "window"},
		"wrong htm":      {sign(t, k, nil, with("htm", "GET")), "", "htm"},
		"wrong htu":      {sign(t, k, nil, with("htu", "https://node.example/oid4vci/credential")), "", "htu"},
		"other host":     {sign(t, k, nil, with("htu", "https://evil.example/oid4vci/token")), "", "htu"},
		"htu not http":   {sign(t, k, nil, with("htu", "urn:x")), "", "htu"},
		"no ath":         {sign(t, k, nil, good()), "tok-1", "ath"},
		"ath of another": {tokenProof, "tok-2", "ath"},
		"ath, no token":  {tokenProof, "", "ath without"},
		"HS256": {func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, good()).SignedString([]byte("k"))
			return s
		}(), "", "alg"},
		"duplicate member": {"eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJhIiwianRpIjoiYiJ9.AAAA", "", "JSON object"},
		// RFC 7515 §4.1.11: no extension is understood.
		"crit": {sign(t, k, map[string]any{"crit": []string{"urn:example:x"}, "urn:example:x": true}, good()), "", "crit"},
	} {
		o := opts(now)
		o.AccessToken = c.token
		_, err := verifier.Verify(c.proof, o)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %v, want %q", name, err, c.reason)
		}
	}
	o := opts(now)
	o.AccessToken = "tok-1"
	if _, err := verifier.Verify(tokenProof, o); err != nil {
		t.Fatalf("with ath: %v", err)
	}
}

// FuzzVerify: any string is a proof or ErrInvalid, never a panic.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	p, _ := NewProof(k, "POST", target, "tok", "n", now, rand.Reader)
	f.Add(p)
	f.Add(p[:len(p)-3])
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		o := opts(now)
		o.AccessToken = "tok"
		got, err := verifier.Verify(s, o)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if got.JKT == "" || got.JTI == "" {
			t.Fatalf("verified without jkt or jti: %+v", got)
		}
	})
}
