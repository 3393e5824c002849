package gm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/emmansun/gmsm/sm2"

	"github.com/trustid-cn/trustid/internal/b64url"
)

// JWK is a public JSON Web Key (RFC 7517). SM2 keys are written as
// {"kty":"EC","crv":"SM2",...}; P-256 as "crv":"P-256"; Ed25519 as
// {"kty":"OKP","crv":"Ed25519"} (RFC 8037). Private members are never
// produced or accepted.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	// KeyOps is key_ops (RFC 7517 §4.3): the operations the key is for.
	KeyOps KeyOps `json:"key_ops,omitempty"`
}

// KeyOps is a JWK's key_ops (RFC 7517 §4.3), kept as its JSON array
// (compact) so that a JWK stays comparable; "" when absent.
type KeyOps string

// MarshalJSON writes the array kept.
func (k KeyOps) MarshalJSON() ([]byte, error) { return []byte(k), nil }

// UnmarshalJSON reads an array of strings; anything else is ErrJWK.
func (k *KeyOps) UnmarshalJSON(b []byte) error {
	var ops []string
	if err := json.Unmarshal(b, &ops); err != nil || ops == nil {
		return fmt.Errorf("%w: key_ops must be an array of strings", ErrJWK)
	}
	c, err := json.Marshal(ops)
	*k = KeyOps(c)
	return err
}

// Has reports whether op is among the operations listed.
func (k KeyOps) Has(op string) bool {
	var ops []string
	_ = json.Unmarshal([]byte(k), &ops)
	return slices.Contains(ops, op)
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// Errors of JWK parsing.
var (
	ErrJWK        = errors.New("gm: invalid JWK")
	ErrPrivateJWK = errors.New("gm: JWK holds private key material")
	// ErrJWKAlg: a JWS alg that does not fit the key of its jwk header.
	ErrJWKAlg = errors.New("gm: the alg does not match the JWK's key type")
	// ErrJWKUse: a JWK that is not for verifying signatures (its use is
	// not "sig", or its key_ops lack "verify"). It also matches ErrJWK.
	ErrJWKUse = errors.New("gm: the JWK is not a signature verification key")
)

// HeaderJWK reads the jwk member of a JWS header (decoded JSON, as
// golang-jwt gives it) for a signature of alg: a public SM2, P-256 or
// Ed25519 key with no private member (ErrPrivateJWK) whose algorithm is
// alg (ErrJWKAlg). Other failures are ErrJWK.
func HeaderJWK(v any, alg string) (JWK, crypto.PublicKey, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return JWK{}, nil, fmt.Errorf("%w: the header has no jwk object", ErrJWK)
	}
	for _, priv := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
		if _, bad := m[priv]; bad {
			return JWK{}, nil, ErrPrivateJWK
		}
	}
	raw, _ := json.Marshal(m)
	var key JWK
	if err := json.Unmarshal(raw, &key); err != nil {
		return JWK{}, nil, fmt.Errorf("%w: %v", ErrJWK, err)
	}
	pub, err := key.PublicKey()
	if err != nil {
		return JWK{}, nil, err
	}
	if a, err := Alg(pub); err != nil || a != alg {
		return JWK{}, nil, ErrJWKAlg
	}
	return key, pub, nil
}

var b64 = base64.RawURLEncoding

// NewJWK describes pub as a public JWK with the given kid and "use":"sig".
func NewJWK(pub crypto.PublicKey, kid string) (JWK, error) {
	alg, err := Alg(pub)
	if err != nil {
		return JWK{}, err
	}
	j := JWK{Kid: kid, Use: "sig", Alg: alg}
	switch alg {
	case AlgSM2, AlgES256, AlgES384, AlgES512:
		var ec *ecdsa.PublicKey
		if p, ok := pub.(*PublicKey); ok {
			ec = p.key
		} else {
			ec = pub.(*ecdsa.PublicKey)
		}
		j.Kty, j.Crv = "EC", ec.Curve.Params().Name
		if alg == AlgSM2 {
			j.Crv = "SM2"
		}
		size := (ec.Curve.Params().BitSize + 7) / 8
		j.X = b64.EncodeToString(ec.X.FillBytes(make([]byte, size)))
		j.Y = b64.EncodeToString(ec.Y.FillBytes(make([]byte, size)))
	case AlgEdDSA:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X = b64.EncodeToString(pub.(ed25519.PublicKey))
	}
	return j, nil
}

