package gm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// DefaultUID is the SM2 signer identity of GB/T 35276 used when none is
// configured: the ASCII string "1234567812345678".
var DefaultUID = []byte("1234567812345678")

// SignatureSize is the length of a raw SM2 signature r‖s.
const SignatureSize = 64

// Errors returned by SM2 operations.
var (
	ErrInvalidSignature = errors.New("gm: invalid SM2 signature")
	ErrSignatureLength  = errors.New("gm: SM2 signature must be 64 bytes r||s")
	ErrNotSM2Key        = errors.New("gm: not an SM2 key")
	ErrInvalidKey       = errors.New("gm: invalid key")
	ErrKeyGeneration    = errors.New("gm: SM2 key generation kept producing invalid keys")
)

// PublicKey is an SM2 public key with Z_A precomputed for one user ID, so a
// verification hashes only the message. It is immutable and safe for
// concurrent use.
type PublicKey struct {
	key *ecdsa.PublicKey
	uid []byte
	za  [sm3.Size]byte
}

// NewPublicKey wraps an SM2 public key for user ID uid (DefaultUID when nil).
func NewPublicKey(pub *ecdsa.PublicKey, uid []byte) (*PublicKey, error) {
	if pub == nil || pub.Curve != sm2.P256() || pub.X == nil || pub.Y == nil {
		return nil, ErrNotSM2Key
	}
	if !onCurve(pub.X, pub.Y) {
		return nil, fmt.Errorf("%w: point not on the SM2 curve", ErrInvalidKey)
	}
	if !pub.Curve.IsOnCurve(pub.X, pub.Y) {
		// A valid point that gmsm's assembly field arithmetic miscomputes
		// (see onCurve): gmsm would reject it at every verification too.
		return nil, fmt.Errorf("%w: point on the SM2 curve but refused by the SM2 implementation", ErrInvalidKey)
	}
	if len(uid) == 0 {
		uid = DefaultUID
	}
	if len(uid) > 8191 { // ENTL is a 16-bit count of bits.
		return nil, fmt.Errorf("%w: user ID too long", ErrInvalidKey)
	}
	za, err := sm2.CalculateZA(pub, uid)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	k := &PublicKey{key: pub, uid: append([]byte(nil), uid...)}
	copy(k.za[:], za)
	return k, nil
}

// ParsePublicKeyBytes parses an uncompressed SEC 1 point (0x04‖X‖Y) on the
// SM2 curve.
func ParsePublicKeyBytes(b []byte) (*PublicKey, error) {
	if len(b) != 65 || b[0] != 4 {
		return nil, fmt.Errorf("%w: want a 65-byte uncompressed point", ErrInvalidKey)
	}
	pub, err := sm2.NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return NewPublicKey(pub, nil)
}

// ParseCompressedPublicKey parses a 33-byte compressed SEC 1 point
// (0x02 or 0x03 ‖ X) on the SM2 curve. gmsm v0.41.1's
// elliptic.UnmarshalCompressed can return a wrong point (see onCurve), so
// its answer is checked with math/big, which recovers Y itself when the
// check fails.
func ParseCompressedPublicKey(b []byte) (*PublicKey, error) {
	if len(b) != 33 || (b[0] != 2 && b[0] != 3) {
		return nil, fmt.Errorf("%w: want a 33-byte compressed point", ErrInvalidKey)
	}
	params := sm2.P256().Params()
	x := new(big.Int).SetBytes(b[1:])
	if x.Cmp(params.P) >= 0 {
		return nil, fmt.Errorf("%w: point not on the SM2 curve", ErrInvalidKey)
	}
	// gmsm's decompression is fast (~20 µs against ~130 µs for math/big's
	// square root); its answer is kept only when math/big confirms it.
	y := new(big.Int)
	if ax, ay := elliptic.UnmarshalCompressed(sm2.P256(), b); ax != nil && ax.Cmp(x) == 0 && ay.Bit(0) == uint(b[0]&1) && onCurve(x, ay) {
		y = ay
	} else if y.ModSqrt(curveRHS(x), params.P) == nil {
		return nil, fmt.Errorf("%w: point not on the SM2 curve", ErrInvalidKey)
	} else if y.Bit(0) != uint(b[0]&1) {
		y.Sub(params.P, y)
	}
	return NewPublicKey(&ecdsa.PublicKey{Curve: sm2.P256(), X: x, Y: y}, nil)
}

