package gm

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/trustid-cn/trustid/gm/gmtest"
)

// sm2RHS returns x³ − 3x + b mod p.
func sm2RHS(x *big.Int) *big.Int {
	params := sm2.P256().Params()
	r := new(big.Int).Exp(x, big.NewInt(3), params.P)
	r.Sub(r, new(big.Int).Mul(big.NewInt(3), x))
	r.Add(r, params.B)
	return r.Mod(r, params.P)
}

// pointWithLowLimb returns a valid SM2 point whose x has lowest 64-bit limb
// low and the other limbs derived from seed.
func pointWithLowLimb(t *testing.T, low uint64, seed byte) (x, y *big.Int) {
	t.Helper()
	p := sm2.P256().Params().P
	for i := range 256 {
		hi := new(big.Int).SetBytes([]byte{0x5a, seed, byte(i), 0x11, 0x22, 0x33, 0x44, 0x55,
			0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xf0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06})
		x = hi.Lsh(hi, 64).Or(hi, new(big.Int).SetUint64(low))
		if y = new(big.Int).ModSqrt(sm2RHS(x), p); y != nil {
			return x, y
		}
	}
	t.Fatal("no point found")
	return nil, nil
}

// gmsmWindowX is an x whose lowest limb times gmsm's Montgomery constant RR
// (low limb 0x0000000200000003) is 0x8000000000000005 mod 2⁶⁴: the first
// reduction step of gmsm v0.41.1's BMI2 p256Mul, converting x into the
// Montgomery domain, then leaves the overflow flag set before an ADOXQ.
func gmsmWindowX() uint64 {
	two64 := new(big.Int).Lsh(big.NewInt(1), 64)
	inv := new(big.Int).ModInverse(new(big.Int).SetUint64(0x0000000200000003), two64)
	x0 := inv.Mul(inv, new(big.Int).SetUint64(0x8000000000000005))
	return x0.Mod(x0, two64).Uint64()
}

func TestOnCurve(t *testing.T) {
	params := sm2.P256().Params()
	p := params.P
	if !onCurve(params.Gx, params.Gy) {
		t.Fatal("G not on the curve")
	}
	for i := range 50 {
		k, err := sm2.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if onCurve(k.X, k.Y) != sm2.P256().IsOnCurve(k.X, k.Y) {
			t.Fatalf("key %d: math/big and gmsm disagree", i)
		}
	}
	bad := []struct {
		name string
		x, y *big.Int
	}{
		{"y+1", params.Gx, new(big.Int).Add(params.Gy, big.NewInt(1))},
		{"x+p", new(big.Int).Add(params.Gx, p), params.Gy},
		{"y+p", params.Gx, new(big.Int).Add(params.Gy, p)},
		{"-y", params.Gx, new(big.Int).Neg(params.Gy)},
		{"zero", new(big.Int), new(big.Int)},
	}
	for _, c := range bad {
		if onCurve(c.x, c.y) {
			t.Errorf("%s: accepted", c.name)
		}
	}
	// p−y is the negated point, on the curve.
	if !onCurve(params.Gx, new(big.Int).Sub(p, params.Gy)) {
		t.Error("-G refused")
	}
	x, y := pointWithLowLimb(t, gmsmWindowX(), 1)
	if y2 := new(big.Int).Exp(y, big.NewInt(2), p); y2.Cmp(sm2RHS(x)) != 0 || !onCurve(x, y) {
		t.Fatal("crafted point refused")
	}
}

// TestNewPublicKeyGMSMRefusedPoint checks the error for a valid point that
// gmsm's IsOnCurve refuses on amd64 with BMI2/ADX (gmsm issue #560): it must
// not claim the point is off the curve. Where gmsm computes correctly (other
// CPUs, a fixed gmsm) the key must be accepted.
func TestNewPublicKeyGMSMRefusedPoint(t *testing.T) {
	x, y := pointWithLowLimb(t, gmsmWindowX(), 2)
	pub := &ecdsa.PublicKey{Curve: sm2.P256(), X: x, Y: y}
	k, err := NewPublicKey(pub, nil)
	if sm2.P256().IsOnCurve(x, y) {
		t.Log("gmsm accepts the crafted point (no BMI2/ADX, or a fixed gmsm)")
		if err != nil {
			t.Fatalf("NewPublicKey: %v", err)
		}
		if !k.Equal(pub) {
			t.Fatal("wrong key")
		}
		return
	}
	t.Log("gmsm refuses a valid point: gmsm issue #560 present")
	if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "refused by the SM2 implementation") {
		t.Fatalf("NewPublicKey: %v", err)
	}
	off := &ecdsa.PublicKey{Curve: sm2.P256(), X: x, Y: new(big.Int).Add(y, big.NewInt(1))}
	if _, err := NewPublicKey(off, nil); !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "not on the SM2 curve") {
		t.Fatalf("off-curve point: %v", err)
	}
}

// badPointGen wraps sm2.GenerateKey. Its first offCurve keys get a public
// point off the curve, as gmsm's miscomputed affine conversion gives; its
// first badScalar keys a zero scalar, which no recomputation can mend.
type badPointGen struct {
	offCurve, badScalar, calls int
}