// PublicKey returns the key the JWK describes, normalized as by
// NormalizePublicKey, to verify signatures with: every key TrustID reads
// from a JWK verifies signatures. It checks that "alg", when present,
// matches the key, and that the key is meant for verification (else
// ErrJWKUse): RFC 7517 §4.2, "use" ("sig" or absent; "enc" is for
// encryption), and §4.3, "key_ops" (absent, or listing "verify").
func (j JWK) PublicKey() (crypto.PublicKey, error) {
	if j.Use != "" && j.Use != "sig" || j.KeyOps != "" && !j.KeyOps.Has("verify") {
		return nil, fmt.Errorf("%w: %w: use %.16q, key_ops %.64q", ErrJWK, ErrJWKUse, j.Use, j.KeyOps)
	}
	return j.key()
}

// key is the key the JWK describes, whatever its use (PublicKey).
func (j JWK) key() (crypto.PublicKey, error) {
	var pub crypto.PublicKey
	switch {
	case j.Kty == "EC" && ecCurves[j.Crv] != nil:
		curve := ecCurves[j.Crv]()
		size := (curve.Params().BitSize + 7) / 8
		x, err1 := decodeCoord(j.X, size)
		y, err2 := decodeCoord(j.Y, size)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		ec := &ecdsa.PublicKey{Curve: curve, X: x, Y: y}
		if !curve.IsOnCurve(x, y) {
			return nil, fmt.Errorf("%w: point not on %s", ErrJWK, j.Crv)
		}
		pub = ec
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		x, err := b64url.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize || j.Y != "" {
			return nil, fmt.Errorf("%w: Ed25519 x must be 32 bytes base64url", ErrJWK)
		}
		pub = ed25519.PublicKey(x)
	default:
		return nil, fmt.Errorf("%w: unsupported kty/crv %q/%q", ErrJWK, j.Kty, j.Crv)
	}
	pub, err := NormalizePublicKey(pub)
	if err != nil {
		return nil, err
	}
	if j.Alg != "" {
		if alg, _ := Alg(pub); alg != j.Alg {
			return nil, fmt.Errorf("%w: alg %q does not match the key", ErrJWK, j.Alg)
		}
	}
	return pub, nil
}

// ecCurves are the JWK "crv" values of the EC keys TrustID reads.
var ecCurves = map[string]func() elliptic.Curve{"SM2": sm2.P256, "P-256": elliptic.P256, "P-384": elliptic.P384, "P-521": elliptic.P521}

func decodeCoord(s string, size int) (*big.Int, error) {
	b, err := b64url.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("%w: EC coordinates must be %d bytes base64url", ErrJWK, size)
	}
	return new(big.Int).SetBytes(b), nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the key, base64url.
func (j JWK) Thumbprint() (string, error) {
	var canon string
	switch j.Kty {
	case "EC":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, j.Crv, j.X, j.Y)
	case "OKP":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, j.Crv, j.X)
	default:
		return "", fmt.Errorf("%w: unsupported kty %q", ErrJWK, j.Kty)
	}
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:]), nil
}

// maxJWKS bounds a key set document.
const maxJWKS = 256 << 10

// ParseJWKS decodes a JWK Set strictly: bounded size, no private members
// ("d"), no duplicate kids, no trailing data, every key valid. A key for
// another use than signatures (encryption) is kept, and its PublicKey is
// ErrJWKUse: a verifier skips it.
func ParseJWKS(data []byte) (JWKS, error) {
	if len(data) > maxJWKS {
		return JWKS{}, fmt.Errorf("%w: key set over %d bytes", ErrJWK, maxJWKS)
	}
	var raw struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return JWKS{}, fmt.Errorf("%w: %v", ErrJWK, err)
	}
	// Only JSON whitespace may follow (dec.More would pass a stray '}' or
	// ']').
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) != 0 {
		return JWKS{}, fmt.Errorf("%w: trailing data", ErrJWK)
	}
	var set JWKS
	seen := map[string]bool{}
	for i, m := range raw.Keys {
		if _, ok := m["d"]; ok {
			return JWKS{}, fmt.Errorf("key %d: %w", i, ErrPrivateJWK)
		}
		var j JWK
		b, _ := json.Marshal(m)
		if err := json.Unmarshal(b, &j); err != nil {
			return JWKS{}, fmt.Errorf("%w: key %d: %v", ErrJWK, i, err)
		}
		if _, err := j.key(); err != nil {
			return JWKS{}, fmt.Errorf("key %d: %w", i, err)
		}
		if j.Kid == "" || seen[j.Kid] {
			return JWKS{}, fmt.Errorf("%w: key %d: kid missing or repeated", ErrJWK, i)
		}
		seen[j.Kid] = true
		set.Keys = append(set.Keys, j)
	}
	return set, nil
}

// Key returns the key with the given kid.
func (s JWKS) Key(kid string) (JWK, bool) {
	for _, k := range s.Keys {
		if k.Kid == kid {
			return k, true
		}
	}
	return JWK{}, false
}
