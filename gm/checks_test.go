package gm

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"
)

// TestJWKRefusesMalformedKeys: a P-256 point off the curve, an Ed25519
// key with a "y", and EC coordinates not of the curve's full size (RFC
// 7518 §6.2.1.2: "MUST be the full size of a coordinate") are ErrJWK.
func TestJWKRefusesMalformedKeys(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec, err := NewJWK(&p256.PublicKey, "p")
	if err != nil {
		t.Fatal(err)
	}
	ed, _ := GenerateSigner(AlgEdDSA, rand.Reader)
	okp, _ := NewJWK(ed.Public(), "e")
	x, _ := b64.DecodeString(ec.X)
	long := b64.EncodeToString(append([]byte{0}, x...))
	offCurve, withY, longX, shortX := ec, okp, ec, ec
	offCurve.Y = ec.X
	withY.Y = okp.X
	longX.X = long
	shortX.X = b64.EncodeToString(x[1:])
	for name, j := range map[string]JWK{"off curve": offCurve, "Ed25519 with y": withY, "33-byte x": longX, "31-byte x": shortX} {
		if _, err := j.PublicKey(); !errors.Is(err, ErrJWK) {
			t.Errorf("%s: %v, want ErrJWK", name, err)
		}
	}
	if _, err := ec.PublicKey(); err != nil {
		t.Errorf("the key itself: %v", err)
	}
}

// TestParseJWKSBoundAndKey: a key set over maxJWKS is refused before it
// is decoded, and Key finds a key by its kid only.
func TestParseJWKSBoundAndKey(t *testing.T) {
	doc := append([]byte(`{"keys":[]}`), bytes.Repeat([]byte(" "), maxJWKS)...)
	if _, err := ParseJWKS(doc); !errors.Is(err, ErrJWK) || !strings.Contains(err.Error(), "over") {
		t.Errorf("a set over %d bytes: %v", maxJWKS, err)
	}
	if _, err := ParseJWKS(doc[:maxJWKS]); err != nil {
		t.Errorf("a set of %d bytes: %v", maxJWKS, err)
	}
	set := JWKS{Keys: []JWK{{Kid: "a"}}}
	if _, ok := set.Key("b"); ok {
		t.Error("Key(b) found the key a")
	}
	if k, ok := set.Key("a"); !ok || k.Kid != "a" {
		t.Errorf("Key(a) = %v, %v", k, ok)
	}
}

// TestParseKeysRefuses: inputs over maxPEM are refused before parsing, a
// P-384 PKCS#8 key is unsupported, and a PEM block of another type or
// with headers (an encrypted key) is refused though it holds a valid key.
func TestParseKeysRefuses(t *testing.T) {
	big := bytes.Repeat([]byte{0x30}, maxPEM+1)
	if _, err := ParsePrivateKey(big); !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "too large") {
		t.Errorf("ParsePrivateKey over maxPEM: %v", err)
	}
	if _, err := ParsePublicKey(big); !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "too large") {
		t.Errorf("ParsePublicKey over maxPEM: %v", err)
	}
	if _, err := ParsePublicKeyPEM(big); !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), "over") {
		t.Errorf("ParsePublicKeyPEM over maxPEM: %v", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := ParsePrivateKey(der); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("a P-384 key: %T, %v; want ErrUnsupportedKey", k, err)
	}
	key, _ := GenerateSigner(AlgSM2, rand.Reader)
	der, err = MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*pem.Block{
		"EC PRIVATE KEY": {Type: "EC PRIVATE KEY", Bytes: der},
		"headers":        {Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: der},
	} {
		if _, err := ParsePrivateKeyPEM(pem.EncodeToMemory(b)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v, want ErrInvalidKey", name, err)
		}
	}
	if _, err := ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		t.Errorf("the key itself: %v", err)
	}
}

// TestParsePointsRefuse: an uncompressed point must begin 0x04, and a
// compressed point's x must be below p (x+p names the same x mod p).
func TestParsePointsRefuse(t *testing.T) {
	key, _ := GenerateKey(rand.Reader)
	b := key.PublicKey().Bytes()
	for _, prefix := range []byte{0, 2, 3, 5, 6, 7} {
		bad := append([]byte{prefix}, b[1:]...)
		if _, err := ParsePublicKeyBytes(bad); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("prefix %#x: %v", prefix, err)
		}
	}
	p := sm2.P256().Params().P
	for x0 := int64(1); x0 < 64; x0++ {
		x := new(big.Int).Add(p, big.NewInt(x0))
		if new(big.Int).ModSqrt(curveRHS(big.NewInt(x0)), p) == nil {
			continue // no point with this x
		}
		in := append([]byte{2}, x.FillBytes(make([]byte, 32))...)
		if _, err := ParseCompressedPublicKey(in); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("x = p+%d: %v, want ErrInvalidKey", x0, err)
		}
		in = append([]byte{2}, big.NewInt(x0).FillBytes(make([]byte, 32))...)
		if _, err := ParseCompressedPublicKey(in); err != nil {
			t.Errorf("x = %d: %v", x0, err)
		}
		return
	}
	t.Fatal("no small x on the curve")
}

// TestDERToRawRefuses: derToRaw takes exactly one SEQUENCE of two
// positive INTEGERs of at most 256 bits, nothing after either.
func TestDERToRawRefuses(t *testing.T) {
	seq := func(inner ...byte) []byte { return append([]byte{0x30, byte(len(inner))}, inner...) }
	one := []byte{0x02, 0x01, 0x01}
	good := seq(append(append([]byte{}, one...), one...)...)
	if raw, err := derToRaw(good); err != nil || raw[31] != 1 || raw[63] != 1 {
		t.Fatalf("derToRaw(1, 1) = %x, %v", raw, err)
	}
	big257 := append([]byte{0x02, 33, 0x01}, bytes.Repeat([]byte{0}, 32)...)
	for name, der := range map[string][]byte{
		"data after the sequence": append(append([]byte{}, good...), 0),
		"a third integer":         seq(append(append(append([]byte{}, one...), one...), one...)...),
		"zero r":                  seq(append([]byte{0x02, 0x01, 0x00}, one...)...),
		"negative s":              seq(append(append([]byte{}, one...), 0x02, 0x01, 0xff)...),
		"257-bit r":               seq(append(append([]byte{}, big257...), one...)...),
	} {
		if raw, err := derToRaw(der); !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("%s: %x, %v; want ErrInvalidSignature", name, raw, err)
		}
	}
}