// ECDSA returns the underlying key. Callers must not modify it.
func (k *PublicKey) ECDSA() *ecdsa.PublicKey { return k.key }

// Bytes returns the uncompressed SEC 1 encoding 0x04‖X‖Y.
func (k *PublicKey) Bytes() []byte {
	b := make([]byte, 65)
	b[0] = 4
	k.key.X.FillBytes(b[1:33])
	k.key.Y.FillBytes(b[33:])
	return b
}

// Equal reports whether x is the same SM2 public key.
func (k *PublicKey) Equal(x crypto.PublicKey) bool {
	switch o := x.(type) {
	case *PublicKey:
		return k.key.Equal(o.key)
	case *ecdsa.PublicKey:
		return k.key.Equal(o)
	}
	return false
}

// digest appends e = SM3(Z_A ‖ msg) to dst.
func (k *PublicKey) digest(dst, msg []byte) []byte {
	h := sm3.New()
	h.Write(k.za[:])
	h.Write(msg)
	return h.Sum(dst)
}

// verifyScratch is a verification's DER signature and digest, which
// escape into gmsm's VerifyASN1: pooled, not two allocations each time.
type verifyScratch struct {
	der [2 + 2*(2+1+32)]byte
	e   [sm3.Size]byte
}

var verifyScratches = sync.Pool{New: func() any { return new(verifyScratch) }}

// Verify checks a raw 64-byte r‖s signature of msg. Any other length,
// including a DER encoding, is rejected with ErrSignatureLength.
func (k *PublicKey) Verify(msg, sig []byte) error {
	if len(sig) != SignatureSize {
		return ErrSignatureLength
	}
	sc := verifyScratches.Get().(*verifyScratch)
	defer verifyScratches.Put(sc)
	der, err := rawToDER(&sc.der, sig)
	if err != nil {
		return ErrInvalidSignature
	}
	if !sm2.VerifyASN1(k.key, k.digest(sc.e[:0], msg), der) {
		return ErrInvalidSignature
	}
	return nil
}

// VerifyASN1 checks a DER-encoded SM2 signature of msg (the X.509 and
// crypto.Signer form).
func (k *PublicKey) VerifyASN1(msg, der []byte) error {
	if len(der) > 80 {
		return ErrInvalidSignature
	}
	sc := verifyScratches.Get().(*verifyScratch)
	defer verifyScratches.Put(sc)
	if !sm2.VerifyASN1(k.key, k.digest(sc.e[:0], msg), der) {
		return ErrInvalidSignature
	}
	return nil
}

// PrivateKey is an SM2 private key. It implements crypto.Signer: Sign takes
// the whole message (SM2 hashes it with Z_A itself, so opts.HashFunc() must be
// zero) and returns a DER signature; SignRaw returns r‖s.
type PrivateKey struct {
	key *sm2.PrivateKey
	pub *PublicKey
}

// maxKeyTries bounds the draws of GenerateKey.
const maxKeyTries = 4

// GenerateKey makes a new SM2 key from rand, with the default user ID.
//
// gmsm v0.41.1 on amd64 with BMI2/ADX miscomputes rare field products (see
// onCurve), so a generated public point can be wrong. GenerateKey checks the
// point with math/big, computes it again when it is off the curve (see
// newPrivateKey), and draws a new scalar when that fails too or gmsm
// refuses the point.
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	return generateKey(rand, sm2.GenerateKey)
}

