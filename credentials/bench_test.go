package credentials_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
)

// The benchmarks measure, in one run on one machine, securing and
// verifying credentials against bare signatures over the same bytes (see
// docs/BENCHMARKS.md, "Verifiable credentials").

// benchCredential is an issued-shape credential (with status entries).
func benchCredential(b *testing.B, n *node) map[string]any {
	c := sampleCredential()
	c["issuer"], c["id"], c["validFrom"] = n.issuer.DID(), "urn:uuid:8f0a8a41-3c2e-4f6b-9a57-0d6e8c1b2a3f", FormatTime(n.clock.Now())
	c["credentialStatus"] = []any{
		StatusEntry{ID: testBase + "/status/0123456789abcdef#1234", Purpose: PurposeRevocation, Index: 1234, ListCredential: testBase + "/status/0123456789abcdef"}.Map(),
		StatusEntry{ID: testBase + "/status/fedcba9876543210#5678", Purpose: PurposeSuspension, Index: 5678, ListCredential: testBase + "/status/fedcba9876543210"}.Map(),
	}
	return c
}

// signingInput returns the header.payload part of a token.
func signingInput(tok string) []byte {
	return []byte(tok[:strings.LastIndexByte(tok, '.')])
}

func BenchmarkBareSign(b *testing.B) {
	n := newNode(b, testBase)
	k, _ := n.keys.Active(gm.AlgSM2)
	tok, _ := SignJWT(benchCredential(b, n), TypVCJWT, "did:web:x#k", k.Signer)
	msg := signingInput(tok)
	b.Run("SM2", func(b *testing.B) {
		sk := k.Signer.(*gm.PrivateKey)
		b.ReportAllocs()
		stop := testenv.CPUMeter(b)
		for b.Loop() {
			if _, err := sk.SignRaw(rand.Reader, msg); err != nil {
				b.Fatal(err)
			}
		}
		stop()
	})
	b.Run("ES256", func(b *testing.B) {
		ek, _ := n.keys.Active(gm.AlgES256)
		b.ReportAllocs()
		stop := testenv.CPUMeter(b)
		for b.Loop() {
			h := sha256.Sum256(msg)
			if _, err := ecdsa.SignASN1(rand.Reader, ek.Signer.(*ecdsa.PrivateKey), h[:]); err != nil {
				b.Fatal(err)
			}
		}
		stop()
	})
}

func BenchmarkBareVerify(b *testing.B) {
	n := newNode(b, testBase)
	b.Run("SM2", func(b *testing.B) {
		k, _ := n.keys.Active(gm.AlgSM2)
		tok, _ := SignJWT(benchCredential(b, n), TypVCJWT, "did:web:x#k", k.Signer)
		msg := signingInput(tok)
		sig, _ := base64.RawURLEncoding.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
		pub := k.Public.(*gm.PublicKey)
		b.ReportAllocs()
		stop := testenv.CPUMeter(b)
		for b.Loop() {
			if err := pub.Verify(msg, sig); err != nil {
				b.Fatal(err)
			}
		}
		stop()
	})
	b.Run("ES256", func(b *testing.B) {
		k, _ := n.keys.Active(gm.AlgES256)
		tok, _ := SignJWT(benchCredential(b, n), TypVCJWT, "did:web:x#k", k.Signer)
		msg := signingInput(tok)
		h := sha256.Sum256(msg)
		der, _ := ecdsa.SignASN1(rand.Reader, k.Signer.(*ecdsa.PrivateKey), h[:])
		pub := k.Public.(*ecdsa.PublicKey)
		b.ReportAllocs()
		stop := testenv.CPUMeter(b)
		for b.Loop() {
			h := sha256.Sum256(msg)
			if !ecdsa.VerifyASN1(pub, h[:], der) {
				b.Fatal("verify")
			}
		}
		stop()
	})
}

// BenchmarkIssueVCJWT measures securing a credential as vc+jwt: header,
// payload encoding and signature. Status allocation (a durable write) is
// measured by BenchmarkIssueFull.
func BenchmarkIssueVCJWT(b *testing.B) {
	n := newNode(b, testBase)
	c := benchCredential(b, n)
	for _, alg := range []string{gm.AlgSM2, gm.AlgES256} {
		b.Run(alg, func(b *testing.B) {
			k, _ := n.keys.Active(alg)
			kid := n.issuer.DID() + "#" + k.Kid
			b.ReportAllocs()
			stop := testenv.CPUMeter(b)
			for b.Loop() {
				if _, err := SignJWT(c, TypVCJWT, kid, k.Signer); err != nil {
					b.Fatal(err)
				}
			}
			stop()
		})
	}
}

// BenchmarkIssueFull is the whole Issue call: validation, two random
// status allocations and the credential-ID binding (each fsynced), and
// signing.
func BenchmarkIssueFull(b *testing.B) {
	n := newNode(b, testBase)
	ctx := context.Background()
	for _, f := range []string{issuer.FormatVCJWT, issuer.FormatSDJWT} {
		b.Run(f, func(b *testing.B) {
			b.ReportAllocs()
			stop := testenv.CPUMeter(b)
			for b.Loop() {
				if _, err := n.issuer.Issue(ctx, sampleCredential(), issuer.IssueOptions{Format: f}); err != nil {
					b.Fatal(err)
				}
			}
			stop()
		})
	}
}

