package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	tjsm2 "github.com/tjfoc/gmsm/sm2"

	"github.com/trustid-cn/trustid/gm"
)

// The comparisons of issue 19, run in the same process as
// BenchmarkValidateToken (TrustID's whole token check) so that their
// ratios compare figures taken under the same load (scripts/bench.sh runs
// them in three rounds; trustid-bench -gobench puts the ratios in its
// table):
//
//   - BenchmarkCompareSM2Verify: one SM2 verification of an access
//     token's signing input with emmansun/gmsm (through gm, as TrustID
//     does) and with tjfoc/gmsm (test-only oracle, never linked into a
//     binary);
//   - BenchmarkCompareJWT: the same token validation, golang-jwt's parser
//     with the same claim checks (alg allow-list, iss, aud, exp, iat),
//     with an SM2 signature checked by emmansun, by tjfoc, and a plain
//     ES256 token (the usual JWT stack, for reference).

// compareClaims are an access token's claims, as the node issues them.
func compareClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": "http://127.0.0.1:8080", "sub": "svc-a", "aud": "http://127.0.0.1:8080", "client_id": "svc-a",
		"scope": "qr:redeem", "jti": "6b1c2f0e9d8a4b7c", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
}

// compareParser is golang-jwt's validation with the claim checks the node
// applies to an access token.
func compareParser(alg string) *jwt.Parser {
	return jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithIssuer("http://127.0.0.1:8080"),
		jwt.WithAudience("http://127.0.0.1:8080"), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
}

// tjfocSM2 is the JWS algorithm "SM2" (raw r‖s, default user ID) with
// tjfoc/gmsm doing the verification, under its own alg name so that it
// does not replace gm's registration.
type tjfocSM2 struct{}

const algSM2Tjfoc = "SM2-tjfoc-bench"

var registerTjfoc sync.Once

func (tjfocSM2) Alg() string { return algSM2Tjfoc }

func (tjfocSM2) Verify(signingString string, sig []byte, key any) error {
	pub, ok := key.(*tjsm2.PublicKey)
	if !ok || len(sig) != 64 {
		return jwt.ErrInvalidKeyType
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !tjsm2.Sm2Verify(pub, []byte(signingString), []byte("1234567812345678"), r, s) {
		return jwt.ErrSignatureInvalid
	}
	return nil
}

func (tjfocSM2) Sign(signingString string, key any) ([]byte, error) {
	k, ok := key.(*gm.PrivateKey)
	if !ok {
		return nil, jwt.ErrInvalidKeyType
	}
	return k.SignRaw(rand.Reader, []byte(signingString))
}

// compareTokens signs the same claims three ways.
type compareTokens struct {
	sm2, sm2Tjfoc, es256 string
	sm2Key               *gm.PrivateKey
	tjfocPub             *tjsm2.PublicKey
	ecKey                *ecdsa.PrivateKey
}

func newCompareTokens(b *testing.B) *compareTokens {
	registerTjfoc.Do(func() { jwt.RegisterSigningMethod(algSM2Tjfoc, func() jwt.SigningMethod { return tjfocSM2{} }) })
	c := &compareTokens{}
	var err error
	if c.sm2Key, err = gm.GenerateKey(rand.Reader); err != nil {
		b.Fatal(err)
	}
	if c.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		b.Fatal(err)
	}
	pub := c.sm2Key.PublicKey().ECDSA()
	c.tjfocPub = &tjsm2.PublicKey{Curve: tjsm2.P256Sm2(), X: pub.X, Y: pub.Y}
	sign := func(m jwt.SigningMethod, key any) string {
		tok := jwt.NewWithClaims(m, compareClaims())
		tok.Header["typ"] = "at+jwt"
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(key)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	c.sm2 = sign(gm.SigningMethodSM2, c.sm2Key)
	c.sm2Tjfoc = sign(tjfocSM2{}, c.sm2Key)
	c.es256 = sign(jwt.SigningMethodES256, c.ecKey)
	return c
}

func BenchmarkCompareSM2Verify(b *testing.B) {
	c := newCompareTokens(b)
	i := strings.LastIndexByte(c.sm2, '.')
	msg := []byte(c.sm2[:i])
	sig, err := c.sm2Key.SignRaw(rand.Reader, msg)
	if err != nil {
		b.Fatal(err)
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	uid := []byte("1234567812345678")
	b.Run("emmansun", func(b *testing.B) {
		pub := c.sm2Key.PublicKey()
		for b.Loop() {
			if err := pub.Verify(msg, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tjfoc", func(b *testing.B) {
		for b.Loop() {
			if !tjsm2.Sm2Verify(c.tjfocPub, msg, uid, r, s) {
				b.Fatal("tjfoc rejected the signature")
			}
		}
	})
}

func BenchmarkCompareJWT(b *testing.B) {
	c := newCompareTokens(b)
	for _, x := range []struct {
		name, alg, token string
		key              any
	}{
		{"SM2-emmansun", gm.AlgSM2, c.sm2, c.sm2Key.PublicKey()},
		{"SM2-tjfoc", algSM2Tjfoc, c.sm2Tjfoc, c.tjfocPub},
		{"ES256", "ES256", c.es256, &c.ecKey.PublicKey},
	} {
		b.Run(x.name, func(b *testing.B) {
			p := compareParser(x.alg)
			keyFunc := func(*jwt.Token) (any, error) { return x.key, nil }
			if _, err := p.Parse(x.token, keyFunc); err != nil {
				b.Fatal(fmt.Errorf("%s: %w", x.name, err))
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Parse(x.token, keyFunc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
