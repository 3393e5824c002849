package auth

import (
	"crypto"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

// NewClientAssertion signs a private_key_jwt client assertion (RFC 7523
// §3): iss = sub = clientID, aud = audience (the token endpoint URL), iat
// now, exp now + lifetime (at most 5 minutes), and a random 128-bit jti.
// The key must be SM2 or P-256; kid names it in the client's JWKS.
func NewClientAssertion(signer crypto.Signer, kid, clientID, audience string, now time.Time, lifetime time.Duration, rand io.Reader) (string, error) {
	method, err := gm.SigningMethod(signer)
	if err != nil {
		return "", err
	}
	if !slices.Contains(AssertionAlgorithms, method.Alg()) {
		return "", fmt.Errorf("auth: client keys must be one of %v, not %s", AssertionAlgorithms, method.Alg())
	}
	if lifetime <= 0 || lifetime > DefaultMaxAssertionAge {
		return "", fmt.Errorf("auth: assertion lifetime %v is outside (0, 5m]", lifetime)
	}
	var id [16]byte
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return "", fmt.Errorf("auth: random: %w", err)
	}
	now = now.Truncate(time.Second)
	t := jwt.NewWithClaims(method, jwt.RegisteredClaims{
		Issuer:    clientID,
		Subject:   clientID,
		Audience:  jwt.ClaimStrings{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(lifetime)),
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
	})
	if kid != "" {
		t.Header["kid"] = kid
	}
	return t.SignedString(signer)
}

// KeyID is the kid TrustID tools give a client key: its RFC 7638 JWK
// thumbprint, so the same key always gets the same kid.
func KeyID(pub crypto.PublicKey) (string, error) {
	j, err := gm.NewJWK(pub, "")
	if err != nil {
		return "", err
	}
	return j.Thumbprint()
}
