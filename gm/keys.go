package gm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// Algorithm names, as used in JWS "alg" and in the keystore.
const (
	AlgSM2   = "SM2"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
	// AlgES384 (P-384) and AlgES512 (P-521) are verified, never signed
	// with: see JWTVerifyAlgorithms.
	AlgES384 = "ES384"
	AlgES512 = "ES512"
)

// maxPEM bounds PEM input; a key file is a few hundred bytes.
const maxPEM = 64 << 10

// ErrUnsupportedKey is returned for key types TrustID does not use.
var ErrUnsupportedKey = errors.New("gm: unsupported key type (want SM2, P-256 or Ed25519)")

// Alg names the signature algorithm of a public key: AlgSM2, AlgES256 or
// AlgEdDSA.
func Alg(pub crypto.PublicKey) (string, error) {
	switch p := pub.(type) {
	case *PublicKey:
		return AlgSM2, nil
	case *ecdsa.PublicKey:
		switch p.Curve {
		case sm2.P256():
			return AlgSM2, nil
		case elliptic.P256():
			return AlgES256, nil
		case elliptic.P384():
			return AlgES384, nil
		case elliptic.P521():
			return AlgES512, nil
		}
	case ed25519.PublicKey:
		return AlgEdDSA, nil
	}
	return "", ErrUnsupportedKey
}

// NormalizePublicKey returns pub in the form the verifiers of this package
// expect: *PublicKey for SM2 (with Z_A for the default user ID),
// *ecdsa.PublicKey for P-256, ed25519.PublicKey for Ed25519.
func NormalizePublicKey(pub crypto.PublicKey) (crypto.PublicKey, error) {
	switch p := pub.(type) {
	case *PublicKey:
		return p, nil
	case *ecdsa.PublicKey:
		switch p.Curve {
		case sm2.P256():
			return NewPublicKey(p, nil)
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			if p.X == nil || p.Y == nil || !p.Curve.IsOnCurve(p.X, p.Y) {
				return nil, fmt.Errorf("%w: point not on %s", ErrInvalidKey, p.Curve.Params().Name)
			}
			return p, nil
		}
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: Ed25519 public key must be 32 bytes", ErrInvalidKey)
		}
		return p, nil
	}
	return nil, ErrUnsupportedKey
}

// GenerateSigner makes a new private key for alg (AlgSM2, AlgES256 or
// AlgEdDSA), reading randomness from rand.
func GenerateSigner(alg string, rand interface{ Read([]byte) (int, error) }) (crypto.Signer, error) {
	switch alg {
	case AlgSM2:
		return GenerateKey(rand)
	case AlgES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand)
	case AlgES384:
		return ecdsa.GenerateKey(elliptic.P384(), rand)
	case AlgES512:
		return ecdsa.GenerateKey(elliptic.P521(), rand)
	case AlgEdDSA:
		_, k, err := ed25519.GenerateKey(rand)
		return k, err
	}
	return nil, fmt.Errorf("gm: unknown algorithm %q", alg)
}

// MarshalPrivateKey encodes a private key as PKCS#8 DER. SM2 keys use the
// SM2 curve OID of GB/T 35276.
func MarshalPrivateKey(key crypto.Signer) ([]byte, error) {
	switch k := key.(type) {
	case *PrivateKey:
		return smx509.MarshalPKCS8PrivateKey(k.key)
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, ErrUnsupportedKey
		}
		return smx509.MarshalPKCS8PrivateKey(k)
	case ed25519.PrivateKey:
		return smx509.MarshalPKCS8PrivateKey(k)
	}
	return nil, ErrUnsupportedKey
}

// ParsePrivateKey decodes PKCS#8 DER into a *PrivateKey (SM2),
// *ecdsa.PrivateKey (P-256) or ed25519.PrivateKey.
func ParsePrivateKey(der []byte) (crypto.Signer, error) {
	if len(der) > maxPEM {
		return nil, fmt.Errorf("%w: too large", ErrInvalidKey)
	}
	k, err := smx509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: PKCS#8: %v", ErrInvalidKey, err)
	}
	switch k := k.(type) {
	case *sm2.PrivateKey:
		return newPrivateKey(k, nil)
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return k, nil
		}
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, ErrUnsupportedKey
}

// MarshalPublicKey encodes a public key as PKIX (SubjectPublicKeyInfo) DER.
func MarshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	if p, ok := pub.(*PublicKey); ok {
		pub = p.key
	}
	if _, err := Alg(pub); err != nil {
		return nil, err
	}
	return smx509.MarshalPKIXPublicKey(pub)
}

// ParsePublicKey decodes PKIX DER into a normalized public key (see
// NormalizePublicKey).
func ParsePublicKey(der []byte) (crypto.PublicKey, error) {
	if len(der) > maxPEM {
		return nil, fmt.Errorf("%w: too large", ErrInvalidKey)
	}
	pub, err := smx509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: PKIX: %v", ErrInvalidKey, err)
	}
	return NormalizePublicKey(pub)
}

// MarshalPrivateKeyPEM encodes a private key as a "PRIVATE KEY" PEM block.
func MarshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes exactly one "PRIVATE KEY" PEM block.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	der, err := decodeOnePEM(data, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	return ParsePrivateKey(der)
}

// MarshalPublicKeyPEM encodes a public key as a "PUBLIC KEY" PEM block.
func MarshalPublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := MarshalPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeyPEM decodes exactly one "PUBLIC KEY" PEM block.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	der, err := decodeOnePEM(data, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	return ParsePublicKey(der)
}

func decodeOnePEM(data []byte, typ string) ([]byte, error) {
	if len(data) > maxPEM {
		return nil, fmt.Errorf("%w: PEM input over %d bytes", ErrInvalidKey, maxPEM)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrInvalidKey)
	}
	if block.Type != typ {
		return nil, fmt.Errorf("%w: PEM block is %q, want %q", ErrInvalidKey, block.Type, typ)
	}
	if len(block.Headers) != 0 {
		return nil, fmt.Errorf("%w: encrypted or annotated PEM is not supported", ErrInvalidKey)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: trailing data after PEM block", ErrInvalidKey)
	}
	return block.Bytes, nil
}
