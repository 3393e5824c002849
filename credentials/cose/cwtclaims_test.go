package cose

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
)

// TestCWTClaims: VC-JOSE-COSE §3.3.3 (COSE Header Parameters and CWT
// Claims): "CBOR Web Token (CWT) [RFC8392] Claims MAY be included in a
// COSE header parameter, as specified in [CWT Claims in COSE Headers]",
// and "The normative statements in ... [RFC 8392 §3] Claims, and CBOR Web
// Token (CWT) Claims in COSE Headers apply to securing credentials and
// presentations". RFC 8392 §3.1.4: exp "requires that the current
// date/time MUST be before the expiration date/time"; §3.1.5: nbf "that
// the current date/time MUST be after or equal to the not-before
// date/time". VC-JOSE-COSE §4.1.2: iss, "if present, MUST match issuer".
// A vc+cose or vp+cose whose CWT Claims header parameter (label 15) said
// its signature had expired, was not valid yet or was another issuer's
// verified; claims that are no CWT claims are malformed. Claims not
// understood are ignored, and a message within its times verifies.
func TestCWTClaims(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	es := f.parties["ES256"]
	payload, _ := json.Marshal(credentialDoc(es.did))
	with := func(claims any, protected bool) []byte {
		h := vcHeaders(AlgES256, es.kid)
		if !protected {
			return handSign1(t, h, map[int64]any{15: claims}, payload, es.key, AlgES256)
		}
		h[15] = claims
		return handSign1(t, h, nil, payload, es.key, AlgES256)
	}
	past, future := testNow.Add(-time.Hour).Unix(), testNow.Add(time.Hour).Unix()
	for _, c := range []struct {
		name   string
		claims any
		want   error
	}{
		{"exp ahead, nbf and iat past, iss the issuer", map[any]any{int64(1): es.did, int64(4): future, int64(5): past, int64(6): past}, nil},
		{"exp as a float", map[any]any{int64(4): float64(future) + 0.5}, nil},
		{"claims not understood", map[any]any{int64(8): map[any]any{int64(1): "x"}, "name": "x", int64(-70000): 1}, nil},
		{"exp passed", map[any]any{int64(4): past}, credentials.ErrExpired},
		{"exp now", map[any]any{int64(4): testNow.Unix()}, credentials.ErrExpired},
		{"nbf ahead", map[any]any{int64(5): future}, credentials.ErrNotYetValid},
		{"iss another", map[any]any{int64(1): "did:example:other"}, credentials.ErrIssuerMismatch},
		{"iss not text", map[any]any{int64(1): []byte(es.did)}, ErrMalformed},
		{"exp not a number", map[any]any{int64(4): "tomorrow"}, ErrMalformed},
		{"exp negative", map[any]any{int64(4): int64(-1)}, ErrMalformed},
		{"exp infinite", map[any]any{int64(4): math.Inf(1)}, ErrMalformed},
		{"claims not a map", []any{int64(4), future}, ErrMalformed},
	} {
		for _, protected := range []bool{true, false} {
			_, err := f.v.VerifyCredential(ctx, with(c.claims, protected))
			if !errors.Is(err, c.want) && (c.want != nil || err != nil) {
				t.Errorf("%s (protected %v): %v, want %v", c.name, protected, err, c.want)
			}
		}
	}

	// A vp+cose's exp and nbf likewise (its iss is not compared: the
	// holder signs).
	holder := f.parties["SM2"]
	doc := credentialDoc(es.did)
	doc["credentialSubject"].(map[string]any)["id"] = holder.did
	vc, err := SignCredential(doc, es.kid, es.key)
	if err != nil {
		t.Fatal(err)
	}
	const challenge, domain = "n-cwt", "https://rp.example"
	vp, _ := json.Marshal(map[string]any{
		"@context": []any{credentials.ContextV2}, "type": "VerifiablePresentation", "holder": holder.did,
		"verifiableCredential": []any{Envelope(vc, MediaTypeVC)},
		"nonce":                challenge, "aud": domain, "iat": testNow.Add(-time.Minute).Unix(),
	})
	for _, c := range []struct {
		name   string
		claims map[any]any
		want   error
	}{
		{"exp ahead", map[any]any{int64(4): future}, nil},
		{"exp passed", map[any]any{int64(4): past}, credentials.ErrExpired},
		{"nbf ahead", map[any]any{int64(5): future}, credentials.ErrNotYetValid},
	} {
		h := map[int64]any{1: int64(AlgSM2), 3: ContentTypeVP, 4: []byte(holder.kid), 16: MediaTypeVP, 15: c.claims}
		_, err := f.v.VerifyPresentation(ctx, handSign1(t, h, nil, vp, holder.key, AlgSM2), challenge, domain)
		if !errors.Is(err, c.want) && (c.want != nil || err != nil) {
			t.Errorf("vp+cose, %s: %v, want %v", c.name, err, c.want)
		}
	}
}