// BenchmarkVerifyVCJWT verifies with a warm key cache and a cached status
// list: header checks, signature, strict payload decoding, data model
// validation, validity and two status entries.
func BenchmarkVerifyVCJWT(b *testing.B) {
	n := newNode(b, testBase)
	ctx := context.Background()
	for _, alg := range []string{gm.AlgSM2, gm.AlgES256} {
		b.Run(alg, func(b *testing.B) {
			iss := mustIssue(b, n, sampleCredential(), issuer.IssueOptions{Algorithm: alg})
			if _, err := n.verifier.VerifyCredential(ctx, iss.Token); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			stop := testenv.CPUMeter(b)
			for b.Loop() {
				if _, err := n.verifier.VerifyCredential(ctx, iss.Token); err != nil {
					b.Fatal(err)
				}
			}
			stop()
		})
	}
}

// BenchmarkIssueSDJWT measures securing an identity credential as SD-JWT
// VC with SM2: 8 disclosures with salts, decoys, and the signature.
func BenchmarkIssueSDJWT(b *testing.B) {
	n := newNode(b, testBase)
	k, _ := n.keys.Active(gm.AlgSM2)
	claims := map[string]any{"iss": testBase, "vct": TypeIdentityCredential, "iat": 1772352000,
		"sub": "urn:trustid:subject:pw-3f9a1c0d7e21", "assuranceLevel": 3, "region": "310000", "name": "张三",
		"birthDate": "1990-05-01", "nationality": "CHN", "age_over_18": true, "age_over_60": false,
		"status": map[string]any{"status_list": map[string]any{"idx": 1234, "uri": testBase + "/status/0123456789abcdef"}}}
	frame := &sdjwt.Frame{SD: []string{"age_over_18", "age_over_60", "assuranceLevel", "birthDate", "name", "nationality", "region"}, Decoys: 2}
	is := &sdjwt.Issuer{Rand: rand.Reader}
	b.ReportAllocs()
	stop := testenv.CPUMeter(b)
	for b.Loop() {
		payload, ds, err := is.Conceal(claims, frame)
		if err != nil {
			b.Fatal(err)
		}
		tok, err := jose.Sign(payload, map[string]any{"typ": TypSDJWTVC, "kid": k.Kid}, k.Signer)
		if err != nil {
			b.Fatal(err)
		}
		_ = sdjwt.Serialize(tok, ds)
	}
	stop()
}

// BenchmarkVerifySDJWT verifies an SD-JWT VC presentation (SM2 issuer,
// ES256 holder key binding, one disclosure) with a cached token status
// list: two signature verifications.
func BenchmarkVerifySDJWT(b *testing.B) {
	n := newNode(b, testBase)
	ctx := context.Background()
	holder, _ := holderKey(b, gm.AlgES256)
	hj, _ := gm.NewJWK(holder.Public(), "")
	iss := mustIssue(b, n, identityRequest(b, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &hj})
	sd, _ := sdjwt.Split(iss.Token)
	pres, _ := sd.Present(func(d *sdjwt.Disclosure) bool { return d.Name == "age_over_18" },
		&sdjwt.KeyBinding{Signer: holder, Audience: "https://rp.example", Nonce: "n", IssuedAt: n.clock.Now()})
	opts := SDJWTOptions{RequireKeyBinding: true, Audience: "https://rp.example", Nonce: "n"}
	if _, err := n.verifier.VerifySDJWT(ctx, pres, opts); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	stop := testenv.CPUMeter(b)
	for b.Loop() {
		if _, err := n.verifier.VerifySDJWT(ctx, pres, opts); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// BenchmarkStatusCheck checks one entry against a cached list.
func BenchmarkStatusCheck(b *testing.B) {
	n := newNode(b, testBase)
	ctx := context.Background()
	iss := mustIssue(b, n, sampleCredential(), issuer.IssueOptions{})
	c, err := n.verifier.VerifyCredential(ctx, iss.Token)
	if err != nil {
		b.Fatal(err)
	}
	entries := c.Status[:1]
	checker := NewStatusChecker(&LocalStatusSource{BaseURL: testBase, Store: n.status, TTL: time.Minute}, time.Minute, n.clock.Now)
	if err := checker.Check(ctx, c.Issuer, entries); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	stop := testenv.CPUMeter(b)
	for b.Loop() {
		if err := checker.Check(ctx, c.Issuer, entries); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// BenchmarkDecodeStatusList1M decodes a 1,000,000-entry encodedList with
// about one entry in 100 set.
func BenchmarkDecodeStatusList1M(b *testing.B) {
	l, _ := status.NewBitstring(1_000_000)
	for i := 0; i < l.Len(); i += 97 {
		l.Set(i, true)
	}
	enc := l.Encode()
	b.ReportAllocs()
	stop := testenv.CPUMeter(b)
	for b.Loop() {
		if _, err := status.DecodeBitstring(enc, 0); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}
