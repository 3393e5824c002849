package gmtest

import (
	"math/big"
	"testing"

	"github.com/emmansun/gmsm/sm2"
)

// The point is on the curve, by math/big, and its x in the Montgomery
// domain has the promised lowest limb.
func TestMontLowLimbPoint(t *testing.T) {
	x, y := MontLowLimbPoint(t)
	params := sm2.P256().Params()
	p := params.P
	rhs := new(big.Int).Exp(x, big.NewInt(3), p)
	rhs.Sub(rhs, new(big.Int).Mul(big.NewInt(3), x)).Add(rhs, params.B).Mod(rhs, p)
	if new(big.Int).Exp(y, big.NewInt(2), p).Cmp(rhs) != 0 {
		t.Fatal("not on the curve")
	}
	xm := new(big.Int).Lsh(x, 256)
	xm.Mod(xm, p)
	if low := new(big.Int).And(xm, new(big.Int).SetUint64(^uint64(0))).Uint64(); low != 0x8000000000000005 {
		t.Fatalf("Montgomery x's low limb %#x", low)
	}
	if x2, y2 := MontLowLimbPoint(t); x2.Cmp(x) != 0 || y2.Cmp(y) != 0 {
		t.Fatal("another point at the second call")
	}
}
