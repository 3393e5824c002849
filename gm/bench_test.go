package gm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// The benchmarks compare SM2 with ECDSA P-256 measured in the same run, and
// HMAC-SM3 of a short message with one SM3 block (see docs/BENCHMARKS.md).

var benchMsg = []byte("eyJhbGciOiJTTTIiLCJ0eXAiOiJhdCtqd3QifQ.eyJpc3MiOiJodHRwczovL3RydXN0aWQuZXhhbXBsZSJ9")

func BenchmarkSM2Sign(b *testing.B) {
	k, _ := GenerateKey(rand.Reader)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.SignRaw(rand.Reader, benchMsg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSM2Verify(b *testing.B) {
	k, _ := GenerateKey(rand.Reader)
	sig, _ := k.SignRaw(rand.Reader, benchMsg)
	pub := k.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		if err := pub.Verify(benchMsg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkECDSAP256Sign(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(benchMsg)
		if _, err := ecdsa.SignASN1(rand.Reader, k, h[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkECDSAP256Verify(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h := sha256.Sum256(benchMsg)
	sig, _ := ecdsa.SignASN1(rand.Reader, k, h[:])
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(benchMsg)
		if !ecdsa.VerifyASN1(&k.PublicKey, h[:], sig) {
			b.Fatal("verify")
		}
	}
}

func BenchmarkSM3Block(b *testing.B) {
	block := make([]byte, 64)
	h := NewSM3()
	var out [SM3Size]byte
	b.SetBytes(64)
	b.ReportAllocs()
	for b.Loop() {
		h.Reset()
		h.Write(block)
		h.Sum(out[:0])
	}
}

func BenchmarkHMACSM3(b *testing.B) {
	k, _ := NewMACKey(make([]byte, 32))
	msg := []byte("31011519850214002X") // 18 bytes, the length of a resident ID
	var out [SM3Size]byte
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		k.Sum(out[:0], msg)
	}
}

// BenchmarkHMACSM3Once is HMACSM3 with a new key each time, as a client
// secret is checked under its own salt: 16-byte key, 43-byte message.
func BenchmarkHMACSM3Once(b *testing.B) {
	key, msg := make([]byte, 16), make([]byte, 43)
	b.ReportAllocs()
	for b.Loop() {
		HMACSM3(key, msg)
	}
}
