package cose

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"crypto/ecdsa"
	"crypto/elliptic"

	"github.com/trustid-cn/trustid/credentials"
)

// TestEnvelope: a vc+cose travels as an EnvelopedVerifiableCredential
// whose id is data:application/vc+cose;base64,...; VerifyToken takes the
// object or the bare data: URL, and hands other media types to the
// credentials.Verifier. Bad envelopes are refused.
func TestEnvelope(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.parties["EdDSA"]
	data, _ := SignCredential(credentialDoc(p.did), p.kid, p.key)
	env := Envelope(data, MediaTypeVC)
	id := env["id"].(string)
	if !strings.HasPrefix(id, "data:application/vc+cose;base64,") || env["type"] != credentials.TypeEnvelopedCredential {
		t.Fatalf("envelope %v", env)
	}
	// Through JSON, as a request body brings it.
	raw, _ := json.Marshal(env)
	var decoded map[string]any
	json.Unmarshal(raw, &decoded)
	for _, in := range []any{decoded, id} {
		r, err := f.v.VerifyToken(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if r.Format != FormatVCCOSE || r.Issuer != p.did {
			t.Fatalf("verified %+v", r)
		}
	}
	// A vc+jwt envelope goes to the credentials.Verifier.
	tok, _ := credentials.SignJWT(credentialDoc(p.did), credentials.TypVCJWT, p.kid, p.key)
	if r, err := f.v.VerifyToken(ctx, credentials.Envelope(tok, credentials.MediaTypeVCJWT)); err != nil || r.Format != credentials.TypVCJWT {
		t.Fatalf("vc+jwt envelope: %+v %v", r, err)
	}
	b64 := base64.StdEncoding.EncodeToString(data)
	bad := []struct {
		name string
		in   any
		want error
	}{
		{"no base64 flag", "data:application/vc+cose," + b64, credentials.ErrInvalid},
		{"another parameter", "data:application/vc+cose;charset=utf-8," + b64, credentials.ErrInvalid},
		{"url-safe base64", "data:application/vc+cose;base64," + base64.RawURLEncoding.EncodeToString(data), credentials.ErrInvalid},
		{"empty", "data:application/vc+cose;base64,", credentials.ErrInvalid},
		{"presentation media type", "data:application/vp+cose;base64," + b64, credentials.ErrUnsupported},
		{"presentation envelope type", map[string]any{"@context": credentials.ContextV2, "type": "EnvelopedVerifiablePresentation", "id": id}, credentials.ErrInvalid},
		{"no context", map[string]any{"type": credentials.TypeEnvelopedCredential, "id": id}, credentials.ErrInvalid},
		{"content not COSE", "data:application/vc+cose;base64," + base64.StdEncoding.EncodeToString([]byte("{}")), ErrMalformed},
	}
	for _, c := range bad {
		if _, err := f.v.VerifyToken(ctx, c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// The single-string @context of the data model is accepted.
	single := map[string]any{"@context": credentials.ContextV2, "type": credentials.TypeEnvelopedCredential, "id": id}
	if _, err := f.v.VerifyToken(ctx, single); err != nil {
		t.Fatal(err)
	}
}

// TestPresentation: a holder secures a presentation as vp+cose carrying
// an enveloped vc+cose issued to it; the verifier checks the holder's
// signature, challenge, domain, iat and the credential's binding.
func TestPresentation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	is, holder := f.parties["SM2"], f.parties["ES256"]
	doc := credentialDoc(is.did)
	doc["credentialSubject"].(map[string]any)["id"] = holder.did
	vc, _ := SignCredential(doc, is.kid, is.key)
	vp := map[string]any{
		"@context": []any{credentials.ContextV2}, "type": "VerifiablePresentation", "holder": holder.did,
		"verifiableCredential": []any{Envelope(vc, MediaTypeVC)},
	}
	opts := credentials.PresentOptions{Challenge: "n-0S6_WzA2Mj", Domain: "https://rp.example", IssuedAt: testNow.Add(-time.Minute)}
	data, err := SignPresentation(vp, holder.kid, opts, holder.key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.v.VerifyPresentation(ctx, data, opts.Challenge, opts.Domain)
	if err != nil {
		t.Fatal(err)
	}
	if res.Holder != holder.did || len(res.Credentials) != 1 || res.Credentials[0].Format != FormatVCCOSE {
		t.Fatalf("result %+v", res)
	}
	if _, err := f.v.VerifyPresentation(ctx, data, "other", opts.Domain); !errors.Is(err, credentials.ErrChallenge) {
		t.Fatalf("wrong challenge: %v", err)
	}
	if _, err := f.v.VerifyPresentation(ctx, data, opts.Challenge, "https://other.example"); !errors.Is(err, credentials.ErrChallenge) {
		t.Fatalf("wrong domain: %v", err)
	}
	// Signed with a key of another DID than the holder.
	if data, err := SignPresentation(vp, is.kid, opts, is.key); err == nil {
		if _, err := f.v.VerifyPresentation(ctx, data, opts.Challenge, opts.Domain); !errors.Is(err, credentials.ErrIssuerMismatch) {
			t.Fatalf("kid of another DID: %v", err)
		}
	}
	// A verifier without a challenge and domain verifies nothing, even a
	// presentation made for none.
	blank := map[string]any{"nonce": "", "aud": "", "iat": opts.IssuedAt.Unix()}
	for k, x := range vp {
		blank[k] = x
	}
	if data, err := Sign(blank, MediaTypeVP, holder.kid, holder.key); err != nil {
		t.Fatal(err)
	} else if _, err := f.v.VerifyPresentation(ctx, data, "", ""); !errors.Is(err, credentials.ErrChallenge) {
		t.Fatalf("no challenge nor domain: %v", err)
	}
	// Signed under the holder's kid by another key.
	if data, err := SignPresentation(vp, holder.kid, opts, newKey(t, "ES256")); err != nil {
		t.Fatal(err)
	} else if _, err := f.v.VerifyPresentation(ctx, data, opts.Challenge, opts.Domain); !errors.Is(err, ErrSignature) {
		t.Fatalf("signature by another key: %v", err)
	}
	// Old presentation.
	old := opts
	old.IssuedAt = testNow.Add(-time.Hour)
	data, _ = SignPresentation(vp, holder.kid, old, holder.key)
	if _, err := f.v.VerifyPresentation(ctx, data, opts.Challenge, opts.Domain); !errors.Is(err, credentials.ErrExpired) {
		t.Fatalf("old presentation: %v", err)
	}
	// A credential of someone else.
	doc["credentialSubject"].(map[string]any)["id"] = "did:example:someone-else"
	vc2, _ := SignCredential(doc, is.kid, is.key)
	vp["verifiableCredential"] = []any{Envelope(vc2, MediaTypeVC)}
	data, _ = SignPresentation(vp, holder.kid, opts, holder.key)
	if _, err := f.v.VerifyPresentation(ctx, data, opts.Challenge, opts.Domain); !errors.Is(err, credentials.ErrHolderMismatch) {
		t.Fatalf("credential of another subject: %v", err)
	}
	// A vp+cose is not a vc+cose.
	if _, err := f.v.VerifyCredential(ctx, data); !errors.Is(err, ErrType) {
		t.Fatalf("vp+cose as a credential: %v", err)
	}
}

// TestCOSEWGExamples verifies the COSE Working Group's published Sign1
// examples (testdata/cose-wg-sign1.json): ES256 (the RFC 9052 key "11")
// and ES384 pass; the negative examples (protected header not a bstr, not
// a map, duplicate labels in either header) are refused as malformed.
func TestCOSEWGExamples(t *testing.T) {
	raw, err := os.ReadFile("testdata/cose-wg-sign1.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Title, Alg, Crv, X, Y, CBORHex string
			ShouldVerify                   bool
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) != 6 {
		t.Fatalf("%d vectors", len(file.Vectors))
	}
	for _, v := range file.Vectors {
		data, _ := hex.DecodeString(v.CBORHex)
		curve := elliptic.P256()
		if v.Crv == "P-384" {
			curve = elliptic.P384()
		}
		x, _ := base64.RawURLEncoding.DecodeString(v.X)
		y, _ := base64.RawURLEncoding.DecodeString(v.Y)
		pub := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		msg, alg, err := decode(data, []Algorithm{AlgES256, AlgES384})
		if !v.ShouldVerify {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: got %v, want malformed", v.Title, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", v.Title, err)
		}
		if alg.String() != v.Alg || string(msg.Payload) != "This is the content." {
			t.Fatalf("%s: alg %v payload %q", v.Title, alg, msg.Payload)
		}
		if err := verifySign1(msg, alg, pub); err != nil {
			t.Fatalf("%s: %v", v.Title, err)
		}
		data[len(data)-1] ^= 1
		msg, alg, _ = decode(data, []Algorithm{AlgES256, AlgES384})
		if err := verifySign1(msg, alg, pub); !errors.Is(err, ErrSignature) {
			t.Fatalf("%s with a flipped signature bit: %v", v.Title, err)
		}
	}
}

// TestSignToken: the base64 text SignToken returns, behind the data: URL
// prefix, is an enveloped id VerifyToken accepts.
func TestSignToken(t *testing.T) {
	f := newFixture(t)
	p := f.parties["SM2"]
	tok, err := SignToken(credentialDoc(p.did), p.kid, p.key)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.v.VerifyToken(context.Background(), "data:"+MediaTypeVC+";base64,"+tok)
	if err != nil || r.Issuer != p.did {
		t.Fatalf("%+v %v", r, err)
	}
}
