package gm

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"math/big"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// FuzzVerify feeds arbitrary signatures to SM2 verification: never a panic,
// never an acceptance of anything but the real signature.
func FuzzVerify(f *testing.F) {
	k, _ := NewPrivateKey(make32(7))
	msg := []byte("fuzz message")
	// Signed from a fixed stream: the fuzzing coordinator and each of its
	// worker processes run this set-up, and must agree on the one
	// signature that verifies (with rand.Reader each had its own, and the
	// coordinator's seed failed in every worker).
	good, _ := k.SignRaw(bytes.NewReader(bytes.Repeat([]byte{0x5a}, 4096)), msg)
	der, _ := k.Sign(rand.Reader, msg, nil)
	f.Add(good)
	f.Add(der)
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, sig []byte) {
		err := k.PublicKey().Verify(msg, sig)
		if err == nil && string(sig) != string(good) {
			// SM2 signatures are not malleable: only (r, s) itself verifies.
			t.Fatalf("accepted a different signature %x", sig)
		}
		_ = k.PublicKey().VerifyASN1(msg, sig)
	})
}

func make32(b byte) []byte {
	d := make([]byte, 32)
	d[31] = b
	return d
}

// FuzzParseKeys feeds arbitrary bytes to every key decoder.
func FuzzParseKeys(f *testing.F) {
	for _, alg := range JWTAlgorithms {
		k, _ := GenerateSigner(alg, rand.Reader)
		p, _ := MarshalPrivateKeyPEM(k)
		f.Add(p)
		pp, _ := MarshalPublicKeyPEM(k.Public())
		f.Add(pp)
		j, _ := NewJWK(k.Public(), "k")
		f.Add(mustJSON(JWKS{Keys: []JWK{j}}))
	}
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"SM2","x":"","y":""}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParsePrivateKeyPEM(data)
		ParsePublicKeyPEM(data)
		ParsePrivateKey(data)
		ParsePublicKey(data)
		ParsePublicKeyBytes(data)
		if set, err := ParseJWKS(data); err == nil {
			for _, j := range set.Keys {
				if _, err := j.PublicKey(); err != nil {
					t.Fatalf("ParseJWKS accepted an invalid key: %v", err)
				}
			}
		}
	})
}

// FuzzJWT feeds arbitrary compact JWS strings to an SM2 parser.
func FuzzJWT(f *testing.F) {
	k, _ := NewPrivateKey(make32(9))
	good, _ := jwt.NewWithClaims(SigningMethodSM2, jwt.MapClaims{"sub": "a"}).SignedString(k)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")
	f.Add("a.b.c")
	p, _ := NewJWTParser([]string{AlgSM2})
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := p.ParseWithClaims(s, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return k.PublicKey(), nil })
		if err == nil && tok.Method.Alg() != AlgSM2 {
			t.Fatalf("accepted alg %s", tok.Method.Alg())
		}
		if err == nil && strings.ContainsAny(s, "\r\n") {
			t.Fatalf("accepted a token with a line break: %q", s)
		}
	})
}

// FuzzRawToDER: rawToDER's hand-made DER is cryptobyte's encoding of the
// two integers, refuses exactly a zero r or s, and derToRaw reads it
// back to the same 64 bytes.
func FuzzRawToDER(f *testing.F) {
	f.Add(make([]byte, 64))
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Add(append(append(make([]byte, 31), 1), bytes.Repeat([]byte{0x80}, 32)...))
	f.Add(append(bytes.Repeat([]byte{0x7f}, 32), make([]byte, 32)...))
	f.Fuzz(func(t *testing.T, sig []byte) {
		if len(sig) != SignatureSize {
			return
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		var buf [2 + 2*(2+1+32)]byte
		der, err := rawToDER(&buf, sig)
		if r.Sign() == 0 || s.Sign() == 0 {
			if err == nil {
				t.Fatalf("zero integer encoded: %x", der)
			}
			return
		}
		var b cryptobyte.Builder
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1BigInt(r)
			b.AddASN1BigInt(s)
		})
		want, _ := b.Bytes()
		if err != nil || !bytes.Equal(der, want) {
			t.Fatalf("rawToDER %x, %v; cryptobyte %x", der, err, want)
		}
		back, err := derToRaw(der)
		if err != nil || !bytes.Equal(back, sig) {
			t.Fatalf("derToRaw %x, %v", back, err)
		}
	})
}

// FuzzHMACSM3: HMACSM3 (RFC 2104 written out) agrees with crypto/hmac
// over SM3 for any key, short or longer than a block, and any message.
func FuzzHMACSM3(f *testing.F) {
	f.Add([]byte("salt-of-16-bytes"), []byte("secret"))
	f.Add([]byte{}, []byte{})
	f.Add(bytes.Repeat([]byte{0x0b}, 64), []byte("Hi There"))
	f.Add(bytes.Repeat([]byte{0xaa}, 65), bytes.Repeat([]byte{0xdd}, 200))
	f.Fuzz(func(t *testing.T, key, msg []byte) {
		h := hmac.New(sm3.New, key)
		h.Write(msg)
		if got, want := HMACSM3(key, msg), h.Sum(nil); !bytes.Equal(got, want) {
			t.Fatalf("HMACSM3(%x, %x) = %x, crypto/hmac %x", key, msg, got, want)
		}
	})
}
