package cose

import (
	"context"
	"testing"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/internal/testenv"
)

// The benchmarks compare vc+cose with vc+jwt in one run: the same
// credential, the same did:key issuer and the same credentials.Verifier
// (see docs/BENCHMARKS.md, "vc+cose").

var benchAlgs = []string{"ES256", "EdDSA", "SM2"}

func BenchmarkIssue(b *testing.B) {
	f := newFixture(b)
	for _, alg := range benchAlgs {
		p := f.parties[alg]
		doc := credentialDoc(p.did)
		b.Run("vc+jwt/"+alg, func(b *testing.B) {
			b.ReportAllocs()
			defer testenv.CPUMeter(b)()
			for b.Loop() {
				if _, err := credentials.SignJWT(doc, credentials.TypVCJWT, p.kid, p.key); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("vc+cose/"+alg, func(b *testing.B) {
			b.ReportAllocs()
			defer testenv.CPUMeter(b)()
			for b.Loop() {
				if _, err := Sign(doc, MediaTypeVC, p.kid, p.key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	for _, alg := range benchAlgs {
		p := f.parties[alg]
		doc := credentialDoc(p.did)
		tok, _ := credentials.SignJWT(doc, credentials.TypVCJWT, p.kid, p.key)
		data, _ := Sign(doc, MediaTypeVC, p.kid, p.key)
		b.Run("vc+jwt/"+alg, func(b *testing.B) {
			b.ReportAllocs()
			defer testenv.CPUMeter(b)()
			for b.Loop() {
				if _, err := f.cv.VerifyCredential(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("vc+cose/"+alg, func(b *testing.B) {
			b.ReportAllocs()
			defer testenv.CPUMeter(b)()
			for b.Loop() {
				if _, err := f.v.VerifyCredential(ctx, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
