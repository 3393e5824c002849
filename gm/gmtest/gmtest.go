// Package gmtest holds helpers for tests of SM2 keys that need points
// gmsm miscomputes. Tests only; nothing in the node imports it, and it
// does not import package gm, so gm's own tests can use it.
package gmtest

import (
	"math/big"
	"testing"

	"github.com/emmansun/gmsm/sm2"
)

// MontLowLimbPoint returns a valid SM2 point (x, y) whose x, in gmsm's
// Montgomery domain (x·2²⁵⁶ mod p), has lowest 64-bit limb
// 0x8000000000000005: gmsm v0.41.1 converts such an x back to affine
// wrongly on amd64 with BMI2/ADX (gmsm issue #560), so its
// UnmarshalCompressed returns another point for it. The point is the
// same at every call; (x, p−y) is valid too.
func MontLowLimbPoint(t testing.TB) (x, y *big.Int) {
	t.Helper()
	params := sm2.P256().Params()
	p := params.P
	rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), 256), p)
	for i := range 256 {
		xm := new(big.Int).SetBytes([]byte{0x3c, byte(i), 0x10, 0x20, 0x30, 0x40, 0x50, 0x60,
			0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
			0x80, 0, 0, 0, 0, 0, 0, 5})
		x = xm.Mul(xm, rInv).Mod(xm, p)
		// y² = x³ − 3x + b mod p
		rhs := new(big.Int).Exp(x, big.NewInt(3), p)
		rhs.Sub(rhs, new(big.Int).Mul(big.NewInt(3), x)).Add(rhs, params.B).Mod(rhs, p)
		if y = new(big.Int).ModSqrt(rhs, p); y != nil {
			return x, y
		}
	}
	t.Fatal("gmtest: no point found")
	return nil, nil
}
