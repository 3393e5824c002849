package gm

import (
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// SigningMethodSM2 is the JWS algorithm "SM2": GB/T 32918.2 over SM3 with
// Z_A for the default user ID, the signature as raw 64-byte r‖s.
//
// Sign takes a *PrivateKey or any crypto.Signer holding an SM2 key. Verify
// takes a *PublicKey (fastest: Z_A is precomputed) or an SM2
// *ecdsa.PublicKey; it rejects DER and any length but 64.
var SigningMethodSM2 = &signingMethodSM2{}

type signingMethodSM2 struct{}

// The registration lives beside the method, as golang-jwt's own algorithms
// do: the jwt parser finds methods by the header's "alg".
func init() {
	jwt.RegisterSigningMethod(AlgSM2, func() jwt.SigningMethod { return SigningMethodSM2 })
}

func (*signingMethodSM2) Alg() string { return AlgSM2 }

func (*signingMethodSM2) Verify(signingString string, sig []byte, key any) error {
	var pub *PublicKey
	switch k := key.(type) {
	case *PublicKey:
		pub = k
	default:
		p, err := NormalizePublicKey(key)
		if err != nil {
			return jwt.ErrInvalidKeyType
		}
		var ok bool
		if pub, ok = p.(*PublicKey); !ok {
			return jwt.ErrInvalidKeyType
		}
	}
	// The signing input is hashed in place (SM3 neither keeps nor
	// changes it): a token's is half a kilobyte.
	if err := pub.Verify(unsafe.Slice(unsafe.StringData(signingString), len(signingString)), sig); err != nil {
		return fmt.Errorf("%w: %w", jwt.ErrSignatureInvalid, err)
	}
	return nil
}

func (*signingMethodSM2) Sign(signingString string, key any) ([]byte, error) {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, jwt.ErrInvalidKeyType
	}
	return SignWith(rand.Reader, signer, []byte(signingString))
}

// JWTAlgorithms lists the JWS algorithms TrustID signs and verifies.
var JWTAlgorithms = []string{AlgSM2, AlgES256, AlgEdDSA}

// JWTVerifyAlgorithms lists the JWS algorithms a TrustID verifier may
// allow: JWTAlgorithms, and ES384 and ES512, which VC-JOSE-COSE and
// SD-JWT VC issuers may sign with (TrustID never does). A verifier still
// names the ones it accepts.
var JWTVerifyAlgorithms = []string{AlgSM2, AlgES256, AlgES384, AlgES512, AlgEdDSA}

// ErrAlgorithms is returned by NewJWTParser for an unusable allow-list.
var ErrAlgorithms = errors.New("gm: verifiers must allow at least one known algorithm and never \"none\"")

// JWTParser is golang-jwt's parser for a verifier: only the algorithms
// it was made with, no line break in the token and no "crit" header
// parameter. golang-jwt decodes the parts with encoding/base64, which
// skips '\r' and '\n', so a token with one inside its signature would
// verify as the token without (a second string for one token); RFC 7515
// §2's base64url has none. golang-jwt also ignores "crit", which RFC 7515
// §4.1.11 makes fatal when a listed extension is not understood, and
// TrustID understands none (a JWS with crit ["b64"] and "b64": false
// signs a payload golang-jwt would read as another one, RFC 7797 §3).
type JWTParser struct{ p *jwt.Parser }

// ErrCritical is a JWS with a "crit" header parameter: RFC 7515 §4.1.11,
// "If any of the listed extension Header Parameters are not understood
// and supported by the recipient, then the JWS is invalid."
var ErrCritical = errors.New("gm: crit header parameter: no JWS extension is understood (RFC 7515 §4.1.11)")

// ParseWithClaims is jwt.Parser.ParseWithClaims for a token without a
// line break (one with is refused as jwt.ErrTokenMalformed) and without
// crit: keyFunc runs first, so a verifier's own refusal keeps its words;
// then a crit header, in any form, is refused with an error matching
// ErrCritical and jwt.ErrTokenUnverifiable.
func (p *JWTParser) ParseWithClaims(token string, claims jwt.Claims, keyFunc jwt.Keyfunc) (*jwt.Token, error) {
	if strings.ContainsAny(token, "\r\n") {
		return nil, fmt.Errorf("%w: a line break in the compact JWS", jwt.ErrTokenMalformed)
	}
	return p.p.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if keyFunc == nil {
			return nil, errors.New("no keyfunc")
		}
		key, err := keyFunc(t)
		if err != nil {
			return nil, err
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, ErrCritical
		}
		return key, nil
	})
}

// NewJWTParser returns a JWTParser that accepts only the algorithms in
// allow, each of which must be in JWTVerifyAlgorithms. Extra options (audience,
// issuer, clock) are appended.
func NewJWTParser(allow []string, opts ...jwt.ParserOption) (*JWTParser, error) {
	if len(allow) == 0 {
		return nil, ErrAlgorithms
	}
	for _, a := range allow {
		if !slices.Contains(JWTVerifyAlgorithms, a) {
			return nil, fmt.Errorf("%w: %q", ErrAlgorithms, a)
		}
	}
	opts = append([]jwt.ParserOption{jwt.WithValidMethods(slices.Clone(allow))}, opts...)
	return &JWTParser{jwt.NewParser(opts...)}, nil
}

// SigningMethod returns the jwt method for a signer's key type.
func SigningMethod(signer crypto.Signer) (jwt.SigningMethod, error) {
	alg, err := Alg(signer.Public())
	if err != nil {
		return nil, err
	}
	return jwt.GetSigningMethod(alg), nil
}
