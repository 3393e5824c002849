package dataintegrity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"io"
	"math/big"

	"github.com/emmansun/gmsm/sm2"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/trustid-cn/trustid/gm"
)

// The cryptosuites this package implements.
const (
	EdDSARDFC2022 = "eddsa-rdfc-2022"
	ECDSARDFC2019 = "ecdsa-rdfc-2019"
	SM2RDFC2025   = "sm2-rdfc-2025"
)

// Cryptosuites lists every cryptosuite this package implements.
func Cryptosuites() []string { return []string{EdDSARDFC2022, ECDSARDFC2019, SM2RDFC2025} }

// suiteKey is a public key checked against a cryptosuite: the hash the
// suite uses with it, and its signature verification.
type suiteKey struct {
	hash   func([]byte) []byte
	verify func(hashData, sig []byte) bool
}

// hashData is what the suite signs: the hash of the canonical proof
// configuration, then the hash of the canonical document.
func (k suiteKey) hashData(proofCanon, docCanon string) []byte {
	return append(k.hash([]byte(proofCanon)), k.hash([]byte(docCanon))...)
}

// keyFor checks that pub is a key of suite and returns how to use it.
func keyFor(suite string, pub crypto.PublicKey) (suiteKey, error) {
	mismatch := fmt.Errorf("%w: %s takes %s keys, not %s", ErrSuiteKeyMismatch, suite, suiteKeyType(suite), keyType(pub))
	switch suite {
	case EdDSARDFC2022:
		p, ok := pub.(ed25519.PublicKey)
		if !ok || len(p) != ed25519.PublicKeySize {
			return suiteKey{}, mismatch
		}
		return suiteKey{hash: sha256Sum, verify: func(d, sig []byte) bool {
			return len(sig) == ed25519.SignatureSize && ed25519.Verify(p, d, sig)
		}}, nil
	case ECDSARDFC2019:
		p, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return suiteKey{}, mismatch
		}
		var h func([]byte) []byte
		switch p.Curve {
		case elliptic.P256():
			h = sha256Sum
		case elliptic.P384():
			h = sha384Sum
		default:
			return suiteKey{}, mismatch
		}
		size := (p.Curve.Params().BitSize + 7) / 8
		return suiteKey{hash: h, verify: func(d, sig []byte) bool {
			if len(sig) != 2*size {
				return false
			}
			r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
			return ecdsa.Verify(p, h(d), r, s)
		}}, nil
	case SM2RDFC2025:
		var p *gm.PublicKey
		switch k := pub.(type) {
		case *gm.PublicKey:
			p = k
		case *ecdsa.PublicKey:
			if k.Curve != sm2.P256() {
				return suiteKey{}, mismatch
			}
			var err error
			if p, err = gm.NewPublicKey(k, nil); err != nil {
				return suiteKey{}, fmt.Errorf("%w: %v", ErrKey, err)
			}
		default:
			return suiteKey{}, mismatch
		}
		return suiteKey{hash: sm3Sum, verify: func(d, sig []byte) bool { return p.Verify(d, sig) == nil }}, nil
	}
	return suiteKey{}, fmt.Errorf("%w: %q", ErrUnsupportedSuite, suite)
}

// sign signs hashData with signer as suite asks: Ed25519 over the bytes;
// ECDSA over their SHA-256 (P-256) or SHA-384 (P-384), encoded r‖s; SM2
// over the bytes with the default user ID, encoded r‖s.
func sign(suite string, rand io.Reader, signer crypto.Signer, hashData []byte) ([]byte, error) {
	switch suite {
	case EdDSARDFC2022:
		return signer.Sign(rand, hashData, crypto.Hash(0))
	case ECDSARDFC2019:
		p := signer.Public().(*ecdsa.PublicKey)
		size := (p.Curve.Params().BitSize + 7) / 8
		h := crypto.SHA256
		if p.Curve == elliptic.P384() {
			h = crypto.SHA384
		}
		d := h.New()
		d.Write(hashData)
		der, err := signer.Sign(rand, d.Sum(nil), h)
		if err != nil {
			return nil, err
		}
		return derToRaw(der, size)
	case SM2RDFC2025:
		return gm.SignWith(rand, signer, hashData)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedSuite, suite)
}

func derToRaw(der []byte, size int) ([]byte, error) {
	var r, s []byte
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, fmt.Errorf("%w: signer returned a malformed ECDSA signature", ErrKey)
	}
	out := make([]byte, 2*size)
	rb, sb := new(big.Int).SetBytes(r).Bytes(), new(big.Int).SetBytes(s).Bytes()
	if len(rb) > size || len(sb) > size {
		return nil, fmt.Errorf("%w: signer returned a malformed ECDSA signature", ErrKey)
	}
	copy(out[size-len(rb):size], rb)
	copy(out[2*size-len(sb):], sb)
	return out, nil
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func sha384Sum(b []byte) []byte { s := sha512.Sum384(b); return s[:] }
func sm3Sum(b []byte) []byte    { s := gm.SM3(b); return s[:] }

func suiteKeyType(suite string) string {
	switch suite {
	case EdDSARDFC2022:
		return "Ed25519"
	case ECDSARDFC2019:
		return "P-256 or P-384"
	case SM2RDFC2025:
		return "SM2"
	}
	return "no"
}

func keyType(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return "Ed25519"
	case *gm.PublicKey:
		return "SM2"
	case *ecdsa.PublicKey:
		return p.Curve.Params().Name
	}
	return fmt.Sprintf("%T", pub)
}