// generateKey is GenerateKey with the SM2 key generator as a parameter.
func generateKey(rand io.Reader, gen func(io.Reader) (*sm2.PrivateKey, error)) (*PrivateKey, error) {
	for range maxKeyTries {
		k, err := gen(rand)
		if err != nil {
			return nil, fmt.Errorf("gm: generate SM2 key: %w", err)
		}
		if key, err := newPrivateKey(k, nil); err == nil {
			return key, nil
		}
	}
	return nil, ErrKeyGeneration
}

// onCurve reports whether (x, y) is an affine point of the SM2 curve,
// y² = x³ − 3x + b mod p, with 0 ≤ x, y < p. It uses math/big, not gmsm's
// elliptic.Curve.IsOnCurve: gmsm v0.41.1's p256Mul on amd64 with BMI2/ADX
// reads a stale overflow flag (ADOXQ after SBBQ, gmsm issue #560) and
// returns a wrong product about once in 10⁹ calls, so that IsOnCurve refuses
// some valid points and a point's conversion to affine coordinates (as in
// sm2.GenerateKey) can come out wrong.
func onCurve(x, y *big.Int) bool {
	p := sm2.P256().Params().P
	if x.Sign() < 0 || y.Sign() < 0 || x.Cmp(p) >= 0 || y.Cmp(p) >= 0 {
		return false
	}
	lhs := new(big.Int).Mul(y, y)
	return lhs.Mod(lhs, p).Cmp(curveRHS(x)) == 0
}

// curveRHS returns x³ − 3x + b mod p for 0 ≤ x < p.
func curveRHS(x *big.Int) *big.Int {
	params := sm2.P256().Params()
	rhs := new(big.Int).Mul(x, x)
	rhs.Mul(rhs, x)
	rhs.Sub(rhs, new(big.Int).Lsh(x, 1))
	rhs.Sub(rhs, x)
	rhs.Add(rhs, params.B)
	return rhs.Mod(rhs, params.P)
}

// NewPrivateKey builds a key from its 32-byte big-endian scalar.
func NewPrivateKey(d []byte) (*PrivateKey, error) {
	if len(d) != 32 {
		return nil, fmt.Errorf("%w: SM2 private scalar must be 32 bytes", ErrInvalidKey)
	}
	k, err := sm2.NewPrivateKey(d)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return newPrivateKey(k, nil)
}

// newPrivateKey wraps k, whose scalar must be in [1, n−2] (GB/T 32918.1;
// smx509's PKCS#8 parser accepts n−1, which SM2 cannot sign with). When
// k's public point is off the curve (gmsm miscomputed d·G, see onCurve)
// it computes d·G again by gmsm's generic scalar multiplication, whose
// field products differ.
func newPrivateKey(k *sm2.PrivateKey, uid []byte) (*PrivateKey, error) {
	params := k.Curve.Params()
	if k.D == nil || k.D.Sign() <= 0 || new(big.Int).Add(k.D, big.NewInt(1)).Cmp(params.N) >= 0 {
		return nil, fmt.Errorf("%w: SM2 private scalar out of range", ErrInvalidKey)
	}
	if k.X == nil || k.Y == nil || !onCurve(k.X, k.Y) {
		x, y := k.Curve.ScalarMult(params.Gx, params.Gy, k.D.FillBytes(make([]byte, 32)))
		k = &sm2.PrivateKey{PrivateKey: ecdsa.PrivateKey{
			PublicKey: ecdsa.PublicKey{Curve: k.Curve, X: x, Y: y},
			D:         k.D,
		}}
	}
	pub, err := NewPublicKey(&k.PublicKey, uid)
	if err != nil {
		return nil, err
	}
	return &PrivateKey{key: k, pub: pub}, nil
}

// WithUID returns the same key signing for another user ID.
func (k *PrivateKey) WithUID(uid []byte) (*PrivateKey, error) {
	return newPrivateKey(k.key, uid)
}

// Public returns the *PublicKey.
func (k *PrivateKey) Public() crypto.PublicKey { return k.pub }

// PublicKey returns the public half.
func (k *PrivateKey) PublicKey() *PublicKey { return k.pub }

