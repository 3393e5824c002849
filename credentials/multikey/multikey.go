// Package multikey encodes public keys as Multikey (W3C Controlled
// Identifiers 1.0: publicKeyMultibase, multibase base58btc of the
// multicodec-prefixed key), the form did:key identifiers and Data
// Integrity verification methods carry them in, and base58btc itself
// (Data Integrity proofValue, digestMultibase). It is the one copy of
// these encodings for credentials (did:key, relatedResource) and
// credentials/dataintegrity, and links neither.
package multikey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"errors"
	"fmt"
	"strings"

	"github.com/emmansun/gmsm/sm2"

	"github.com/trustid-cn/trustid/gm"
)

// Multicodec codes of the keys a Multikey holds (and of the Ed25519
// secret key the W3C test vectors use).
const (
	CodeEd25519Pub  = 0xed
	CodeP256Pub     = 0x1200
	CodeP384Pub     = 0x1201
	CodeSM2Pub      = 0x1206 // sm2-pub, "draft" in the multicodec table
	CodeEd25519Priv = 0x1300
)

// maxEncoded bounds an encoded key (the longest, P-384, is 52 characters).
const maxEncoded = 256

// Errors of decoding.
var (
	// ErrMalformed: not multibase base58btc, a bad varint, a key of the
	// wrong length or a point off its curve.
	ErrMalformed = errors.New("multikey: malformed key")
	// ErrUnsupported: a multicodec or key type this package does not
	// take.
	ErrUnsupported = errors.New("multikey: unsupported key type")
)

// Encode returns the publicKeyMultibase of pub: 'z' (base58btc) of the
// multicodec varint and the key (Ed25519: 32 bytes; P-256, P-384 and SM2:
// the SEC 1 compressed point).
func Encode(pub crypto.PublicKey) (string, error) {
	var code uint64
	var raw []byte
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return "", fmt.Errorf("%w: Ed25519 key length", ErrMalformed)
		}
		code, raw = CodeEd25519Pub, p
	case *gm.PublicKey:
		e := p.ECDSA()
		code, raw = CodeSM2Pub, elliptic.MarshalCompressed(e.Curve, e.X, e.Y)
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			code = CodeP256Pub
		case elliptic.P384():
			code = CodeP384Pub
		case sm2.P256():
			code = CodeSM2Pub
		default:
			return "", fmt.Errorf("%w: curve %s", ErrUnsupported, p.Curve.Params().Name)
		}
		raw = elliptic.MarshalCompressed(p.Curve, p.X, p.Y)
	default:
		return "", fmt.Errorf("%w: %T", ErrUnsupported, pub)
	}
	return "z" + Base58Encode(append(AppendUvarint(nil, code), raw...)), nil
}

// Decode parses a publicKeyMultibase (as Encode writes it): an
// ed25519.PublicKey, an *ecdsa.PublicKey (P-256, P-384) or, for SM2, a
// *gm.PublicKey with the default user ID.
func Decode(s string) (crypto.PublicKey, error) {
	code, raw, err := decode(s)
	if err != nil {
		return nil, err
	}
	var curve elliptic.Curve
	switch code {
	case CodeEd25519Pub:
		if len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: an Ed25519 key must hold 32 bytes", ErrMalformed)
		}
		return ed25519.PublicKey(raw), nil
	case CodeP256Pub:
		curve = elliptic.P256()
	case CodeP384Pub:
		curve = elliptic.P384()
	case CodeSM2Pub:
		curve = sm2.P256()
	default:
		return nil, fmt.Errorf("%w: multicodec 0x%x", ErrUnsupported, code)
	}
	size := (curve.Params().BitSize + 7) / 8
	if len(raw) != 1+size {
		return nil, fmt.Errorf("%w: an EC key must be a %d-byte compressed point", ErrMalformed, 1+size)
	}
	if code == CodeSM2Pub {
		// gm decompresses with math/big: gmsm's UnmarshalCompressed can
		// return a wrong point (see gm.ParseCompressedPublicKey).
		pub, err := gm.ParseCompressedPublicKey(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return pub, nil
	}
	x, y := elliptic.UnmarshalCompressed(curve, raw)
	if x == nil {
		return nil, fmt.Errorf("%w: point not on the curve", ErrMalformed)
	}
	return &ecdsa.PublicKey{Curve: curve, X: x, Y: y}, nil
}

// DecodeEd25519Secret parses an Ed25519 secretKeyMultibase (multicodec
// ed25519-priv with the 32-byte seed), as the W3C test vectors give it.
func DecodeEd25519Secret(s string) (ed25519.PrivateKey, error) {
	code, raw, err := decode(s)
	if err != nil {
		return nil, err
	}
	if code != CodeEd25519Priv || len(raw) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: not an Ed25519 secret key", ErrUnsupported)
	}
	return ed25519.NewKeyFromSeed(raw), nil
}

// decode splits a multibase base58btc string into its multicodec and key.
func decode(s string) (uint64, []byte, error) {
	if len(s) < 2 || s[0] != 'z' || len(s) > maxEncoded {
		return 0, nil, fmt.Errorf("%w: not multibase base58btc ('z')", ErrMalformed)
	}
	b, err := Base58Decode(s[1:])
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	code, n := Uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: multicodec varint", ErrMalformed)
	}
	return code, b[n:], nil
}

// AppendUvarint appends v as an unsigned varint (multiformats
// unsigned-varint, as encoding/binary's).
func AppendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// Uvarint decodes a minimal unsigned varint of at most 9 bytes (the
// multiformats limit) and returns it and its length; the length is -1
// when b does not start with one.
func Uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 9; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			if i > 0 && b[i] == 0 {
				return 0, -1 // not minimal
			}
			return v, i + 1
		}
	}
	return 0, -1
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// Base58Encode encodes b in base58 with the Bitcoin alphabet (multibase
// base58btc without its 'z').
func Base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	var digits []byte // little-endian base-58 digits
	for _, c := range b[zeros:] {
		carry := int(c)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := make([]byte, zeros, zeros+len(digits))
	for i := range out {
		out[i] = '1'
	}
	for i := len(digits) - 1; i >= 0; i-- {
		out = append(out, base58Alphabet[digits[i]])
	}
	return string(out)
}

// ErrBase58 is the error of a character outside the base58 alphabet.
var ErrBase58 = errors.New("multikey: invalid base58 character")

// Base58Decode decodes base58 with the Bitcoin alphabet.
func Base58Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	var le []byte // little-endian bytes
	for i := zeros; i < len(s); i++ {
		d := strings.IndexByte(base58Alphabet, s[i])
		if d < 0 {
			return nil, ErrBase58
		}
		carry := d
		for j := range le {
			carry += int(le[j]) * 58
			le[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			le = append(le, byte(carry))
			carry >>= 8
		}
	}
	out := make([]byte, zeros, zeros+len(le))
	for i := len(le) - 1; i >= 0; i-- {
		out = append(out, le[i])
	}
	return out, nil
}
