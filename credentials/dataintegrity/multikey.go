package dataintegrity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"fmt"
	"math/big"
	"strings"

	"github.com/emmansun/gmsm/sm2"

	"github.com/trustid-cn/trustid/gm"
)

// Multicodec codes of the public keys a Multikey holds (and of the
// Ed25519 secret key the W3C test vectors use).
const (
	codeEd25519Pub  = 0xed
	codeP256Pub     = 0x1200
	codeP384Pub     = 0x1201
	codeSM2Pub      = 0x1206 // sm2-pub, as TrustID's did:key uses it
	codeEd25519Priv = 0x1300
)

// EncodeMultikey returns the publicKeyMultibase of pub: 'z' (base58btc) of
// the multicodec varint and the key (Ed25519: 32 bytes; P-256, P-384 and
// SM2: the SEC 1 compressed point).
func EncodeMultikey(pub crypto.PublicKey) (string, error) {
	var code uint64
	var raw []byte
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return "", fmt.Errorf("%w: Ed25519 key length", ErrKey)
		}
		code, raw = codeEd25519Pub, p
	case *gm.PublicKey:
		e := p.ECDSA()
		code, raw = codeSM2Pub, elliptic.MarshalCompressed(e.Curve, e.X, e.Y)
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			code = codeP256Pub
		case elliptic.P384():
			code = codeP384Pub
		case sm2.P256():
			code = codeSM2Pub
		default:
			return "", fmt.Errorf("%w: curve %s", ErrKey, p.Curve.Params().Name)
		}
		raw = elliptic.MarshalCompressed(p.Curve, p.X, p.Y)
	default:
		return "", fmt.Errorf("%w: key type %T", ErrKey, pub)
	}
	return "z" + base58Encode(append(appendUvarint(nil, code), raw...)), nil
}

// DecodeMultikey parses a publicKeyMultibase (as EncodeMultikey writes
// it). SM2 keys come back as *gm.PublicKey with the default user ID.
func DecodeMultikey(s string) (crypto.PublicKey, error) {
	code, raw, err := decodeMultibase(s)
	if err != nil {
		return nil, err
	}
	var curve elliptic.Curve
	switch code {
	case codeEd25519Pub:
		if len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: Ed25519 Multikey must hold 32 bytes", ErrKey)
		}
		return ed25519.PublicKey(raw), nil
	case codeP256Pub:
		curve = elliptic.P256()
	case codeP384Pub:
		curve = elliptic.P384()
	case codeSM2Pub:
		curve = sm2.P256()
	default:
		return nil, fmt.Errorf("%w: multicodec 0x%x", ErrKey, code)
	}
	size := (curve.Params().BitSize + 7) / 8
	if len(raw) != 1+size {
		return nil, fmt.Errorf("%w: EC Multikey must be a %d-byte compressed point", ErrKey, 1+size)
	}
	x, y := decompress(curve, raw)
	if x == nil {
		return nil, fmt.Errorf("%w: point not on the curve", ErrKey)
	}
	pub := &ecdsa.PublicKey{Curve: curve, X: x, Y: y}
	if code == codeSM2Pub {
		return gm.NewPublicKey(pub, nil)
	}
	return pub, nil
}

// decodeEd25519Secret parses an Ed25519 secretKeyMultibase (multicodec
// ed25519-priv with the 32-byte seed).
func decodeEd25519Secret(s string) (ed25519.PrivateKey, error) {
	code, raw, err := decodeMultibase(s)
	if err != nil {
		return nil, err
	}
	if code != codeEd25519Priv || len(raw) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: not an Ed25519 secret key", ErrKey)
	}
	return ed25519.NewKeyFromSeed(raw), nil
}

func decodeMultibase(s string) (uint64, []byte, error) {
	if len(s) < 2 || s[0] != 'z' || len(s) > 256 {
		return 0, nil, fmt.Errorf("%w: Multikey must be multibase base58btc ('z')", ErrKey)
	}
	b, err := base58Decode(s[1:])
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	code, n := uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: multicodec varint", ErrKey)
	}
	return code, b[n:], nil
}

// decompress decodes a SEC 1 compressed point on a short Weierstrass
// curve with a = -3 (P-256, P-384 and the SM2 curve all are).
func decompress(curve elliptic.Curve, b []byte) (x, y *big.Int) {
	if b[0] != 2 && b[0] != 3 {
		return nil, nil
	}
	p := curve.Params().P
	x = new(big.Int).SetBytes(b[1:])
	if x.Cmp(p) >= 0 {
		return nil, nil
	}
	y2 := new(big.Int).Mul(x, x)
	y2.Mul(y2, x)
	threeX := new(big.Int).Lsh(x, 1)
	threeX.Add(threeX, x)
	y2.Sub(y2, threeX)
	y2.Add(y2, curve.Params().B)
	y2.Mod(y2, p)
	y = new(big.Int).ModSqrt(y2, p)
	if y == nil {
		return nil, nil
	}
	if y.Bit(0) != uint(b[0]&1) {
		y.Sub(p, y)
	}
	if !curve.IsOnCurve(x, y) {
		return nil, nil
	}
	return x, y
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 9; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			if i > 0 && b[i] == 0 {
				return 0, -1
			}
			return v, i + 1
		}
	}
	return 0, -1
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	var digits []byte
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

func base58Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	var le []byte
	for i := zeros; i < len(s); i++ {
		d := strings.IndexByte(base58Alphabet, s[i])
		if d < 0 {
			return nil, fmt.Errorf("invalid base58 character")
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
