package qrcode

import (
	"crypto/elliptic"
	"math/big"
	"testing"

	"github.com/emmansun/gmsm/sm2"
)

// TestParseCompressedKeyExactPoint decodes a device key whose x, in gmsm's
// Montgomery domain, has lowest limb 0x8000000000000005: gmsm v0.41.1's
// UnmarshalCompressed returns a wrong x for it on amd64 with BMI2/ADX (gmsm
// issue #560); ParseCompressedKey must return the encoded point.
func TestParseCompressedKeyExactPoint(t *testing.T) {
	params := sm2.P256().Params()
	p := params.P
	rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), 256), p)
	for i := range 64 {
		xm := new(big.Int).SetBytes([]byte{0x2d, byte(i), 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
			0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99,
			0x80, 0, 0, 0, 0, 0, 0, 5})
		x := xm.Mul(xm, rInv).Mod(xm, p)
		rhs := new(big.Int).Exp(x, big.NewInt(3), p)
		rhs.Sub(rhs, new(big.Int).Mul(big.NewInt(3), x)).Add(rhs, params.B).Mod(rhs, p)
		y := new(big.Int).ModSqrt(rhs, p)
		if y == nil {
			continue
		}
		for _, y := range []*big.Int{y, new(big.Int).Sub(p, y)} {
			k, err := ParseCompressedKey(elliptic.MarshalCompressed(sm2.P256(), x, y))
			if err != nil {
				t.Fatal(err)
			}
			if got := k.ECDSA(); got.X.Cmp(x) != 0 || got.Y.Cmp(y) != 0 {
				t.Fatalf("decoded another point")
			}
		}
		return
	}
	t.Fatal("no point found")
}