func (g *badPointGen) gen(r io.Reader) (*sm2.PrivateKey, error) {
	k, err := sm2.GenerateKey(r)
	if err != nil {
		return nil, err
	}
	g.calls++
	if g.calls <= g.offCurve {
		k.X = new(big.Int).Xor(k.X, big.NewInt(1<<40))
	}
	if g.calls <= g.badScalar {
		k.D = new(big.Int)
	}
	return k, nil
}

func TestGenerateKeyMendsWrongPoint(t *testing.T) {
	g := &badPointGen{offCurve: 1}
	k, err := generateKey(rand.Reader, g.gen)
	if err != nil || g.calls != 1 {
		t.Fatalf("%v after %d draws", err, g.calls)
	}
	pub := k.PublicKey().ECDSA()
	wantX, wantY := sm2.P256().ScalarBaseMult(k.Scalar())
	if pub.X.Cmp(wantX) != 0 || pub.Y.Cmp(wantY) != 0 {
		t.Fatal("public key is not d·G")
	}
	sig, err := k.SignRaw(rand.Reader, []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.PublicKey().Verify([]byte("m"), sig); err != nil {
		t.Fatal(err)
	}

	g = &badPointGen{offCurve: maxKeyTries, badScalar: maxKeyTries - 1}
	if _, err := generateKey(rand.Reader, g.gen); err != nil || g.calls != maxKeyTries {
		t.Fatalf("last draw good: %v after %d draws", err, g.calls)
	}
	g = &badPointGen{offCurve: maxKeyTries, badScalar: maxKeyTries}
	if _, err := generateKey(rand.Reader, g.gen); !errors.Is(err, ErrKeyGeneration) || g.calls != maxKeyTries {
		t.Fatalf("all draws bad: %v after %d draws", err, g.calls)
	}

	if _, err := GenerateKey(io.LimitReader(rand.Reader, 8)); err == nil || errors.Is(err, ErrKeyGeneration) {
		t.Fatalf("short rand: %v", err)
	}
}

func TestParseCompressedPublicKey(t *testing.T) {
	for range 20 {
		k, err := GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub := k.PublicKey().ECDSA()
		got, err := ParseCompressedPublicKey(elliptic.MarshalCompressed(sm2.P256(), pub.X, pub.Y))
		if err != nil || !got.Equal(pub) {
			t.Fatalf("round trip: %v", err)
		}
	}

	x, y := gmtest.MontLowLimbPoint(t)
	b := elliptic.MarshalCompressed(sm2.P256(), x, y)
	got, err := ParseCompressedPublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ECDSA().X.Cmp(x) != 0 || got.ECDSA().Y.Cmp(y) != 0 {
		t.Fatal("wrong point")
	}
	if gx, _ := elliptic.UnmarshalCompressed(sm2.P256(), b); gx == nil || gx.Cmp(x) != 0 {
		t.Log("gmsm's UnmarshalCompressed returns a wrong point: gmsm issue #560 present")
	}

	p := sm2.P256().Params().P
	nonResidue := big.NewInt(1)
	for new(big.Int).ModSqrt(sm2RHS(nonResidue), p) != nil {
		nonResidue.Add(nonResidue, big.NewInt(1))
	}
	for name, in := range map[string][]byte{
		"empty":        nil,
		"short":        b[:32],
		"uncompressed": append([]byte{4}, b[1:]...),
		"x = p":        append([]byte{2}, p.Bytes()...),
		"no y":         append([]byte{3}, nonResidue.FillBytes(make([]byte, 32))...),
	} {
		if _, err := ParseCompressedPublicKey(in); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParseCompressedPublicKey: never a panic; an accepted key is on the
// curve and compresses back to the input.
func FuzzParseCompressedPublicKey(f *testing.F) {
	params := sm2.P256().Params()
	f.Add(elliptic.MarshalCompressed(sm2.P256(), params.Gx, params.Gy))
	f.Add(append([]byte{3}, params.P.Bytes()...))
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseCompressedPublicKey(b)
		if err != nil {
			return
		}
		pub := k.ECDSA()
		if !onCurve(pub.X, pub.Y) || !bytes.Equal(elliptic.MarshalCompressed(sm2.P256(), pub.X, pub.Y), b) {
			t.Fatalf("accepted %x as another point", b)
		}
	})
}

// TestParsePrivateKeyScalarRange: a PKCS#8 SM2 key with d = n−1 (its
// public point −G is on the curve) is refused as NewPrivateKey refuses
// it: GB/T 32918.1 wants d in [1, n−2], and SM2 signing needs 1+d
// invertible mod n.
func TestParsePrivateKeyScalarRange(t *testing.T) {
	c := sm2.P256()
	d := new(big.Int).Sub(c.Params().N, big.NewInt(1))
	x, y := c.ScalarBaseMult(d.FillBytes(make([]byte, 32)))
	sk, err := new(sm2.PrivateKey).FromECPrivateKey(&ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: c, X: x, Y: y}, D: d})
	if err != nil {
		t.Fatal(err)
	}
	der, err := smx509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePrivateKey(der); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("ParsePrivateKey(d = n-1) = %v, want ErrInvalidKey", err)
	}
	if _, err := NewPrivateKey(d.FillBytes(make([]byte, 32))); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("NewPrivateKey(n-1) = %v, want ErrInvalidKey", err)
	}
}
