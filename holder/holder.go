// Package holder is what a wallet produces for a TrustID node: the device
// proof that shows possession of a device key (enrollment, PIN check), the
// AAD that binds a sealed PIN verifier to its binding, and the subject URI
// of a binding. It links no server dependency (no store, ledger, HTTP
// server or metrics): the wallet SDK builds on it, and the node checks
// device proofs with CheckDeviceProof.
package holder

import (
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

const (
	// DeviceProofType is the "typ" of the device proof JWS.
	DeviceProofType = "trustid-device-proof+jwt"
	// MaxDeviceProofLife bounds exp - iat of a device proof.
	MaxDeviceProofLife = 5 * time.Minute
	// deviceProofLife is the life of the proofs NewDeviceProof makes.
	deviceProofLife = 2 * time.Minute
	// maxDeviceProof bounds the size of a device proof.
	maxDeviceProof = 4096
)

// ErrDeviceProof is a device proof that is missing, malformed, stale, for
// another node or not signed by the device key.
var ErrDeviceProof = errors.New("holder: device proof invalid")

// NewDeviceProof signs a device proof for the node whose base URL is
// audience: a JWS by device of typ DeviceProofType with aud, iat, exp
// (two minutes on) and jti, which the node spends.
func NewDeviceProof(device crypto.Signer, audience string, now time.Time, jti string) (string, error) {
	m, err := gm.SigningMethod(device)
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(m, jwt.RegisteredClaims{
		Audience: jwt.ClaimStrings{audience}, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(deviceProofLife)), ID: jti,
	})
	t.Header["typ"] = DeviceProofType
	return t.SignedString(device)
}

// DeviceProof is a checked device proof: its jti and expiry.
type DeviceProof struct {
	ID      string
	Expires time.Time
}

// CheckDeviceProof verifies a device proof by pub for audience at now:
// its signature (pub's algorithm only), typ, audience, iat and exp (30 s
// leeway, a life of at most MaxDeviceProofLife) and a jti of 16 to 128
// characters. Errors match ErrDeviceProof. Spending the jti is the
// caller's.
func CheckDeviceProof(audience string, pub crypto.PublicKey, proof string, now time.Time) (DeviceProof, error) {
	alg, _ := gm.Alg(pub)
	if proof == "" || len(proof) > maxDeviceProof {
		return DeviceProof{}, fmt.Errorf("%w: missing or too long", ErrDeviceProof)
	}
	parser, err := gm.NewJWTParser([]string{alg}, jwt.WithAudience(audience), jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		return DeviceProof{}, err
	}
	var c jwt.RegisteredClaims
	tok, err := parser.ParseWithClaims(proof, &c, func(*jwt.Token) (any, error) { return pub, nil })
	if err != nil {
		return DeviceProof{}, fmt.Errorf("%w: %v", ErrDeviceProof, err)
	}
	if typ, _ := tok.Header["typ"].(string); typ != DeviceProofType {
		return DeviceProof{}, fmt.Errorf("%w: typ must be %s", ErrDeviceProof, DeviceProofType)
	}
	if c.IssuedAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) > MaxDeviceProofLife || c.ExpiresAt.Before(c.IssuedAt.Time) {
		return DeviceProof{}, fmt.Errorf("%w: lifetime must be at most %v", ErrDeviceProof, MaxDeviceProofLife)
	}
	if len(c.ID) < 16 || len(c.ID) > 128 {
		return DeviceProof{}, fmt.Errorf("%w: jti must be 16-128 characters", ErrDeviceProof)
	}
	return DeviceProof{ID: c.ID, Expires: c.ExpiresAt.Time}, nil
}

// PINAAD is the AAD that binds a sealed PIN verifier to a binding: the
// binding's subject bytes (its handle) and the RFC 7638 thumbprint of
// the device key (cnf.jwk). The node gives it to identity.PINSealer.
func PINAAD(subject []byte, deviceThumbprint string) []byte {
	aad := append([]byte("TrustID/binding-pin/v1\x00"), subject...)
	return append(aad, deviceThumbprint...)
}

// SubjectURI is the credentialSubject id of a binding subject (or a
// copy's subject handle).
func SubjectURI(subject []byte) string { return "urn:trustid:subject:" + hex.EncodeToString(subject) }
