package credentials

import (
	"context"
	"errors"
	"testing"

	"github.com/trustid-cn/trustid/gm"
)

func TestPresentationJWT(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	vc := mustIssue(t, n, sampleCredential(), IssueOptions{Algorithm: gm.AlgSM2})
	sd := mustIssue(t, n, identityRequest(t, n), IssueOptions{Format: FormatSDJWT})
	for _, alg := range allAlgs {
		holder, did := holderKey(t, alg)
		vp := map[string]any{
			"@context":             []any{ContextV2},
			"type":                 []any{"VerifiablePresentation"},
			"holder":               did,
			"verifiableCredential": []any{vc.Envelope(), sd.Envelope()},
		}
		kid := did + "#" + did[len("did:key:"):]
		tok, err := SignPresentation(vp, kid, "challenge-1", "https://rp.example", holder)
		if err != nil {
			t.Fatal(err)
		}
		res, err := n.verifier.VerifyPresentation(ctx, tok, "challenge-1", "https://rp.example")
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if res.Holder != did || len(res.Credentials) != 2 || res.Credentials[1].Format != "dc+sd-jwt" {
			t.Fatalf("%+v", res)
		}
		if _, err := n.verifier.VerifyPresentation(ctx, tok, "challenge-2", "https://rp.example"); !errors.Is(err, ErrChallenge) {
			t.Errorf("wrong challenge: %v", err)
		}
		if _, err := n.verifier.VerifyPresentation(ctx, tok, "challenge-1", "https://evil.example"); !errors.Is(err, ErrChallenge) {
			t.Errorf("wrong domain: %v", err)
		}
		// A key that the holder does not control.
		_, otherDID := holderKey(t, alg)
		vp["holder"] = otherDID
		tok2, _ := SignPresentation(vp, kid, "challenge-1", "", holder)
		if _, err := n.verifier.VerifyPresentation(ctx, tok2, "challenge-1", ""); !errors.Is(err, ErrIssuerMismatch) {
			t.Errorf("holder mismatch: %v", err)
		}
	}
	// An unsecured credential inside a presentation.
	holder, did := holderKey(t, gm.AlgEdDSA)
	vp := map[string]any{"@context": []any{ContextV2}, "type": "VerifiablePresentation", "holder": did,
		"verifiableCredential": []any{sampleCredential()}}
	tok, _ := SignPresentation(vp, did+"#"+did[len("did:key:"):], "", "", holder)
	if _, err := n.verifier.VerifyPresentation(ctx, tok, "", ""); !errors.Is(err, ErrInvalidPresentation) {
		t.Errorf("unsecured credential: %v", err)
	}
	// A vc+jwt is not a presentation.
	if _, err := n.verifier.VerifyPresentation(ctx, vc.Token, "", ""); !errors.Is(err, ErrType) {
		t.Errorf("vc+jwt as presentation: %v", err)
	}
}
