package qrcode

import (
	"bytes"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"math/big"
	"testing"

	"github.com/emmansun/gmsm/sm2"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/gm/gmtest"
)

// TestParseCompressedKeyExactPoint decodes a device key whose x, in gmsm's
// Montgomery domain, has lowest limb 0x8000000000000005: gmsm v0.41.1's
// UnmarshalCompressed returns a wrong x for it on amd64 with BMI2/ADX (gmsm
// issue #560); ParseCompressedKey must return the encoded point.
func TestParseCompressedKeyExactPoint(t *testing.T) {
	deviceKeys.mu.Lock()
	clear(deviceKeys.keys) // decompress, not a key an earlier run kept
	deviceKeys.mu.Unlock()
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

// TestDeviceKeyCache: a device key parsed twice is the cached key, equal
// to a fresh parse; a refused encoding is refused again (errors are not
// kept); the cache never holds more than its bound.
func TestDeviceKeyCache(t *testing.T) {
	priv, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.PublicKey().ECDSA()
	enc := elliptic.MarshalCompressed(sm2.P256(), pub.X, pub.Y)
	a, err := ParseCompressedKey(enc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseCompressedKey(bytes.Clone(enc))
	if err != nil || a != b {
		t.Fatalf("second parse: %p %p %v", a, b, err)
	}
	fresh, err := gm.ParseCompressedPublicKey(enc)
	if err != nil || !fresh.Equal(b) || !b.Equal(priv.Public()) {
		t.Fatalf("cached key is not the encoded key")
	}
	// x = p is not a field element: refused, every time.
	bad := append([]byte{2}, sm2.P256().Params().P.FillBytes(make([]byte, 32))...)
	for range 2 {
		if _, err := ParseCompressedKey(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("x = p: %v", err)
		}
	}
	c := &keyCache{keys: map[[CompressedKeySize]byte]*gm.PublicKey{}, max: 3}
	for i := range 10 {
		k := [CompressedKeySize]byte{2, byte(i)}
		c.put(k, b)
		if c.get(k) != b || len(c.keys) > 3 {
			t.Fatalf("after %d puts: %d keys", i+1, len(c.keys))
		}
	}
}
