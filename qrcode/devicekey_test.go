package qrcode

import (
	"crypto/elliptic"
	"math/big"
	"testing"

	"github.com/emmansun/gmsm/sm2"

	"github.com/trustid-cn/trustid/gm/gmtest"
)

// TestParseCompressedKeyExactPoint decodes a device key whose x, in gmsm's
// Montgomery domain, has lowest limb 0x8000000000000005: gmsm v0.41.1's
// UnmarshalCompressed returns a wrong x for it on amd64 with BMI2/ADX (gmsm
// issue #560); ParseCompressedKey must return the encoded point.
func TestParseCompressedKeyExactPoint(t *testing.T) {
	x, y := gmtest.MontLowLimbPoint(t)
	for _, y := range []*big.Int{y, new(big.Int).Sub(sm2.P256().Params().P, y)} {
		k, err := ParseCompressedKey(elliptic.MarshalCompressed(sm2.P256(), x, y))
		if err != nil {
			t.Fatal(err)
		}
		if got := k.ECDSA(); got.X.Cmp(x) != 0 || got.Y.Cmp(y) != 0 {
			t.Fatalf("decoded another point")
		}
	}
}
