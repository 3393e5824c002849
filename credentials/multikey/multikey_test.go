package multikey_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/gm/gmtest"
)

func TestBase58(t *testing.T) {
	// Known answers from the Bitcoin base58 alphabet.
	cases := map[string]string{"": "", "\x00": "1", "\x00\x00\x01": "112", "hello world": "StV1DL6CwTryKyV"}
	for in, want := range cases {
		if got := multikey.Base58Encode([]byte(in)); got != want {
			t.Errorf("base58(%q) = %s, want %s", in, got, want)
		}
		if back, err := multikey.Base58Decode(want); err != nil || string(back) != in {
			t.Errorf("decode %s = %q %v", want, back, err)
		}
	}
	if _, err := multikey.Base58Decode("0OIl"); !errors.Is(err, multikey.ErrBase58) {
		t.Errorf("characters outside the alphabet: %v", err)
	}
}

// TestKnownAnswers: the Multikey of the W3C Controlled Identifiers and
// did:key examples decode to keys that encode back to them.
func TestKnownAnswers(t *testing.T) {
	for _, mk := range []string{
		"z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",                        // Ed25519 (did:key spec)
		"zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",                       // P-256 (did:key spec)
		"z82Lm1MpAkeJcix9K8TMiLd5NMAhnwkjjCBeWHXyu3U4oT2MVJJKXkcVBgjGhnLBn2Kaau9", // P-384 (did:key spec)
	} {
		pub, err := multikey.Decode(mk)
		if err != nil {
			t.Fatalf("%s: %v", mk, err)
		}
		if back, err := multikey.Encode(pub); err != nil || back != mk {
			t.Errorf("%s: encoded back as %s (%v)", mk, back, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	prefixes := map[string]string{gm.AlgEdDSA: "z6Mk", gm.AlgES256: "zDn", gm.AlgSM2: "z"}
	for alg, prefix := range prefixes {
		k, err := gm.GenerateSigner(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		mk, err := multikey.Encode(k.Public())
		if err != nil || !strings.HasPrefix(mk, prefix) {
			t.Fatalf("%s: %s %v", alg, mk, err)
		}
		pub, err := multikey.Decode(mk)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := gm.NormalizePublicKey(k.Public())
		if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(want) {
			t.Errorf("%s: round trip gave another key", alg)
		}
		if alg == gm.AlgSM2 {
			if _, ok := pub.(*gm.PublicKey); !ok {
				t.Errorf("SM2 decodes as %T, want *gm.PublicKey", pub)
			}
		}
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	mk, err := multikey.Encode(&p384.PublicKey)
	if err != nil || !strings.HasPrefix(mk, "z82") {
		t.Fatalf("P-384: %s %v", mk, err)
	}
	if pub, err := multikey.Decode(mk); err != nil || !pub.(*ecdsa.PublicKey).Equal(&p384.PublicKey) {
		t.Errorf("P-384 round trip: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	enc := func(code uint64, raw []byte) string {
		return "z" + multikey.Base58Encode(append(multikey.AppendUvarint(nil, code), raw...))
	}
	offCurve := append([]byte{2}, bytes.Repeat([]byte{0xff}, 32)...)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	for _, c := range []struct {
		name, in string
		want     error
	}{
		{"not base58btc", "u7QE", multikey.ErrMalformed},
		{"empty", "z", multikey.ErrMalformed},
		{"bad character", "z0OIl", multikey.ErrMalformed},
		{"too long", "z" + strings.Repeat("2", 300), multikey.ErrMalformed},
		{"non-minimal varint", "z" + multikey.Base58Encode([]byte{0xed, 0x80, 0x00}), multikey.ErrMalformed},
		{"unknown codec", enc(0xe7, make([]byte, 33)), multikey.ErrUnsupported},
		{"short Ed25519", enc(multikey.CodeEd25519Pub, make([]byte, 31)), multikey.ErrMalformed},
		{"uncompressed P-256", enc(multikey.CodeP256Pub, append([]byte{4}, make([]byte, 64)...)), multikey.ErrMalformed},
		{"P-256 off the curve", enc(multikey.CodeP256Pub, offCurve), multikey.ErrMalformed},
		{"SM2 off the curve", enc(multikey.CodeSM2Pub, offCurve), multikey.ErrMalformed},
	} {
		if _, err := multikey.Decode(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := multikey.Encode(&p521.PublicKey); !errors.Is(err, multikey.ErrUnsupported) {
		t.Errorf("P-521: %v", err)
	}
	if _, err := multikey.DecodeEd25519Secret(enc(multikey.CodeEd25519Pub, make([]byte, 32))); !errors.Is(err, multikey.ErrUnsupported) {
		t.Errorf("a public key as a secret: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")
	f.Add("zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169")
	f.Add("z82Lm1MpAkeJcix9K8TMiLd5NMAhnwkjjCBeWHXyu3U4oT2MVJJKXkcVBgjGhnLBn2Kaau9")
	f.Add("z")
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := multikey.Decode(s)
		if err != nil {
			return
		}
		back, err := multikey.Encode(pub)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", s, err)
		}
		if again, err := multikey.Decode(back); err != nil || !again.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
			t.Fatalf("%q: re-encoding changed the key", s)
		}
	})
}

// TestDecodeSM2ExactPoint decodes an SM2 key whose x, in gmsm's Montgomery
// domain, has lowest limb 0x8000000000000005, for which gmsm v0.41.1's
// UnmarshalCompressed returns a wrong x on amd64 with BMI2/ADX (gmsm issue
// #560): Decode must return the encoded point.
func TestDecodeSM2ExactPoint(t *testing.T) {
	x, y := gmtest.MontLowLimbPoint(t)
	want, err := gm.NewPublicKey(&ecdsa.PublicKey{Curve: sm2.P256(), X: x, Y: y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := multikey.Encode(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := multikey.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	if !want.Equal(got) {
		t.Fatal("decoded another point")
	}
}
