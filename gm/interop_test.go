package gm

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"math/big"
	"testing"

	tjsm2 "github.com/tjfoc/gmsm/sm2"
	tjsm3 "github.com/tjfoc/gmsm/sm3"
	tjsm4 "github.com/tjfoc/gmsm/sm4"

	"github.com/emmansun/gmsm/sm4"
)

// The interop tests use github.com/tjfoc/gmsm as an independent oracle:
// signatures made by either library verify in the other, and SM3/SM4
// outputs match.

func toTjfoc(k *PrivateKey) *tjsm2.PrivateKey {
	pub := k.PublicKey().ECDSA()
	return &tjsm2.PrivateKey{
		PublicKey: tjsm2.PublicKey{Curve: tjsm2.P256Sm2(), X: pub.X, Y: pub.Y},
		D:         new(big.Int).SetBytes(k.Scalar()),
	}
}

func TestInteropSM2(t *testing.T) {
	uid := []byte("1234567812345678")
	for range 20 {
		ours, err := GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		theirs := toTjfoc(ours)
		msg := make([]byte, 100)
		rand.Read(msg)

		// ours → theirs
		sig, err := ours.SignRaw(rand.Reader, msg)
		if err != nil {
			t.Fatal(err)
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !tjsm2.Sm2Verify(&theirs.PublicKey, msg, uid, r, s) {
			t.Fatal("tjfoc rejected an emmansun-made signature")
		}
		der, _ := ours.Sign(rand.Reader, msg, nil)
		if !theirs.PublicKey.Verify(msg, der) {
			t.Fatal("tjfoc rejected our DER signature")
		}

		// theirs → ours
		r, s, err = tjsm2.Sm2Sign(theirs, msg, uid, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		raw := make([]byte, 64)
		r.FillBytes(raw[:32])
		s.FillBytes(raw[32:])
		if err := ours.PublicKey().Verify(msg, raw); err != nil {
			t.Fatalf("we rejected a tjfoc-made signature: %v", err)
		}
		tjDER, _ := theirs.Sign(rand.Reader, msg, nil)
		if err := ours.PublicKey().VerifyASN1(msg, tjDER); err != nil {
			t.Fatalf("we rejected tjfoc DER: %v", err)
		}
	}
}

func TestInteropSM3(t *testing.T) {
	for _, n := range []int{0, 1, 3, 18, 55, 56, 63, 64, 65, 1000} {
		msg := make([]byte, n)
		rand.Read(msg)
		ours := SM3(msg)
		if theirs := tjsm3.Sm3Sum(msg); !bytes.Equal(ours[:], theirs) {
			t.Fatalf("SM3 of %d bytes differs", n)
		}
	}
}

func TestInteropSM4(t *testing.T) {
	key := make([]byte, 16)
	rand.Read(key)
	theirBlock, err := tjsm4.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	pt := make([]byte, 16)
	rand.Read(pt)
	aead, _ := NewSM4GCM(key)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	ours := aead.Seal(nil, nonce, pt, []byte("aad"))
	theirGCM, err := cipher.NewGCM(theirBlock)
	if err != nil {
		t.Fatal(err)
	}
	if theirs := theirGCM.Seal(nil, nonce, pt, []byte("aad")); !bytes.Equal(ours, theirs) {
		t.Fatal("SM4-GCM differs from tjfoc's SM4 block under crypto/cipher GCM")
	}
	a, b := make([]byte, 16), make([]byte, 16)
	theirBlock.Encrypt(a, pt)
	ourBlock, _ := sm4.NewCipher(key)
	ourBlock.Encrypt(b, pt)
	if !bytes.Equal(a, b) {
		t.Fatal("SM4 block differs")
	}
}

// Benchmarks of the oracle, for the library comparison in
// docs/BENCHMARKS.md (same messages as bench_test.go).

func BenchmarkTjfocSM2Sign(b *testing.B) {
	k, _ := tjsm2.GenerateKey(rand.Reader)
	uid := []byte("1234567812345678")
	for b.Loop() {
		if _, _, err := tjsm2.Sm2Sign(k, benchMsg, uid, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTjfocSM2Verify(b *testing.B) {
	k, _ := tjsm2.GenerateKey(rand.Reader)
	uid := []byte("1234567812345678")
	r, s, _ := tjsm2.Sm2Sign(k, benchMsg, uid, rand.Reader)
	for b.Loop() {
		if !tjsm2.Sm2Verify(&k.PublicKey, benchMsg, uid, r, s) {
			b.Fatal("verify")
		}
	}
}

func BenchmarkTjfocSM3Block(b *testing.B) {
	block := make([]byte, 64)
	b.SetBytes(64)
	for b.Loop() {
		tjsm3.Sm3Sum(block)
	}
}

// TestInteropSpecialScalars checks d·G for scalars with long runs of zero or
// one bits, the ends of the range and powers of two against tjfoc's
// independent implementation.
func TestInteropSpecialScalars(t *testing.T) {
	n := tjsm2.P256Sm2().Params().N
	var ds []*big.Int
	for k := range 256 {
		if d := new(big.Int).Lsh(big.NewInt(1), uint(k)); d.Cmp(n) < 0 {
			ds = append(ds, d, new(big.Int).Sub(d, big.NewInt(1)), new(big.Int).Add(d, big.NewInt(1)))
		}
	}
	for _, sub := range []int64{2, 3, 4, 1 << 32} {
		ds = append(ds, new(big.Int).Sub(n, big.NewInt(sub)))
	}
	ds = append(ds, new(big.Int).Rsh(n, 1))
	for i := range 64 {
		// Random scalars of every 4th bit length: leading zero bits.
		d, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(4*i+2)))
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	checked := 0
	for _, d := range ds {
		if d.Sign() == 0 || d.Cmp(new(big.Int).Sub(n, big.NewInt(1))) >= 0 {
			continue
		}
		k, err := NewPrivateKey(d.FillBytes(make([]byte, 32)))
		if err != nil {
			t.Fatalf("d=%x: %v", d, err)
		}
		wx, wy := tjsm2.P256Sm2().ScalarBaseMult(d.Bytes())
		if got := k.PublicKey().ECDSA(); got.X.Cmp(wx) != 0 || got.Y.Cmp(wy) != 0 {
			t.Fatalf("d=%x: point differs from tjfoc's", d)
		}
		checked++
	}
	if checked < 700 {
		t.Fatalf("only %d scalars checked", checked)
	}
}
