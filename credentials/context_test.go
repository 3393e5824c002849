package credentials_test

import (
	"context"
	"errors"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/gm"
)

// TestContextCheck: with VerifierConfig.ContextCheck (and
// issuer.Config.ContextCheck) set to jsonld.CheckInlineContexts, a vc+jwt
// or vp+jwt whose context redefines a protected term is refused after its
// signature; without it, as before, it is not.
func TestContextCheck(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	evil := []any{ContextV2, map[string]any{"name": "https://evil.example/name"}}
	checking, err := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: &Resolver{Local: n.issuer.Local(), Now: n.clock.Now},
		Status: n.checker, Now: n.clock.Now, ContextCheck: jsonld.CheckInlineContexts})
	if err != nil {
		t.Fatal(err)
	}
	c := sampleCredential()
	c["@context"] = evil
	iss := mustIssue(t, n, c, issuer.IssueOptions{})
	if _, err := n.verifier.VerifyCredential(ctx, iss.Token); err != nil {
		t.Fatalf("without ContextCheck: %v", err)
	}
	if _, err := checking.VerifyCredential(ctx, iss.Token); !errors.Is(err, jsonld.ErrProtectedTerm) {
		t.Errorf("vc+jwt: %v", err)
	}
	// The same redefinition in a context nested in credentialSubject.
	nested := sampleCredential()
	nested["credentialSubject"].(map[string]any)["@context"] = map[string]any{"name": "https://evil.example/name"}
	if _, err := checking.VerifyCredential(ctx, mustIssue(t, n, nested, issuer.IssueOptions{}).Token); !errors.Is(err, jsonld.ErrProtectedTerm) {
		t.Errorf("vc+jwt, nested @context: %v", err)
	}
	strict, err := issuer.New(issuer.Config{BaseURL: testBase, Keys: n.keys, Status: n.status, Now: n.clock.Now, ContextCheck: jsonld.CheckInlineContexts})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Issue(ctx, c, issuer.IssueOptions{}); !errors.Is(err, jsonld.ErrProtectedTerm) {
		t.Errorf("issue: %v", err)
	}

	holder, did := holderKey(t, gm.AlgEdDSA)
	vp := map[string]any{"@context": evil, "type": []any{"VerifiablePresentation"}, "holder": did,
		"verifiableCredential": []any{mustIssue(t, n, holderCredential(did), issuer.IssueOptions{}).Envelope()}}
	tok, err := SignPresentation(vp, did+"#"+did[len("did:key:"):], PresentOptions{Challenge: "c-1", Domain: "https://rp.example", IssuedAt: n.clock.Now()}, holder)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.verifier.VerifyPresentation(ctx, tok, "c-1", "https://rp.example"); err != nil {
		t.Fatalf("vp+jwt without ContextCheck: %v", err)
	}
	if _, err := checking.VerifyPresentation(ctx, tok, "c-1", "https://rp.example"); !errors.Is(err, jsonld.ErrProtectedTerm) {
		t.Errorf("vp+jwt: %v", err)
	}
}
