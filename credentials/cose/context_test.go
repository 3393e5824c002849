package cose

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/jsonld"
)

// TestPresentationContextCheck: a vp+cose whose @context redefines a
// protected term is refused by a verifier whose ContextCheck is
// jsonld.CheckInlineContexts, after its signature, as a vp+jwt is
// (credentials.TestContextCheck); without one it verifies.
func TestPresentationContextCheck(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	is, holder := f.parties["SM2"], f.parties["ES256"]
	doc := credentialDoc(is.did)
	doc["credentialSubject"].(map[string]any)["id"] = holder.did
	vc, err := SignCredential(doc, is.kid, is.key)
	if err != nil {
		t.Fatal(err)
	}
	vp := map[string]any{
		"@context": []any{credentials.ContextV2, map[string]any{"name": "https://evil.example/name"}},
		"type":     "VerifiablePresentation", "holder": holder.did,
		"verifiableCredential": []any{Envelope(vc, MediaTypeVC)},
	}
	opts := credentials.PresentOptions{Challenge: "n-ctx", Domain: "https://rp.example", IssuedAt: testNow.Add(-time.Minute)}
	data, err := SignPresentation(vp, holder.kid, opts, holder.key)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return testNow }
	for _, check := range []bool{false, true} {
		cfg := credentials.VerifierConfig{Algorithms: []string{"ES256", "EdDSA", "SM2"}, Resolver: &credentials.Resolver{Now: now},
			Trust: credentials.AnyIssuer{}, SkipStatus: true, Now: now}
		if check {
			cfg.ContextCheck = jsonld.CheckInlineContexts
		}
		cv, err := credentials.NewVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewVerifier(cv, []string{"ES256", "EdDSA", "SM2"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.VerifyPresentation(ctx, data, opts.Challenge, opts.Domain)
		if check && !errors.Is(err, jsonld.ErrProtectedTerm) {
			t.Errorf("with ContextCheck: %v, want %v", err, jsonld.ErrProtectedTerm)
		}
		if !check && err != nil {
			t.Errorf("without ContextCheck: %v", err)
		}
	}
}