// Scalar returns the 32-byte private scalar. Handle it as a secret.
func (k *PrivateKey) Scalar() []byte { return k.key.D.FillBytes(make([]byte, 32)) }

// Equal reports, in constant time for the scalar, whether x is the same key.
func (k *PrivateKey) Equal(x crypto.PrivateKey) bool {
	o, ok := x.(*PrivateKey)
	if !ok {
		return false
	}
	return k.pub.Equal(o.pub) && subtle.ConstantTimeCompare(k.Scalar(), o.Scalar()) == 1
}

// Sign implements crypto.Signer. msg is the message itself; opts must not
// ask for a pre-hash (HashFunc() == 0). The signature is DER.
func (k *PrivateKey) Sign(rand io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != 0 {
		return nil, errors.New("gm: SM2 signs the message itself; pass opts with HashFunc() == 0")
	}
	return sm2.SignASN1(rand, k.key, k.pub.digest(nil, msg), nil)
}

// SignRaw signs msg and returns the raw 64-byte r‖s signature.
func (k *PrivateKey) SignRaw(rand io.Reader, msg []byte) ([]byte, error) {
	der, err := k.Sign(rand, msg, nil)
	if err != nil {
		return nil, err
	}
	return derToRaw(der)
}

// sm2Opts are the crypto.SignerOpts passed to a foreign crypto.Signer (an HSM
// handle, or emmansun's *sm2.PrivateKey) so that it hashes with Z_A itself.
var sm2Opts = sm2.DefaultSM2SignerOpts

// SignWith signs msg with any crypto.Signer holding an SM2 key and returns
// r‖s. A *PrivateKey is signed directly; other signers (for example a KMS
// handle) receive the message with SM2 signer options and must return DER.
func SignWith(rand io.Reader, signer crypto.Signer, msg []byte) ([]byte, error) {
	if k, ok := signer.(*PrivateKey); ok {
		return k.SignRaw(rand, msg)
	}
	if !IsSM2PublicKey(signer.Public()) {
		return nil, ErrNotSM2Key
	}
	der, err := signer.Sign(rand, msg, sm2Opts)
	if err != nil {
		return nil, fmt.Errorf("gm: SM2 sign: %w", err)
	}
	return derToRaw(der)
}

// IsSM2PublicKey reports whether pub is an SM2 public key.
func IsSM2PublicKey(pub crypto.PublicKey) bool {
	switch p := pub.(type) {
	case *PublicKey:
		return true
	case *ecdsa.PublicKey:
		return p.Curve == sm2.P256()
	}
	return false
}

// rawToDER encodes r‖s as the ASN.1 SEQUENCE the SM2 primitives expect,
// in buf: two DER INTEGERs, each without leading zero bytes and with one
// zero byte before a set high bit. A zero r or s is refused.
func rawToDER(buf *[2 + 2*(2+1+32)]byte, sig []byte) ([]byte, error) {
	r, s := bytes.TrimLeft(sig[:32], "\x00"), bytes.TrimLeft(sig[32:], "\x00")
	if len(r) == 0 || len(s) == 0 {
		return nil, ErrInvalidSignature
	}
	b := append(buf[:0], 0x30, 0) // SEQUENCE, its length below (at most 70)
	for _, n := range [][]byte{r, s} {
		if n[0]&0x80 != 0 {
			b = append(b, 0x02, byte(len(n)+1), 0)
		} else {
			b = append(b, 0x02, byte(len(n)))
		}
		b = append(b, n...)
	}
	b[1] = byte(len(b) - 2)
	return b, nil
}

// derToRaw decodes a DER SM2 signature into r‖s.
func derToRaw(der []byte) ([]byte, error) {
	var r, s big.Int
	var inner cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&inner, asn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(&r) || !inner.ReadASN1Integer(&s) || !inner.Empty() ||
		r.Sign() <= 0 || s.Sign() <= 0 || r.BitLen() > 256 || s.BitLen() > 256 {
		return nil, ErrInvalidSignature
	}
	out := make([]byte, SignatureSize)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}
